//! The operator's command line (`switchyard`), the second skin beside `filter/`: the same reader,
//! compiler and engine as the module, so what it says is what the proxy does. The contract is
//! `spec/CLI.md`; exit codes 0 (done, valid), 1 (invalid configuration), 2 (usage or I/O),
//! 3 (an unsafe change).

pub mod diff;
pub mod explain;
pub mod push;
pub mod status;

use crate::config::{self, Problem};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes of every subcommand.
pub const INVALID: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNSAFE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Check Switchyard configurations and explain what the proxy decides, with the engine the proxy runs",
    after_help = "Exit codes: 0 done (for check: valid), 1 invalid configuration, 2 usage or I/O error, 3 unsafe change (diff)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every problem of each configuration with its JSON path (`-` reads stdin).
    Check {
        #[arg(required = true, value_name = "CONFIG")]
        files: Vec<PathBuf>,
        /// One JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The headers the module would write on one request, and why.
    Explain(explain::Args),
    /// What pushing NEW over OLD does to users: shares moving between targets, exactly.
    Diff(diff::Args),
    /// Check, diff against what Envoy has, push atomically over ECDS, and wait for Envoy.
    Push(push::Args),
    /// What the filter is doing, per route, from Envoy's admin stats.
    Status(status::Args),
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; everything else clap rejects is usage.
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Check { files, json } => check(&files, json),
        Command::Explain(args) => explain::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Push(args) => push::run(&args),
        Command::Status(args) => status::run(&args),
    };
    ExitCode::from(code)
}

/// `--at`: Unix milliseconds of an RFC 3339 instant, or now; the message for exit code 2.
pub(crate) fn instant(at: Option<&str>) -> Result<i64, String> {
    match at {
        Some(at) => crate::time::parse_rfc3339(at).map_err(|why| format!("--at {at:?}: {why}")),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
    }
}

/// A configuration file's bytes (`-`: stdin), or the message for exit code 2.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map(|()| bytes)
        .map_err(|e| format!("switchyard: cannot read {}: {e}", path.display()))
}

/// The plan in `path`, or the exit code after saying why not: 2 when unreadable, 1 with one
/// `PATH: message` line per problem on stderr, as the module logs them.
pub(crate) fn load(path: &Path) -> Result<crate::plan::Plan, u8> {
    let bytes = read(path).map_err(|message| {
        eprintln!("{message}");
        USAGE
    })?;
    config::load(&bytes).map_err(|problems| {
        report_problems(path, &problems);
        INVALID
    })
}

pub(crate) fn report_problems(path: &Path, problems: &[Problem]) {
    eprintln!(
        "{}: invalid, {} problem{}; fix each at its path:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        eprintln!("{problem}");
    }
}

fn check(files: &[PathBuf], json: bool) -> u8 {
    let mut code = 0;
    let mut documents = Vec::new();
    for path in files {
        let bytes = match read(path) {
            Ok(bytes) => bytes,
            Err(message) => {
                eprintln!("{message}");
                return USAGE;
            }
        };
        let shown = path.display().to_string();
        match config::load(&bytes) {
            Ok(plan) => {
                if json {
                    documents.push(serde_json::json!({
                        "file": shown, "valid": true, "revision": &*plan.revision,
                        "summary": plan.summary(), "problems": []
                    }));
                } else {
                    println!(
                        "{shown}: valid, revision {}: {}",
                        config::q(&plan.revision),
                        plan.summary()
                    );
                }
            }
            Err(problems) => {
                code = INVALID;
                if json {
                    let listed: Vec<_> = problems
                        .iter()
                        .map(|p| serde_json::json!({"path": p.path, "message": p.message}))
                        .collect();
                    documents.push(serde_json::json!({
                        "file": shown, "valid": false, "problems": listed
                    }));
                }
                report_problems(path, &problems);
            }
        }
    }
    if json {
        println!("{}", serde_json::json!({ "files": documents }));
    }
    code
}
