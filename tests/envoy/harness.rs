//! The harness: a real Envoy running `dist/switchyard.wasm` on V8 with two workers, configured
//! from the files in `envoy/` (what users copy), in front of upstreams that are tokio servers in
//! this process. Every upstream answers with its own name and records every request it receives,
//! mirrored copies included, so that a test can check what reached which upstream.
//!
//! Configs are rendered from `envoy/envoy.yaml`, `envoy/ecds.yaml` and `envoy/ecds/switchyard.yaml`
//! with only these changes: the demo upstream listeners are cut out (our tokio servers take their
//! place), the clusters point at the tokio servers, admin and the front listener bind port 0 on
//! 127.0.0.1 (Envoy reports where: `--admin-address-path`, admin `/listeners`), the module path is
//! absolute, the ECDS directory is a scratch directory, and, where a test asks, the plugin
//! configuration is another one. Routes and filters are the files' own.
//!
//! Tests that start Envoy run one at a time (`SERIAL`): two Envoys with two workers each, plus
//! their traffic, on a 2-core machine make each other's timings meaningless.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, MutexGuard};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{MissedTickBehavior, interval, sleep, timeout};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The clusters of `envoy/envoy.yaml` and `envoy/ecds.yaml`, each served by a tokio upstream.
pub const UPSTREAMS: [&str; 6] = [
    "default",
    "checkout-v1",
    "checkout-v2",
    "checkout-v3",
    "web-blue",
    "web-green",
];
/// The header the mirror policy of `envoy/*.yaml` adds to mirrored copies, and only to them.
pub const MARKER: &str = "x-switchyard-mirrored";
/// The `:authority` the client sends; mirrored copies get Envoy's `-shadow` suffix on it.
pub const HOST: &str = "shop.example.com";
/// One request: connect, write, read the whole response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Envoy from spawn to `/ready`, and a push from rename to verdict.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
const ECDS_PREFIX: &str = "extension_config_discovery.http_filter.switchyard.";

static SERIAL: Mutex<()> = Mutex::const_new(());
static SCRATCH: AtomicUsize = AtomicUsize::new(0);

// ----------------------------------------------------------------------------------------------
// The binary, the module, the files

/// `SWITCHYARD_ENVOY` (set by `make test`), else the repository's `.venv/bin/envoy`, else an
/// `envoy` on `PATH`. No Envoy is a failure, never a skip.
pub fn envoy_binary() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        if let Some(given) = std::env::var_os("SWITCHYARD_ENVOY").filter(|v| !v.is_empty()) {
            let given = PathBuf::from(given);
            assert!(
                is_executable(&given),
                "SWITCHYARD_ENVOY={} is not an executable file; `make envoy` finds or installs one, \
                 `make test` passes it",
                given.display()
            );
            return given;
        }
        let venv = Path::new(REPO).join(".venv/bin/envoy");
        if is_executable(&venv) {
            return venv;
        }
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("envoy"))
                    .find(|p| is_executable(p))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no Envoy binary: SWITCHYARD_ENVOY is unset, there is no .venv/bin/envoy and no \
                     envoy on PATH. Run `make envoy` to install one (or run everything with `make test`)"
                )
            })
    })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The module, as `make test` builds it.
pub fn wasm() -> PathBuf {
    let path = Path::new(REPO).join("dist/switchyard.wasm");
    assert!(
        path.is_file(),
        "{} is missing: run `make test` (or `make wasm`), which builds it first",
        path.display()
    );
    path
}

/// A file of the repository, as text.
pub fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(REPO).join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// `envoy/demo/<name>.json`, as text.
pub fn demo_config(name: &str) -> String {
    repo_file(&format!("envoy/demo/{name}.json"))
}

/// Waits for the one-at-a-time lock outside async code (validate mode runs).
pub fn serial_blocking() -> MutexGuard<'static, ()> {
    SERIAL.blocking_lock()
}

// ----------------------------------------------------------------------------------------------
// Rendering the configs

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `yaml` with the content of its only `value: |` block scalar replaced by `content`, indented
/// two spaces deeper than the key. Uniform re-indentation keeps a block scalar's meaning.
pub fn replace_block_scalar(yaml: &str, content: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let keys: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == "value: |")
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "expected exactly one `value: |` block (the plugin configuration) in:\n{yaml}"
    );
    let key = keys[0];
    let indent = indent_of(lines[key]);
    let mut end = key + 1;
    while end < lines.len() && (lines[end].trim().is_empty() || indent_of(lines[end]) > indent) {
        end += 1;
    }
    let pad = " ".repeat(indent + 2);
    let mut out: Vec<String> = lines[..=key].iter().map(|l| l.to_string()).collect();
    out.extend(content.trim_end().lines().map(|l| format!("{pad}{l}")));
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

/// The content of the only `value: |` block scalar of `yaml`, without its indentation.
pub fn block_scalar(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let key = lines
        .iter()
        .position(|l| l.trim() == "value: |")
        .expect("a `value: |` block");
    let indent = indent_of(lines[key]);
    lines[key + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent_of(l) > indent)
        .map(|l| l.get(indent + 2..).unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A bootstrap from `envoy/<file>` for this test: demo upstream listeners cut, clusters on the
/// tokio upstreams, admin and front on port 0, the module by absolute path, the ECDS directory
/// `ecds_dir`.
pub fn render_bootstrap(
    file: &str,
    ports: &BTreeMap<&'static str, u16>,
    ecds_dir: Option<&Path>,
) -> String {
    let source = repo_file(file);
    let lines: Vec<&str> = source.lines().collect();
    let demo = lines
        .iter()
        .position(|l| l.trim_start().starts_with("# Demo upstreams"))
        .unwrap_or_else(|| {
            panic!("{file}: no `# Demo upstreams` comment to cut the demo listeners at")
        });
    let clusters = lines
        .iter()
        .position(|l| l.trim_end() == "  clusters:")
        .unwrap_or_else(|| panic!("{file}: no `  clusters:` section"));
    assert!(
        demo < clusters,
        "{file}: the demo listeners are expected before the clusters"
    );

    let mut out = Vec::new();
    for line in lines[..demo].iter().chain(&lines[clusters..]) {
        let line = if line.trim_start().starts_with("- { name: ") && line.contains("port_value: ") {
            let name = line
                .split("name: ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .map(str::trim)
                .expect("a cluster line names its cluster");
            let port = ports
                .get(name)
                .unwrap_or_else(|| panic!("{file}: cluster {name} has no upstream in this test"));
            let (head, tail) = line.split_once("port_value: ").expect("port_value");
            let digits = tail
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(tail.len());
            format!("{head}port_value: {port}{}", &tail[digits..])
        } else {
            line.replace("port_value: 9901 ", "port_value: 0 ")
                .replace("port_value: 10000 ", "port_value: 0 ")
        };
        out.push(line);
    }
    let mut text = out.join("\n") + "\n";
    let wasm = wasm();
    text = text.replace("dist/switchyard.wasm", wasm.to_str().expect("a UTF-8 path"));
    if let Some(dir) = ecds_dir {
        let dir = dir.to_str().expect("a UTF-8 path");
        for (from, to) in [
            (
                "path: envoy/ecds/switchyard.yaml",
                format!("path: {dir}/switchyard.yaml"),
            ),
            ("{ path: envoy/ecds }", format!("{{ path: {dir} }}")),
        ] {
            assert!(text.contains(from), "{file}: no `{from}`");
            text = text.replace(from, &to);
        }
    }
    for (i, line) in text.lines().enumerate() {
        if let Some((_, tail)) = line.split_once("port_value: ") {
            let port: String = tail.chars().take_while(char::is_ascii_digit).collect();
            assert!(
                port == "0" || ports.values().any(|p| p.to_string() == port),
                "{file}, rendered line {}: port {port} was not replaced: {line}",
                i + 1
            );
        }
    }
    text
}

/// The ECDS resource of `envoy/ecds/switchyard.yaml` with the module by absolute path and
/// `config` as the plugin configuration.
pub fn render_resource(config: &str) -> String {
    let template = repo_file("envoy/ecds/switchyard.yaml");
    let from = "\"dist/switchyard.wasm\"";
    assert!(
        template.contains(from),
        "envoy/ecds/switchyard.yaml: no {from}"
    );
    let wasm = serde_json::to_string(wasm().to_str().expect("a UTF-8 path")).expect("a string");
    replace_block_scalar(&template.replace(from, &wasm), config)
}

// ----------------------------------------------------------------------------------------------
// HTTP/1.1, both ends

struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The start line and headers, names lower-cased; None on EOF before the first byte.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Head>> {
    let mut start = None;
    let mut headers = Vec::new();
    for _ in 0..256 {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return if start.is_none() && headers.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF inside a message head",
                ))
            };
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        match &start {
            None => start = Some(line),
            Some(_) if line.is_empty() => {
                return Ok(Some(Head {
                    start: start.unwrap_or_default(),
                    headers,
                }));
            }
            Some(_) => {
                let (name, value) = line.split_once(':').ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad header line {line:?}"),
                    )
                })?;
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "more than 255 header lines",
    ))
}

/// A message body framed by content-length or chunked; without either, a request has none and
/// a response runs to EOF.
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    headers: &[(String, String)],
    request: bool,
) -> io::Result<Vec<u8>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if find(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        for _ in 0..100_000 {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let hex = size.trim().split(';').next().unwrap_or("");
            let n =
                usize::from_str_radix(hex, 16).map_err(|_| bad(format!("chunk size {size:?}")))?;
            if n == 0 {
                let mut trailer = String::new();
                while r.read_line(&mut trailer).await? > 2 {
                    trailer.clear();
                }
                return Ok(body);
            }
            let at = body.len();
            body.resize(at + n, 0);
            r.read_exact(&mut body[at..]).await?;
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf).await?;
        }
        return Err(bad("more than 100,000 chunks".into()));
    }
    if let Some(length) = find(headers, "content-length") {
        let n: usize = length
            .parse()
            .map_err(|_| bad(format!("content-length {length:?}")))?;
        let mut body = vec![0; n];
        r.read_exact(&mut body).await?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if !request {
        r.take(1 << 20).read_to_end(&mut body).await?;
    }
    Ok(body)
}

/// A request as the client sends it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: Vec<u8>,
}

impl Req {
    pub fn get(path: &str) -> Req {
        Req {
            method: "GET",
            path: path.to_string(),
            headers: Vec::new(),
            cookies: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post(path: &str) -> Req {
        Req {
            method: "POST",
            body: br#"{"items": 1}"#.to_vec(),
            ..Req::get(path)
        }
        .header("content-type", "application/json")
    }

    /// A POST to [`PREDICT`] whose JSON body names user `u<n>`.
    pub fn predict(n: u64) -> Req {
        let mut req = Req::post(PREDICT).header("x-user", format!("u{n}"));
        req.body = format!(r#"{{"user": "u{n}", "features": [0.25, 0.5, {n}]}}"#).into_bytes();
        req
    }

    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn cookie(mut self, name: &str, value: &str) -> Req {
        self.cookies.push(format!("{name}={value}"));
        self
    }

    /// The demo's users carry their id in the `uid` cookie, beside an unrelated one.
    pub fn user(self, uid: &str) -> Req {
        self.cookie("theme", "dark").cookie("uid", uid)
    }

    /// `x-test-id`: finds this request (and its mirrored copy) in the upstreams' records.
    pub fn id(self, id: u64) -> Req {
        self.header("x-test-id", id)
    }

    /// The value of cookie `name` this request sends.
    pub fn cookie_value(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
    }

    /// Its `x-test-id`.
    pub fn test_id(&self) -> Option<u64> {
        find(&self.headers, "x-test-id")?.parse().ok()
    }

    fn bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nhost: {HOST}\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head += &format!("{name}: {value}\r\n");
        }
        if !self.cookies.is_empty() {
            head += &format!("cookie: {}\r\n", self.cookies.join("; "));
        }
        if !self.body.is_empty() {
            head += &format!("content-length: {}\r\n", self.body.len());
        }
        head += "\r\n";
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The upstream that answered: each answers with its own name.
    pub fn served_by(&self) -> &str {
        self.body.trim_end()
    }

    /// A field of the `x-switchyard-decision` header (the demo configurations set `debug`).
    pub fn decision(&self, field: &str) -> Option<&str> {
        self.header("x-switchyard-decision")?
            .split(';')
            .filter_map(|part| part.split_once('='))
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v)
    }
}

/// One keep-alive client connection.
pub struct Conn {
    io: BufReader<TcpStream>,
    /// The server said `connection: close`.
    pub closed: bool,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Conn {
            io: BufReader::new(stream),
            closed: false,
        })
    }

    pub async fn send(&mut self, req: &Req) -> io::Result<Response> {
        timeout(IO_TIMEOUT, self.exchange(req))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response within 10 s"))?
    }

    /// Writes `bytes` as they are (a request head that `Req` cannot express: bytes that are not
    /// UTF-8, another protocol version, no `host`) and reads one response.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<Response> {
        timeout(IO_TIMEOUT, self.exchange_bytes(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response within 10 s"))?
    }

    async fn exchange(&mut self, req: &Req) -> io::Result<Response> {
        self.exchange_bytes(&req.bytes()).await
    }

    async fn exchange_bytes(&mut self, bytes: &[u8]) -> io::Result<Response> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server closed it",
            ));
        }
        self.io.get_mut().write_all(bytes).await?;
        let head = read_head(&mut self.io).await?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response")
        })?;
        let status = head
            .start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, head.start.clone()))?;
        let body = read_body(&mut self.io, &head.headers, false).await?;
        self.closed =
            find(&head.headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok(Response {
            status,
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

// ----------------------------------------------------------------------------------------------
// Upstreams

/// A request as an upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub upstream: &'static str,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn id(&self) -> Option<u64> {
        self.header("x-test-id")?.parse().ok()
    }

    pub fn mirrored(&self) -> bool {
        self.header(MARKER).is_some()
    }
}

/// How an upstream told to `fail` treats each request from then on, after recording it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answers `503 Service Unavailable` itself.
    Status503,
    /// Closes the connection without answering: Envoy replies 503 on its own (a local reply).
    Reset,
    /// Answers 200, this much later.
    Slow(Duration),
}

type Failing = Arc<StdMutex<BTreeMap<&'static str, Failure>>>;

/// The six demo upstreams as tokio servers on 127.0.0.1, HTTP/1.1 with keep-alive.
pub struct Upstreams {
    pub ports: BTreeMap<&'static str, u16>,
    log: Arc<StdMutex<Vec<Seen>>>,
    failing: Failing,
    accepting: Vec<JoinHandle<()>>,
}

impl Upstreams {
    pub async fn start() -> Upstreams {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let failing = Failing::default();
        let mut ports = BTreeMap::new();
        let mut accepting = Vec::new();
        for name in UPSTREAMS {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind an upstream");
            ports.insert(name, listener.local_addr().expect("its address").port());
            let (log, failing) = (Arc::clone(&log), Arc::clone(&failing));
            accepting.push(tokio::spawn(async move {
                // Bounded by the test: the task is aborted when the upstreams are dropped.
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(name, stream, Arc::clone(&log), Arc::clone(&failing)));
                }
            }));
        }
        Upstreams {
            ports,
            log,
            failing,
            accepting,
        }
    }

    /// From now on `upstream` fails every request it receives, as `how` says (it still records
    /// them first).
    pub fn fail(&self, upstream: &'static str, how: Failure) {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(upstream, how);
    }

    /// Everything received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What each `x-test-id` became upstream: the request and any mirrored copy.
    pub fn by_id(&self) -> HashMap<u64, Vec<Seen>> {
        let mut map: HashMap<u64, Vec<Seen>> = HashMap::new();
        for seen in self.seen() {
            if let Some(id) = seen.id() {
                map.entry(id).or_default().push(seen);
            }
        }
        map
    }

    pub fn count(&self, upstream: &str) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.upstream == upstream)
            .count()
    }

    /// Waits (at most `limit`) until `done` holds of what the upstreams have received; whether
    /// it did.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn(&[Seen]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let held = done(&self.log.lock().unwrap_or_else(|e| e.into_inner()));
            if held || Instant::now() >= deadline {
                return held;
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most `limit`) until `upstream` has received `n` requests; whether it did.
    pub async fn wait_for(&self, upstream: &str, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.count(upstream) >= n {
                return true;
            }
            sleep(Duration::from_millis(20)).await;
        }
        self.count(upstream) >= n
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        for task in &self.accepting {
            task.abort();
        }
    }
}

async fn serve(
    name: &'static str,
    stream: TcpStream,
    log: Arc<StdMutex<Vec<Seen>>>,
    failing: Failing,
) {
    let _ = stream.set_nodelay(true);
    let mut io = BufReader::new(stream);
    // One request per turn until the peer closes; every read is bounded by IO_TIMEOUT once a
    // request has begun, and an idle connection ends with the test's runtime.
    while let Ok(Some(head)) = read_head(&mut io).await {
        let Ok(Ok(request_body)) =
            timeout(IO_TIMEOUT, read_body(&mut io, &head.headers, true)).await
        else {
            return;
        };
        let mut parts = head.start.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let close =
            find(&head.headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (body, content_type) = if path.starts_with(PREDICT) {
            (prediction(name, &request_body), "application/json")
        } else {
            (format!("{name}\n"), "text/plain")
        };
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            upstream: name,
            method,
            path,
            headers: head.headers,
            body: request_body,
        });
        let failure = failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied();
        let status = match failure {
            None => "200 OK",
            Some(Failure::Status503) => "503 Service Unavailable",
            Some(Failure::Reset) => return,
            Some(Failure::Slow(delay)) => {
                sleep(delay).await;
                "200 OK"
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if io.get_mut().write_all(response.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

/// Requests under this path are answered as a model server would: a JSON prediction.
pub const PREDICT: &str = "/predict";

/// The prediction `upstream` makes for a request body `{"user": "u<n>", ...}`, as ML-style
/// upstreams do: `checkout-v1` (the live model) and `checkout-v2` (another instance of it) agree
/// on the label and the score but not on `took_ms`; `checkout-v3` (the next model) says `dog`
/// where the live model says `cat` for every user whose number is a multiple of 4
/// ([`disagrees`]), and scores 0.0004 higher.
pub fn prediction(upstream: &str, body: &[u8]) -> String {
    let user = user_number(body).unwrap_or(0);
    let live_label = if user.is_multiple_of(2) {
        "cat"
    } else {
        "bird"
    };
    let (label, score, took_ms) = match upstream {
        "checkout-v3" if disagrees(user) => ("dog", 0.5004, 7),
        "checkout-v3" => (live_label, 0.9004, 7),
        "checkout-v2" => (live_label, 0.9, 13),
        _ => (live_label, 0.9, 11),
    };
    format!(r#"{{"prediction": {{"label": "{label}", "score": {score}}}, "took_ms": {took_ms}}}"#)
}

/// Users whose predictions the next model (`checkout-v3`) changes.
pub fn disagrees(user: u64) -> bool {
    user.is_multiple_of(4)
}

fn user_number(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.split(r#""user": "u"#).nth(1)?;
    rest.split('"').next()?.parse().ok()
}

// ----------------------------------------------------------------------------------------------
// Envoy

/// How the filter gets its configuration.
pub enum Filter<'a> {
    /// `envoy/envoy.yaml`, its inline configuration as shipped (None) or replaced by this one.
    Static(Option<&'a str>),
    /// `envoy/ecds.yaml`, the first resource rendered from `envoy/ecds/switchyard.yaml` with this
    /// configuration; `Envoy::push` delivers the next ones.
    Ecds(&'a str),
}

/// Envoy exited before it was ready.
pub struct Exited {
    pub status: ExitStatus,
    pub log: String,
}

/// What Envoy made of a push.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    Rejected,
}

/// A running Envoy; killed, and its scratch directory removed, on drop.
pub struct Envoy {
    child: Child,
    pub dir: PathBuf,
    pub admin: SocketAddr,
    pub front: SocketAddr,
    _serial: MutexGuard<'static, ()>,
}

fn scratch_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "envoy-{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("ecds")).expect("create a scratch directory");
    dir
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Envoy {
    /// Envoy with `filter`, ready to serve; panics with its log if it does not start.
    pub async fn start(upstreams: &Upstreams, filter: Filter<'_>) -> Envoy {
        match Envoy::try_start(upstreams, filter).await {
            Ok(envoy) => envoy,
            Err(exited) => panic!(
                "Envoy exited at start-up ({}):\n{}",
                exited.status,
                tail(&exited.log, 40)
            ),
        }
    }

    /// Envoy with `filter`: ready, or the exit status and log of an Envoy that refused to start.
    pub async fn try_start(upstreams: &Upstreams, filter: Filter<'_>) -> Result<Envoy, Exited> {
        let serial = SERIAL.lock().await;
        let dir = scratch_dir();
        let bootstrap = match filter {
            Filter::Static(config) => {
                let yaml = render_bootstrap("envoy/envoy.yaml", &upstreams.ports, None);
                match config {
                    Some(config) => replace_block_scalar(&yaml, config),
                    None => yaml,
                }
            }
            Filter::Ecds(config) => {
                fs::write(dir.join("ecds/switchyard.yaml"), render_resource(config))
                    .expect("write the first ECDS resource");
                render_bootstrap("envoy/ecds.yaml", &upstreams.ports, Some(&dir.join("ecds")))
            }
        };
        fs::write(dir.join("envoy.yaml"), bootstrap).expect("write the bootstrap");
        let log = fs::File::create(dir.join("envoy.log")).expect("create the log");
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(dir.join("envoy.yaml"))
            .args(["--concurrency", "2", "--disable-hot-restart"])
            .arg("--admin-address-path")
            .arg(dir.join("admin.address"))
            .args([
                "--log-level",
                "warning",
                "--component-log-level",
                "wasm:info",
            ])
            .current_dir(REPO)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", envoy_binary().display()));
        let mut envoy = Envoy {
            child,
            dir,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            front: SocketAddr::from(([127, 0, 0, 1], 0)),
            _serial: serial,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                let log = envoy.log();
                return Err(Exited { status, log });
            }
            assert!(
                Instant::now() < deadline,
                "Envoy not ready after {START_TIMEOUT:?}:\n{}",
                tail(&envoy.log(), 40)
            );
            if envoy.admin.port() == 0 {
                if let Some(addr) = fs::read_to_string(envoy.dir.join("admin.address"))
                    .ok()
                    .and_then(|a| a.trim().parse().ok())
                {
                    envoy.admin = addr;
                }
            } else if envoy
                .get_admin("/ready")
                .await
                .is_ok_and(|r| r.status == 200)
            {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let listeners: Value =
            serde_json::from_str(&envoy.admin_text("/listeners?format=json").await)
                .expect("admin /listeners is JSON");
        let port = listeners["listener_statuses"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["name"] == "front"))
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .expect("the front listener's port in admin /listeners");
        envoy.front = SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).expect("a port")));
        Ok(envoy)
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    async fn get_admin(&self, path: &str) -> io::Result<Response> {
        Conn::open(self.admin).await?.send(&Req::get(path)).await
    }

    pub async fn admin_text(&self, path: &str) -> String {
        match self.get_admin(path).await {
            Ok(r) if r.status == 200 => r.body,
            other => panic!("admin {path}: {other:?}"),
        }
    }

    /// The counters and gauges whose names contain `filter`.
    pub async fn stats(&self, filter: &str) -> BTreeMap<String, u64> {
        self.admin_text(&format!("/stats?filter={filter}"))
            .await
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect()
    }

    /// Connections each worker accepted on the front listener
    /// (`listener.<address>.worker_<n>.downstream_cx_total`), by worker.
    pub async fn worker_connections(&self) -> Vec<u64> {
        let stats = self.stats("downstream_cx_total").await;
        let mut by_worker: Vec<(String, u64)> = stats
            .into_iter()
            .filter(|(name, _)| name.starts_with("listener.") && name.contains(".worker_"))
            .collect();
        by_worker.sort();
        by_worker.into_iter().map(|(_, n)| n).collect()
    }

    /// The ECDS counters of the `switchyard` filter: config_reload, config_fail, update_rejected…
    pub async fn ecds_stats(&self) -> BTreeMap<String, u64> {
        self.stats(ECDS_PREFIX)
            .await
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(ECDS_PREFIX)?.to_string(), v)))
            .collect()
    }

    /// Pushes `config` as a control plane does (`switchyard push`'s way: the resource written
    /// beside the watched file, then renamed over it) and waits for Envoy's verdict. Envoy 1.40
    /// counts a rejected update in `config_reload` too, so a failure counter decides.
    pub async fn push(&self, config: &str) -> Verdict {
        let before = self.ecds_stats().await;
        let file = self.dir.join("ecds/switchyard.yaml");
        let temp = self.dir.join(format!(
            "ecds/.switchyard.yaml.{}",
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&temp, render_resource(config)).expect("write the resource");
        fs::rename(&temp, &file).expect("rename it over the watched file");
        let deadline = Instant::now() + PUSH_TIMEOUT;
        while Instant::now() < deadline {
            let now = self.ecds_stats().await;
            let grew = |stat: &str| {
                now.get(stat).copied().unwrap_or(0) > before.get(stat).copied().unwrap_or(0)
            };
            if grew("config_fail") || grew("update_rejected") {
                return Verdict::Rejected;
            }
            if grew("config_reload") {
                return Verdict::Applied;
            }
            sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "Envoy reported neither config_reload nor config_fail within {PUSH_TIMEOUT:?} of a push:\n{}",
            tail(&self.log(), 20)
        );
    }

    pub async fn connect(&self) -> Conn {
        Conn::open(self.front)
            .await
            .unwrap_or_else(|e| panic!("connecting to Envoy at {}: {e}", self.front))
    }

    /// One request on a connection of its own.
    pub async fn send(&self, req: &Req) -> Response {
        self.connect()
            .await
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
    }

    /// Each request on a connection of its own, one after another, so that both workers serve.
    pub async fn send_fresh(&self, reqs: &[Req]) -> Vec<Response> {
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            out.push(self.send(req).await);
        }
        out
    }

    /// After a push Envoy has applied: sends `req` on fresh connections until `n` in a row are
    /// served by the configuration named `revision` (its decision header), so that both workers
    /// have it. Bounded: 300 requests or 10 s.
    pub async fn settle(&self, req: &Req, revision: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut in_a_row = 0;
        for _ in 0..300 {
            if Instant::now() > deadline {
                break;
            }
            let response = self.send(req).await;
            in_a_row = if response.decision("rev") == Some(revision) {
                in_a_row + 1
            } else {
                0
            };
            if in_a_row == n {
                return;
            }
        }
        panic!(
            "revision {revision} did not serve {n} requests in a row within 300 requests or 10 s"
        );
    }

    /// Every request, over `connections` keep-alive connections in parallel; the responses in
    /// the order of `reqs`. A failed request fails the test.
    /// Closes a run of requests whose mirrored copies are to be counted, with a positive marker
    /// instead of a fixed wait: sends `marker(id)` for ids from `first_id` on, one at a time,
    /// until the filter picks one for shadowing (at most 1,000), then waits for that copy at
    /// `shadow`. Every earlier request's copy left Envoy before its answer came back, so before
    /// the marker was sent: once the marker's copy is in, no other copy is on its way. Returns
    /// the ids sent, to leave out of the counts.
    pub async fn mirror_marker(
        &self,
        upstreams: &Upstreams,
        shadow: &str,
        first_id: u64,
        marker: impl Fn(u64) -> Req,
    ) -> std::ops::Range<u64> {
        for id in first_id..first_id + 1_000 {
            if self.send(&marker(id)).await.decision("shadow") != Some("1") {
                continue;
            }
            let arrived = upstreams
                .wait_until(Duration::from_secs(5), |seen| {
                    seen.iter()
                        .any(|s| s.upstream == shadow && s.id() == Some(id))
                })
                .await;
            assert!(arrived, "the marker's copy ({id}) never reached {shadow}");
            return first_id..id + 1;
        }
        panic!("no marker request was picked for shadowing in 1,000");
    }

    pub async fn send_all(&self, reqs: &[Req], connections: usize) -> Vec<Response> {
        let reqs = Arc::new(reqs.to_vec());
        let mut tasks = JoinSet::new();
        for lane in 0..connections {
            let (reqs, front) = (Arc::clone(&reqs), self.front);
            tasks.spawn(async move {
                let mut out = Vec::new();
                let mut conn = Conn::open(front).await?;
                for i in (lane..reqs.len()).step_by(connections) {
                    if conn.closed {
                        conn = Conn::open(front).await?;
                    }
                    out.push((i, conn.send(&reqs[i]).await?));
                }
                io::Result::Ok(out)
            });
        }
        let mut all = Vec::with_capacity(reqs.len());
        while let Some(lane) = tasks.join_next().await {
            all.extend(
                lane.expect("a client task")
                    .unwrap_or_else(|e| panic!("a request failed: {e}")),
            );
        }
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- the end of Envoy's log ({}):\n{}",
                self.dir.join("envoy.log").display(),
                tail(&self.log(), 30)
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Statistics

/// The demo's user names.
/// One request of a load test: its connection, user, path and id, what `mark` said when it was
/// recorded, and what came back (or why nothing did).
pub struct Sent {
    pub connection: usize,
    pub uid: String,
    pub path: &'static str,
    pub id: u64,
    pub mark: usize,
    pub outcome: Result<Response, String>,
}

/// The traffic of one load-test client.
pub struct Load {
    /// Users the requests come from, picked at random.
    pub users: usize,
    /// Mixed into the random sequence, so that two tests do not send the same requests.
    pub seed: u64,
    /// One request in this many goes to `/web/`, the rest to `/checkout/cart`.
    pub web_one_in: u64,
    /// At most one request per this long, when set.
    pub pace: Option<Duration>,
    /// Bounds: requests recorded, and time.
    pub max: usize,
    pub limit: Duration,
}

/// A load-test client: connections of 25 keep-alive requests each, as `load` says, until `stop`
/// (or its bounds). `mark` is read as each request is recorded (a counter, the configuration last
/// written…).
pub async fn load_client(
    front: SocketAddr,
    lane: u64,
    load: Load,
    stop: Arc<AtomicBool>,
    mark: impl Fn() -> usize,
) -> Vec<Sent> {
    let people = users(load.users);
    let mut state = lane
        .wrapping_add(load.seed)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        | 1;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33
    };
    let deadline = Instant::now() + load.limit;
    let mut pace = load.pace.map(|period| {
        let mut pace = interval(period);
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        pace
    });
    let mut out: Vec<Sent> = Vec::new();
    'connections: for connection in 0..load.max {
        let mut conn = match Conn::open(front).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                out.push(Sent {
                    connection,
                    uid: String::new(),
                    path: "",
                    id: 0,
                    mark: mark(),
                    outcome: Err(format!("connect: {e}")),
                });
                None
            }
        };
        for _ in 0..25 {
            if stop.load(Ordering::Relaxed) || Instant::now() > deadline || out.len() >= load.max {
                break 'connections;
            }
            let Some(c) = conn.as_mut() else { break };
            if let Some(pace) = pace.as_mut() {
                pace.tick().await;
            }
            let uid = people[next() as usize % people.len()].clone();
            let path = if next() % load.web_one_in == 0 {
                "/web/"
            } else {
                "/checkout/cart"
            };
            let id = (lane << 32) | out.len() as u64;
            let outcome = c
                .send(&Req::get(path).user(&uid).id(id))
                .await
                .map_err(|e| e.to_string());
            let over = outcome.is_err() || c.closed;
            out.push(Sent {
                connection,
                uid,
                path,
                id,
                mark: mark(),
                outcome,
            });
            if over {
                break;
            }
        }
    }
    out
}

pub fn users(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("user-{i:04}")).collect()
}
