//! The Envoy configurations in `envoy/` as files: each passes `envoy --mode validate` as shipped
//! (which loads the module and runs its `on_configure`, so a bad plugin configuration fails it),
//! the ECDS resource too (validate mode does not read a `config_discovery` file, so it is loaded
//! inline in the bootstrap that watches it), the shipped configurations are the demo's, and an
//! Envoy started with a bad inline configuration refuses to start and names the JSON path.

use crate::harness::{
    Envoy, Exited, Filter, REPO, Upstreams, block_scalar, demo_config, envoy_binary,
    replace_block_scalar, repo_file, serial_blocking,
};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a YAML file in `envoy/` is, from its top-level keys.
#[derive(Debug, PartialEq)]
enum Kind {
    Bootstrap,
    EcdsResource,
    /// Istio/Kubernetes resources (`apiVersion:`): not Envoy configs.
    Kubernetes,
}

fn kind(path: &str, text: &str) -> Kind {
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && !l.trim().is_empty())
        .filter_map(|l| l.split(':').next())
        .collect();
    if keys.contains(&"apiVersion") {
        Kind::Kubernetes
    } else if keys.contains(&"static_resources") || keys.contains(&"dynamic_resources") {
        Kind::Bootstrap
    } else if keys == ["resources"] {
        Kind::EcdsResource
    } else {
        panic!(
            "{path}: neither an Envoy bootstrap, an ECDS resource nor a Kubernetes resource (keys {keys:?}); teach this test what it is"
        )
    }
}

/// Every `*.yaml` under `envoy/`, relative to the repository, sorted.
fn yaml_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read envoy/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&Path::new(REPO).join("envoy"), &mut found);
    let mut files: Vec<String> = found
        .iter()
        .map(|p| {
            p.strip_prefix(REPO)
                .expect("under the repository")
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    files.sort();
    files
}

/// `envoy --mode validate -c <file>`, run from the repository root as the configs expect:
/// whether it passed, and what it said.
fn validate(config: &Path) -> (bool, String) {
    let _serial = serial_blocking();
    let output = Command::new(envoy_binary())
        .args([
            "--mode",
            "validate",
            "--log-level",
            "warning",
            "--component-log-level",
            "wasm:info",
            "-c",
        ])
        .arg(config)
        .current_dir(REPO)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", envoy_binary().display()));
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

/// `text` validated as a file of its own in the test's scratch directory.
fn validate_text(name: &str, text: &str) -> (bool, String) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("validate-{}-{name}", std::process::id()));
    fs::write(&path, text).expect("write a config to validate");
    let verdict = validate(&path);
    let _ = fs::remove_file(&path);
    verdict
}

/// `bootstrap` with the filter whose `config_discovery` reads `resource_path` given the
/// resource's `typed_config` inline instead, as Envoy would apply it.
fn with_resource_inline(bootstrap: &str, resource_path: &str, resource: &str) -> String {
    let lines: Vec<&str> = bootstrap.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines
        .iter()
        .position(|l| l.trim() == "config_discovery:")
        .expect("a filter with config_discovery");
    let k = indent(lines[start]);
    let mut end = start + 1;
    while end < lines.len() && (lines[end].trim().is_empty() || indent(lines[end]) > k) {
        end += 1;
    }
    assert!(
        lines[start..end]
            .iter()
            .any(|l| l.contains(&format!("path: {resource_path}"))),
        "the config_discovery does not read {resource_path}"
    );
    let filter_name = lines[start - 1].trim().trim_start_matches("- name:").trim();

    let r: Vec<&str> = resource.lines().collect();
    let name = r
        .iter()
        .find_map(|l| l.trim().strip_prefix("name: "))
        .expect("the resource's name");
    assert_eq!(
        name, filter_name,
        "the resource's name is the filter's name in the bootstrap"
    );
    let typed = r
        .iter()
        .position(|l| l.trim() == "typed_config:")
        .expect("the resource's typed_config");
    let t = indent(r[typed]);
    let mut typed_end = typed + 1;
    while typed_end < r.len() && (r[typed_end].trim().is_empty() || indent(r[typed_end]) > t) {
        typed_end += 1;
    }
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    for line in &r[typed..typed_end] {
        out.push(if line.trim().is_empty() {
            String::new()
        } else {
            format!("{}{}", " ".repeat(k), &line[t..])
        });
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

/// `envoy/ecds.yaml` with `envoy/ecds/switchyard.yaml` inline, its plugin configuration `config`
/// if given.
fn ecds_inline(config: Option<&str>) -> String {
    let resource = repo_file("envoy/ecds/switchyard.yaml");
    let resource = match config {
        Some(config) => replace_block_scalar(&resource, config),
        None => resource,
    };
    with_resource_inline(
        &repo_file("envoy/ecds.yaml"),
        "envoy/ecds/switchyard.yaml",
        &resource,
    )
}

fn bad_r1() -> String {
    let mut bad: Value = serde_json::from_str(&demo_config("r1")).expect("JSON");
    bad["routes"][0]["canary"]["weight"] = 150.into();
    serde_json::to_string_pretty(&bad).expect("JSON")
}

#[test]
fn every_envoy_config_in_envoy_passes_validate_mode_the_ecds_resource_loaded_inline() {
    let files = yaml_files();
    let mut validated = Vec::new();
    for file in &files {
        let text = repo_file(file);
        match kind(file, &text) {
            Kind::Bootstrap => {
                let (ok, said) = validate(Path::new(file));
                assert!(ok, "{file} fails envoy --mode validate:\n{said}");
                validated.push(file.as_str());
            }
            Kind::EcdsResource => {
                let bootstrap = files
                    .iter()
                    .find(|b| repo_file(b).contains(&format!("path: {file}")))
                    .unwrap_or_else(|| {
                        panic!("no bootstrap in envoy/ reads the ECDS resource {file}")
                    });
                let inline = with_resource_inline(&repo_file(bootstrap), file, &text);
                let (ok, said) = validate_text("ecds-inline.yaml", &inline);
                assert!(
                    ok,
                    "{file}, inline in {bootstrap}, fails envoy --mode validate:\n{said}\n{inline}"
                );
                validated.push(file.as_str());
            }
            Kind::Kubernetes => {}
        }
    }
    for expected in [
        "envoy/envoy.yaml",
        "envoy/ecds.yaml",
        "envoy/ecds/switchyard.yaml",
    ] {
        assert!(
            validated.contains(&expected),
            "{expected} was not validated: {validated:?}"
        );
    }
}

#[test]
fn validate_mode_judges_the_plugin_configuration_so_the_demo_configurations_pass_and_a_bad_one_fails()
 {
    for name in ["r1", "r2", "r3"] {
        let (ok, said) = validate_text(
            &format!("{name}.yaml"),
            &ecds_inline(Some(&demo_config(name))),
        );
        assert!(
            ok,
            "envoy/demo/{name}.json fails envoy --mode validate:\n{said}"
        );
    }
    let (ok, said) = validate_text("bad.yaml", &ecds_inline(Some(&bad_r1())));
    assert!(
        !ok,
        "a canary weight of 150 passed envoy --mode validate:\n{said}"
    );
    assert!(
        said.contains("routes[0].canary.weight"),
        "the output names the JSON path:\n{said}"
    );
}

#[test]
fn the_shipped_configs_hold_the_demo_configuration_r1() {
    let r1: Value = serde_json::from_str(&demo_config("r1")).expect("r1 is JSON");
    for file in ["envoy/envoy.yaml", "envoy/ecds/switchyard.yaml"] {
        let inline: Value = serde_json::from_str(&block_scalar(&repo_file(file)))
            .unwrap_or_else(|e| panic!("{file}: the plugin configuration is not JSON: {e}"));
        assert_eq!(inline, r1, "{file} and envoy/demo/r1.json differ");
    }
}

#[tokio::test]
async fn envoy_refuses_to_start_with_a_bad_inline_configuration_and_its_log_names_the_json_path() {
    let upstreams = Upstreams::start().await;
    let bad = bad_r1();
    match Envoy::try_start(&upstreams, Filter::Static(Some(&bad))).await {
        Ok(envoy) => panic!(
            "Envoy started with a canary weight of 150:\n{}",
            envoy.log()
        ),
        Err(Exited { status, log }) => {
            assert!(!status.success(), "Envoy exited with {status}");
            let line = log
                .lines()
                .find(|l| l.contains("routes[0].canary.weight"))
                .unwrap_or_else(|| panic!("the log names routes[0].canary.weight:\n{log}"));
            assert!(line.contains("150"), "and the offending value: {line}");
        }
    }
}
