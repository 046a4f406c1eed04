//! Writing a bench's Markdown fragment to `target/bench/` (assembled into BENCHMARKS.md by
//! `make bench`), and the facts every fragment states: the machine and the commit measured.

// Each bench includes this file with `#[path]` and uses its own part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the crate.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Writes `target/bench/<name>` and says where.
pub fn write_fragment(name: &str, markdown: &str) {
    let dir = target_dir().join("bench");
    let path = dir.join(name);
    let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, markdown));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => panic!("cannot write {}: {error}", path.display()),
    }
}

/// Whether cargo runs this target as a benchmark (`cargo bench` passes `--bench`), not as a test
/// (`cargo test --benches`, or `cargo bench -- --test`), which should only check that it runs.
pub fn bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

/// `<CPU model>, <n> cores`, from /proc/cpuinfo where there is one.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

/// The commit measured, `abc1234` or `abc1234 with uncommitted changes`; `unknown` outside git.
pub fn revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain", "--untracked-files=no", "--", "src"]) {
        Some(changes) if !changes.is_empty() => {
            format!("{commit} with uncommitted changes in src/")
        }
        _ => commit,
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A duration in nanoseconds, in the unit that reads best: `85.3 ns`, `1.27 µs`, `14.2 ms`.
pub fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {unit}")
}
