//! `switchyard push CONFIG --ecds FILE [--admin URL] [--allow-unsafe]`: check, diff against what
//! FILE holds now (an unsafe change is refused, exit 3), write the ECDS resource next to FILE and
//! rename it over FILE (Envoy only notices a rename into the directory it watches, and never
//! reads a half-written file), and with `--admin` wait for Envoy's verdict.

use super::{INVALID, UNSAFE, USAGE};
use crate::plan::Plan;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// The ECDS resource file Envoy watches (`path_config_source`).
    #[arg(long, value_name = "FILE")]
    ecds: PathBuf,
    /// Envoy's admin address, e.g. http://127.0.0.1:9901: wait until Envoy applies or rejects it.
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
    /// Push even an unsafe change (users moving back from the canary, or changing variant).
    #[arg(long)]
    allow_unsafe: bool,
    /// The filter's name in the bootstrap, also the resource's.
    #[arg(long, default_value = "switchyard")]
    name: String,
    /// The module's path as Envoy opens it (relative to Envoy's working directory).
    #[arg(long, default_value = "dist/switchyard.wasm")]
    wasm: String,
    /// Seconds to wait for Envoy's verdict with --admin.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The instant the diff is evaluated at (ramps, `switch_at`), RFC 3339; default now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// One JSON document on stdout instead of text: `{"revision", "pushed", "verdict"}`.
    #[arg(long)]
    json: bool,
}

/// The line that opens the configuration's block scalar in the resource, and its indent.
const VALUE: &str = "        value: |";
const INDENT: usize = 10;

/// The ECDS resource carrying `config`, as `envoy/ecds/switchyard.yaml` shows it.
pub fn resource(config: &str, name: &str, wasm: &str) -> String {
    let mut out = format!(
        "# Switchyard's filter configuration, delivered by ECDS. Written by `switchyard push`, which\n\
         # renames a new file over this one to push a configuration.\n\
         resources:\n\
         - \"@type\": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n  name: {name}\n  typed_config:\n    \
         \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n    config:\n      name: {name}\n      \
         vm_config:\n        runtime: envoy.wasm.runtime.v8\n        code: {{ local: {{ filename: {} }} }}\n      \
         configuration:\n        \"@type\": type.googleapis.com/google.protobuf.StringValue\n{VALUE}\n",
        serde_json::Value::from(wasm)
    );
    for line in config.trim_matches('\n').lines() {
        out.push_str(format!("{:INDENT$}{line}", "").trim_end());
        out.push('\n');
    }
    out
}

/// The configuration a resource written by `resource` (and `envoy/ecds/switchyard.yaml`) carries.
pub fn configuration_in(resource: &str) -> Option<String> {
    let mut lines = resource.lines().skip_while(|l| l.trim_end() != VALUE);
    lines.next()?;
    let mut config = String::new();
    for line in lines {
        if !line.trim().is_empty() && !line.starts_with(&" ".repeat(INDENT)) {
            break;
        }
        config.push_str(line.get(INDENT..).unwrap_or(""));
        config.push('\n');
    }
    Some(config)
}

fn fail(message: String, code: u8) -> u8 {
    eprintln!("switchyard push: {message}");
    code
}

pub fn run(args: &Args) -> u8 {
    let at_ms = match super::instant(args.at.as_deref()) {
        Ok(ms) => ms,
        Err(message) => return fail(message, USAGE),
    };
    let text = match super::read(&args.config) {
        Ok(bytes) => bytes,
        Err(message) => return fail(message, USAGE),
    };
    let new = match crate::config::load(&text) {
        Ok(plan) => plan,
        Err(problems) => {
            super::report_problems(&args.config, &problems);
            return INVALID;
        }
    };
    let Ok(text) = String::from_utf8(text) else {
        return fail("the configuration is not UTF-8".into(), INVALID);
    };
    // With a line that begins with a space, a YAML block scalar would read it differently.
    if text.trim_matches('\n').starts_with(' ') || text.chars().any(|c| c.is_control() && c != '\n')
    {
        return fail(
            "write the configuration without leading spaces on its first line and without tabs or control characters, so that it travels verbatim".into(),
            USAGE,
        );
    }
    if let Some(code) = refuse_unsafe(args, &new, at_ms) {
        return code;
    }
    let before = match &args.admin {
        Some(admin) => match ecds_stats(admin, &args.name) {
            Ok(stats) => Some(stats),
            Err(e) => return fail(format!("Envoy's admin at {admin}: {e}"), USAGE),
        },
        None => None,
    };
    let content = resource(&text, &args.name, &args.wasm);
    let revision = crate::config::q(&new.revision);
    let report = |pushed: bool, verdict: Option<&str>| {
        if args.json {
            let doc = serde_json::json!({"revision": &*new.revision, "pushed": pushed, "verdict": verdict});
            println!("{doc}");
        }
    };
    if std::fs::read_to_string(&args.ecds).is_ok_and(|now| now == content) {
        if !args.json {
            println!(
                "{} already holds revision {revision}; nothing to push",
                args.ecds.display()
            );
        }
        report(false, None);
        return 0;
    }
    if let Err(e) = write_atomically(&args.ecds, &content) {
        return fail(format!("cannot write {}: {e}", args.ecds.display()), USAGE);
    }
    if !args.json {
        println!("pushed revision {revision} to {}", args.ecds.display());
    }
    let code = match (&args.admin, before) {
        (Some(admin), Some(before)) => {
            await_verdict(admin, &args.name, &before, args.timeout, args.json)
        }
        _ => 0,
    };
    let verdict = match (&args.admin, code) {
        (None, _) => None,
        (Some(_), 0) => Some("applied"),
        (Some(_), INVALID) => Some("rejected"),
        (Some(_), _) => Some("unknown"),
    };
    report(true, verdict);
    code
}

/// The diff against what the ECDS file holds now: Some(exit code) when the push stops here.
fn refuse_unsafe(args: &Args, new: &Plan, at_ms: i64) -> Option<u8> {
    let current = std::fs::read_to_string(&args.ecds).ok()?;
    let Some(live) =
        configuration_in(&current).and_then(|c| crate::config::load(c.as_bytes()).ok())
    else {
        eprintln!(
            "switchyard push: {} holds no configuration this tool can read; pushing without a diff",
            args.ecds.display()
        );
        return None;
    };
    let routes = super::diff::diff(&live, new, at_ms);
    let unsafe_routes: Vec<&str> = routes
        .iter()
        .filter(|r| r.is_unsafe())
        .map(|r| r.route.as_str())
        .collect();
    if unsafe_routes.is_empty() {
        return None;
    }
    let routes = unsafe_routes.join(", ");
    if args.allow_unsafe {
        eprintln!("switchyard push: unsafe for route(s) {routes}, pushed anyway (--allow-unsafe)");
        return None;
    }
    Some(fail(
        format!(
            "unsafe: on route(s) {routes} users would move back from the canary or change variant; \
             see `switchyard diff`, and give --allow-unsafe for a deliberate rollback"
        ),
        UNSAFE,
    ))
}

fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ecds.yaml");
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(content.as_bytes())?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A GET to Envoy's admin: the body of a 200.
pub fn admin_get(admin: &str, path: &str) -> Result<String, String> {
    let address = admin
        .strip_prefix("http://")
        .ok_or_else(|| format!("{admin}: give an http:// URL"))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("no answer").to_string());
    }
    // Envoy's admin answers in one piece (Content-Length) or chunked; either way, its lines.
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok(if chunked {
        dechunk(body)
    } else {
        body.to_string()
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(rest.get(..size).unwrap_or(rest));
        body = rest.get(size + 2..).unwrap_or("");
    }
    out
}

/// Counters `name: value` of `/stats` whose names start with `prefix`.
pub fn stats(admin: &str, prefix: &str) -> Result<Vec<(String, u64)>, String> {
    let body = admin_get(
        admin,
        &format!("/stats?filter=^{}", prefix.replace('.', "\\.")),
    )?;
    Ok(body
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .filter(|(name, _)| name.starts_with(prefix))
        .collect())
}

fn ecds_stats(admin: &str, name: &str) -> Result<Vec<(String, u64)>, String> {
    stats(
        admin,
        &format!("extension_config_discovery.http_filter.{name}."),
    )
}

fn await_verdict(
    admin: &str,
    name: &str,
    before: &[(String, u64)],
    timeout_s: f64,
    quiet: bool,
) -> u8 {
    let deadline = Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
    let get = |stats: &[(String, u64)], stat: &str| {
        stats
            .iter()
            .find(|(n, _)| n.ends_with(&format!(".{stat}")))
            .map_or(0, |(_, v)| *v)
    };
    loop {
        let now = match ecds_stats(admin, name) {
            Ok(now) => now,
            Err(e) => return fail(format!("Envoy's admin at {admin}: {e}"), USAGE),
        };
        let grew = |stat: &str| get(&now, stat) > get(before, stat);
        // Envoy 1.40 counts a rejected update in config_reload too, with config_fail.
        if grew("config_fail") || grew("update_rejected") {
            return fail(
                "Envoy rejected it (config_fail); the previous configuration keeps serving. Envoy's log names each problem".into(),
                INVALID,
            );
        }
        if grew("config_reload") {
            if quiet {
                return 0;
            }
            println!(
                "Envoy applied it (config_reload {} → {})",
                get(before, "config_reload"),
                get(&now, "config_reload")
            );
            return 0;
        }
        if Instant::now() > deadline {
            return fail(
                format!(
                    "Envoy reported nothing within {timeout_s} s: is it watching {name} in this directory?"
                ),
                USAGE,
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_carries_the_configuration_verbatim_and_gives_it_back() {
        let config = "{\n  \"revision\": \"r1\",\n  \"routes\": []\n}\n";
        let written = resource(config, "switchyard", "dist/switchyard.wasm");
        assert_eq!(configuration_in(&written).unwrap().trim(), config.trim());
        let shipped = std::fs::read_to_string("envoy/ecds/switchyard.yaml").unwrap();
        let inside = configuration_in(&shipped).unwrap();
        assert!(crate::config::load(inside.as_bytes()).is_ok(), "{inside}");
    }

    #[test]
    fn chunked_admin_bodies_are_read_whole() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
