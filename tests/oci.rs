//! What Istio is handed: the module as an OCI image in the Wasm image format a `WasmPlugin`
//! pulls (`make oci`, `tools/wasm-oci`), and the sample resources in `envoy/istio/`.
//!
//! The image goes through a real registry: Debian's `docker-registry` on loopback, with skopeo
//! pushing the local layout and pulling it back into another one. The module that comes out must
//! be byte-identical, in the shape Istio's image fetcher accepts (one `tar+gzip` layer, the last,
//! holding `plugin.wasm`), and the registry must serve the manifest digest the packer printed,
//! since that is what `WasmPlugin.spec.sha256` pins.
//!
//! Needs skopeo, docker-registry and python3 with PyYAML, which `make oci-tools` installs (`make
//! test` does it first). A missing tool fails the test rather than skipping it.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WASM: &str = "dist/switchyard.wasm";
const PACKER: &str = "tools/wasm-oci";
const ISTIO_DIR: &str = "envoy/istio";
const TAG: &str = "0.0.0-test";

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The program `name` on PATH (or in /usr/sbin, /usr/bin); a missing one fails the test.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: `make oci-tools` installs skopeo, docker-registry and PyYAML")
        })
}

/// Runs a command to completion; any failure fails the test with its output.
fn run(command: &mut Command) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8(run(command).stdout).unwrap()
}

/// A directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("switchyard-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Debian's docker-registry serving on 127.0.0.1, storage in a scratch directory. Dropping it
/// kills the registry, also when the test fails half-way.
struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    fn start(scratch: &Scratch) -> Registry {
        let binary = tool("docker-registry");
        // The port is free when we look; should another process take it before the registry
        // binds it, the registry exits and we try another one.
        let mut failures = Vec::new();
        for attempt in 0..3 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = scratch.path(&format!("registry-{attempt}.yml"));
            let log = scratch.path(&format!("registry-{attempt}.log"));
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log: {{ level: error, accesslog: {{ disabled: true }} }}\n\
                     storage: {{ filesystem: {{ rootdirectory: {} }} }}\n\
                     http: {{ addr: \"127.0.0.1:{port}\", secret: switchyard-test }}\n",
                    scratch.path("registry").display()
                ),
            )
            .unwrap();
            let mut command = Command::new(&binary);
            command
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(&log).unwrap());
            // Settings in the environment would override the file.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("REGISTRY_") {
                    command.env_remove(key);
                }
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut registry = Registry { child, port, log };
            match registry.wait_ready(Duration::from_secs(15)) {
                Ok(()) => return registry,
                Err(why) => failures.push(format!("port {port}: {why}\n{}", registry.log_text())),
            }
        }
        panic!("docker-registry did not start:\n{}", failures.join("\n"));
    }

    /// Until `GET /v2/` answers 200, the registry exits, or time runs out.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}"));
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut answer = String::new();
                if stream
                    .write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    .is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.split_whitespace().nth(1) == Some("200")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on {address} within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn reference(&self, tag: &str) -> String {
        format!("docker://127.0.0.1:{}/switchyard:{tag}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_hex(path: &Path) -> String {
    let line = stdout(Command::new(tool("sha256sum")).arg(path));
    line.split_whitespace().next().unwrap().to_owned()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The blob a descriptor names, after checking that its content has that digest and size.
fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().unwrap();
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not sha256: {digest}"));
    let path = layout.join("blobs/sha256").join(hex);
    assert_eq!(
        sha256_hex(&path),
        hex,
        "{} does not have its digest",
        path.display()
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        descriptor["size"].as_u64().unwrap(),
        "{}: size differs from its descriptor",
        path.display()
    );
    path
}

/// The manifest tagged `tag` in an OCI image layout: its digest and content.
fn tagged_manifest(layout: &Path, tag: &str) -> (String, Value) {
    assert_eq!(
        read_json(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0",
        "{}: not an OCI image layout",
        layout.display()
    );
    let index = read_json(&layout.join("index.json"));
    let descriptor = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("{}: no manifest tagged {tag}: {index}", layout.display()))
        .clone();
    assert_eq!(descriptor["mediaType"], MANIFEST_TYPE);
    let manifest = read_json(&blob(layout, &descriptor));
    (descriptor["digest"].as_str().unwrap().to_owned(), manifest)
}

/// Checks the image as Istio's fetcher reads it, and returns the module it would load.
fn plugin_wasm(layout: &Path, manifest: &Value, scratch: &Scratch, name: &str) -> Vec<u8> {
    assert_eq!(manifest["schemaVersion"], 2);
    // An OCI manifest: Istio takes the Docker-format branch only for the Docker media type.
    assert_eq!(manifest["mediaType"], MANIFEST_TYPE);
    assert_eq!(manifest["config"]["mediaType"], CONFIG_TYPE);
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        1,
        "the compat variant has exactly one layer: {manifest}"
    );
    // Istio reads the last layer and wants exactly this media type.
    let layer = layers.last().unwrap();
    assert_eq!(layer["mediaType"], LAYER_TYPE);

    let config = read_json(&blob(layout, &manifest["config"]));
    let layer_blob = blob(layout, layer);
    let gzipped = std::fs::read(&layer_blob).unwrap();
    assert_eq!(&gzipped[..2], b"\x1f\x8b", "the layer is not gzip");

    // The image config names the uncompressed layer's digest.
    let tar = scratch.path(&format!("{name}.tar"));
    let unzipped = run(Command::new(tool("gzip")).arg("-dc").arg(&layer_blob)).stdout;
    std::fs::write(&tar, unzipped).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([format!("sha256:{}", sha256_hex(&tar))]),
        "the config's diff_ids do not name the layer"
    );

    // One regular file, plugin.wasm, owned by 0:0, mode 0644, dated 1970: nothing that varies.
    let listing = stdout(
        Command::new(tool("tar"))
            .env("TZ", "UTC")
            .args(["--numeric-owner", "-tvf"])
            .arg(&tar),
    );
    let entries: Vec<&str> = listing.lines().collect();
    assert_eq!(
        entries.len(),
        1,
        "the layer holds more than plugin.wasm:\n{listing}"
    );
    let fields: Vec<&str> = entries[0].split_whitespace().collect();
    assert_eq!(fields[0], "-rw-r--r--", "{listing}");
    assert_eq!(fields[1], "0/0", "{listing}");
    assert_eq!(fields[3], "1970-01-01", "{listing}");
    assert_eq!(fields.last().unwrap(), &"plugin.wasm", "{listing}");

    let out = scratch.path(name);
    std::fs::create_dir_all(&out).unwrap();
    run(Command::new(tool("tar"))
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&out));
    std::fs::read(out.join("plugin.wasm")).unwrap()
}

/// Packs the module into a fresh layout; returns the manifest digest the packer printed.
fn pack(layout: &Path) -> String {
    let printed = stdout(
        Command::new(tool("python3"))
            .arg(repo(PACKER))
            .args(["--quiet", "--tag", TAG, "--out"])
            .arg(layout)
            .arg(repo(WASM)),
    );
    printed.trim().to_owned()
}

/// Every file under `dir`, relative path and content, sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push((
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_oci_image_goes_through_a_registry_and_comes_back_byte_identical() {
    let module = std::fs::read(repo(WASM))
        .unwrap_or_else(|e| panic!("{WASM}: {e}; `make test` builds it (or `make wasm`)"));
    let skopeo = tool("skopeo");
    let scratch = Scratch::new("oci");

    // Reproducible: packing the same module twice gives the same files, hence the same digest.
    let packed = scratch.path("packed");
    let digest = pack(&packed);
    let again = scratch.path("again");
    assert_eq!(pack(&again), digest);
    assert!(
        files(&packed) == files(&again),
        "two packings of one module differ"
    );

    let (manifest_digest, manifest) = tagged_manifest(&packed, TAG);
    assert_eq!(
        manifest_digest, digest,
        "the packer printed another digest than it wrote"
    );
    assert!(
        plugin_wasm(&packed, &manifest, &scratch, "packed-out") == module,
        "plugin.wasm in the packed image differs from {WASM}"
    );

    // skopeo trusts anything here, whatever the machine's /etc/containers/policy.json says.
    let policy = scratch.path("policy.json");
    std::fs::write(
        &policy,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    )
    .unwrap();

    let registry = Registry::start(&scratch);
    let remote = registry.reference(TAG);
    run(Command::new(&skopeo)
        .arg("--policy")
        .arg(&policy)
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{TAG}", packed.display()))
        .arg(&remote));

    // The registry serves our manifest unchanged: its digest is the one a WasmPlugin pins.
    let raw = scratch.path("served-manifest.json");
    let served = run(Command::new(&skopeo)
        .arg("--policy")
        .arg(&policy)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(&remote))
    .stdout;
    std::fs::write(&raw, served).unwrap();
    assert_eq!(
        format!("sha256:{}", sha256_hex(&raw)),
        digest,
        "the registry changed the manifest"
    );

    let pulled = scratch.path("pulled");
    run(Command::new(&skopeo)
        .arg("--policy")
        .arg(&policy)
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(&remote)
        .arg(format!("oci:{}:{TAG}", pulled.display())));
    drop(registry);

    let (pulled_digest, pulled_manifest) = tagged_manifest(&pulled, TAG);
    assert_eq!(pulled_digest, digest);
    let round_trip = plugin_wasm(&pulled, &pulled_manifest, &scratch, "pulled-out");
    assert!(round_trip.starts_with(b"\0asm"), "not a Wasm module");
    assert!(
        round_trip == module,
        "plugin.wasm pulled back from the registry differs from {WASM}"
    );
}

/// Every YAML document in envoy/istio/, as JSON, with the file it came from.
fn istio_documents() -> Vec<(String, Value)> {
    yaml_documents(ISTIO_DIR)
}

/// Every YAML document of the files in `dir` (not below it), as JSON, with its file.
fn yaml_documents(dir: &str) -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(repo(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    let script = "import json, sys\n\
                  try:\n    import yaml\n\
                  except ImportError:\n    sys.exit('PyYAML is missing: `make oci-tools` installs python3-yaml')\n\
                  print(json.dumps([[f, d] for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d is not None]))";
    let text = stdout(
        Command::new(tool("python3"))
            .current_dir(repo(dir))
            .args(["-c", script])
            .args(&names),
    );
    let documents: Vec<(String, Value)> = serde_json::from_str(&text).unwrap();
    assert!(!documents.is_empty(), "no YAML in {dir}");
    documents
}

fn the<'a>(documents: &'a [(String, Value)], kind: &str) -> &'a (String, Value) {
    let found: Vec<_> = documents
        .iter()
        .filter(|(_, d)| d["kind"] == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{ISTIO_DIR}: expected one {kind}, found {}",
        found.len()
    );
    found[0]
}

fn subset_of_cluster(cluster: &Value) -> String {
    // Istio's cluster name for a subset: outbound|<port>|<subset>|<host FQDN>
    let parts: Vec<&str> = cluster.as_str().unwrap().split('|').collect();
    assert_eq!(parts.len(), 4, "not an Istio subset cluster: {cluster}");
    parts[2].to_owned()
}

#[test]
fn the_ramped_istio_plugin_replaces_the_sample_one_and_its_plugin_config_loads() {
    let documents = yaml_documents("envoy/istio/ramped");
    let (_, ramped) = the(&documents, "WasmPlugin");
    let sample = istio_documents();
    let (_, plugin) = the(&sample, "WasmPlugin");
    assert_eq!(
        ramped["metadata"], plugin["metadata"],
        "the same resource, replaced"
    );
    let config = &ramped["spec"]["pluginConfig"];
    let plan = switchyard::config::load(&serde_json::to_vec(config).unwrap())
        .unwrap_or_else(|problems| panic!("the ramped pluginConfig is rejected: {problems:?}"));
    let canary = plan.routes[0].canary.as_ref().unwrap();
    assert!(matches!(canary.weight, switchyard::plan::Weight::Ramp(_)));
    assert!(canary.guard.unwrap().measures_base());
}

#[test]
fn the_compared_istio_plugin_replaces_the_sample_one_and_its_plugin_config_loads() {
    let documents = yaml_documents("envoy/istio/compared");
    let (_, compared) = the(&documents, "WasmPlugin");
    let sample = istio_documents();
    let (_, plugin) = the(&sample, "WasmPlugin");
    assert_eq!(
        compared["metadata"], plugin["metadata"],
        "the same resource, replaced"
    );
    let config = &compared["spec"]["pluginConfig"];
    let plan = switchyard::config::load(&serde_json::to_vec(config).unwrap())
        .unwrap_or_else(|problems| panic!("the compared pluginConfig is rejected: {problems:?}"));
    let shadow = plan.routes[0].shadow.as_ref().unwrap();
    assert_eq!(
        subset_of_cluster(&serde_json::json!(&*shadow.cluster)),
        "v3"
    );
    let compare = shadow.compare.as_ref().unwrap();
    assert_eq!(compare.fields.len(), 2);
}

#[test]
fn the_istio_sample_is_consistent_and_its_plugin_config_loads() {
    let documents = istio_documents();
    let (rule_file, rule) = the(&documents, "DestinationRule");
    let (plugin_file, plugin) = the(&documents, "WasmPlugin");
    let (service_file, service) = the(&documents, "VirtualService");
    // `kubectl apply -f envoy/istio/` goes in file-name order: subsets, the filter, then routes.
    assert!(
        rule_file < plugin_file && plugin_file < service_file,
        "apply order"
    );

    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    let spec = &plugin["spec"];
    assert!(
        spec["url"].as_str().unwrap().starts_with("oci://"),
        "{}",
        spec["url"]
    );
    assert!(
        spec.get("phase").is_none(),
        "the filter runs with no phase, right before routing"
    );
    assert_eq!(spec["match"], serde_json::json!([{ "mode": "CLIENT" }]));

    // The configuration Istio hands the filter (as JSON) is one the filter accepts.
    let config = &spec["pluginConfig"];
    if let Err(problems) = switchyard::config::load(&serde_json::to_vec(config).unwrap()) {
        panic!("{plugin_file}: pluginConfig is rejected: {problems:?}");
    }

    // The VirtualService matches the headers the filter writes and uses subsets that exist.
    let header = |field: &str, default: &str| {
        config["headers"][field]
            .as_str()
            .unwrap_or(default)
            .to_owned()
    };
    let target = header("target", "x-switchyard-target");
    let shadow = header("shadow", "x-switchyard-shadow");
    let subsets: Vec<&Value> = rule["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["name"])
        .collect();
    let host = &rule["spec"]["host"];
    assert_eq!(service["spec"]["hosts"], serde_json::json!([host]));

    let route = &config["routes"][0];
    let (stable, canary, mirrored) = (
        subset_of_cluster(&route["stable"]),
        subset_of_cluster(&route["canary"]["cluster"]),
        subset_of_cluster(&route["shadow"]["cluster"]),
    );
    let rules = service["spec"]["http"].as_array().unwrap();
    assert!(
        rules.last().unwrap().get("match").is_none(),
        "the last rule must catch the rest"
    );
    let mut seen = (false, false, false);
    for rule in rules {
        let matches = rule["match"].as_array().map_or(0, Vec::len);
        assert!(
            matches <= 1,
            "one match per rule keeps this check simple: {rule}"
        );
        let headers = &rule["match"][0]["headers"];
        let destination = &rule["route"][0]["destination"];
        assert_eq!(
            rule["route"].as_array().unwrap().len(),
            1,
            "the filter already split: {rule}"
        );
        assert_eq!(&destination["host"], host);
        assert!(
            subsets.contains(&&destination["subset"]),
            "unknown subset in {rule}"
        );
        let wants_canary = headers[&target]["exact"] == "canary";
        let expected = if wants_canary { &canary } else { &stable };
        assert_eq!(destination["subset"], expected.as_str(), "{rule}");
        let shadowed = headers.get(&shadow).is_some();
        if shadowed {
            assert_eq!(
                headers[&shadow],
                serde_json::json!({}),
                "presence match expected: {rule}"
            );
            assert_eq!(
                rule["mirror"],
                serde_json::json!({ "host": host, "subset": mirrored })
            );
            assert_eq!(
                rule["mirrorPercentage"]["value"], 100.0,
                "the filter already sampled: {rule}"
            );
        } else {
            assert!(
                rule.get("mirror").is_none(),
                "mirrors without the shadow header: {rule}"
            );
        }
        seen = (
            seen.0 || wants_canary,
            seen.1 || shadowed,
            seen.2 || (wants_canary && shadowed),
        );
    }
    assert_eq!(
        seen,
        (true, true, true),
        "{service_file}: a header combination has no rule"
    );
}
