#!/usr/bin/env python3
"""Assembles BENCHMARKS.md at the repository root from the fragments `make bench` leaves in
target/bench/ (engine.md, module.md, envoy.md, in that order, each only when present), under a
header that says when, on what machine and with which versions they were measured, and ends with
the hand-written history in bench/history.md.

BENCHMARKS.md is regenerated whole by this script: edit bench/history.md, never BENCHMARKS.md.

Python 3 standard library only.
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FRAGMENTS = ["engine", "module", "size", "envoy", "envoy-direct", "instructions",
             "instructions-upstream", "envoy-compare"]


def command(*argv):
    """First line of a command's output, or None when it is missing or fails."""
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (run.stdout or run.stderr).strip()
    return text.splitlines()[0].strip() if text else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def locked_version(crate):
    """The version of `crate` in Cargo.lock, or None."""
    try:
        with open(os.path.join(REPO, "Cargo.lock")) as f:
            text = f.read()
    except OSError:
        return None
    found = re.findall(r'\[\[package\]\]\nname = "%s"\nversion = "([^"]+)"' % re.escape(crate), text)
    return ", ".join(found) if found else None


def wasm_rustc():
    """The compiler `make wasm` uses: rustup's when it has wasm32-wasip1, else Debian's."""
    targets = command("sh", "-c", "rustup target list --installed 2>/dev/null | grep -x wasm32-wasip1")
    if targets:
        return command("rustc", "--version")
    return command("/usr/bin/rustc", "--version")


def envoy_version(binary):
    line = command(binary, "--version") if binary else None
    if not line:
        return None
    words = line.split("version:", 1)[-1].split()
    parts = words[0].split("/") if words else []
    if len(parts) < 3:
        return line
    return f"{parts[1]} ({'/'.join(parts[2:])}, build {parts[0][:12]})"


def header(envoy):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = command("git", "log", "-1", "--format=%h %s")
    dirty = command("git", "status", "--porcelain", "--untracked-files=no")
    rustc = command("rustc", "--version")
    wasm = wasm_rustc()
    lines = [
        "# Benchmarks",
        "",
        "This file is regenerated entirely by `make bench` (`bench/report.py`): edit "
        "`bench/history.md` for the history at the end, nothing else here.",
        "",
        f"- **Date**: {now}",
        f"- **Commit**: {commit or 'unknown'}{' (with uncommitted changes)' if dirty else ''}",
        f"- **Machine**: {cpu_model()}, {os.cpu_count()} cores, {memory()} memory, "
        f"Linux {platform.release()}",
        f"- **rustc**: {rustc or 'not found'}",
    ]
    if wasm and wasm != rustc:
        lines.append(f"- **rustc for the wasm module**: {wasm}")
    lines += [
        f"- **Envoy**: {envoy_version(envoy) or 'not found'}",
        f"- **wrk**: {(command('wrk', '-v') or 'not found').split(' Copyright')[0]}",
        f"- **wasmtime** (test host, Cargo.lock): {locked_version('wasmtime') or 'not in Cargo.lock'}",
    ]
    criterion = locked_version("criterion")
    if criterion:
        lines.append(f"- **criterion** (Cargo.lock): {criterion}")
    for wasm_file in ("dist/switchyard.wasm", "dist/minimal-filter.wasm"):
        path = os.path.join(REPO, wasm_file)
        if os.path.exists(path):
            lines.append(f"- **{wasm_file}**: {os.path.getsize(path):,} bytes")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fragments", default=os.path.join(REPO, "target", "bench"),
                   help="directory holding engine.md, module.md, envoy.md (default: %(default)s)")
    p.add_argument("--history", default=os.path.join(HERE, "history.md"))
    p.add_argument("--envoy", default=os.environ.get("ENVOY") or shutil.which("envoy")
                   or os.path.join(REPO, ".venv", "bin", "envoy"))
    p.add_argument("--out", default=os.path.join(REPO, "BENCHMARKS.md"))
    args = p.parse_args()

    parts = [header(args.envoy)]
    found = []
    for name in FRAGMENTS:
        path = os.path.join(args.fragments, name + ".md")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = f.read().strip()
        written = datetime.fromtimestamp(os.path.getmtime(path), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(f"<!-- {os.path.relpath(path, REPO)}, written {written} -->\n\n{text}\n")
        found.append(name)
    if not found:
        parts.append("No benchmark results were found in target/bench/.\n")
    with open(args.history) as f:
        history = f.read().strip()
    # The history file's own top heading becomes a section of this document.
    history = re.sub(r"\A# ", "## ", history)
    parts.append(history + "\n")

    with open(args.out, "w") as f:
        f.write("\n".join(parts))
    print(f"{os.path.relpath(args.out)}: written from {', '.join(found) or 'no fragments'} and "
          f"{os.path.relpath(args.history)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
