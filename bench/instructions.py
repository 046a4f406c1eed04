#!/usr/bin/env python3
"""Envoy's instructions per request, counted by valgrind's callgrind: the third view of what the
filter costs, next to `bench/envoy.py`'s CPU time in its two fronts.

CPU time on a shared 2-core machine moves by 10 % from round to round; instructions do not. Each
configuration of a front of `bench/envoy.py` runs as one Envoy under callgrind, with one worker:
by default `--front direct` (the front Envoy answering from `direct_response`, so the filter is
all that differs), or `--front upstream` (the front forwarding to an upstream Envoy, which runs
outside callgrind: what a proxy pays per request, its proxying included). A client on one keep-alive connection sends the bench's request (bench/envoy/request.lua's
GET, a new user each time) `--warmup` times, the counts are zeroed (`callgrind_control -z`), it
sends `--requests` more, one at a time, and the counts are dumped: instructions per request are
all of Envoy's threads' instructions (V8's generated code included) over the requests. Requests
go one after another on one connection, so each costs the same event-loop work in every
configuration.

Instructions are not time (a host call's cache misses cost more than its count says), so this
view ranks changes and prices host calls precisely, and `bench/envoy.py` says what they are worth.

Python 3 standard library only (and valgrind, which `make bench` installs).
"""

import argparse
import glob
import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_envoy", os.path.join(HERE, "envoy.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def cookie(u):
    """The `Cookie` of user `u`, as bench/envoy/request.lua writes it."""
    return (f"_ga=GA1.2.{1000000000 + u}.1717171717; theme=dark; lang=en-US; "
            f"uid={u * 2654435761 % 4294967296:08x}-{u % 65536:04x}-4bd1-9c2e-{u:012d}; "
            f"session=s{(u * 48271) % 2147483647:010d}.Zm9vYmFyYmF6cXV4; "
            "consent=analytics%3Dyes%26ads%3Dno")


def send(port, first_user, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for i in range(n):
            u = ((first_user + i) * 7919) % bench.USERS
            conn.request("GET", bench.PATH, headers={
                "Host": bench.HOST,
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "en-US,en;q=0.5",
                "Accept-Encoding": "gzip, deflate, br",
                "Referer": f"https://{bench.HOST}/catalog/shoes",
                "Cookie": cookie(u),
            })
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise bench.BenchError(f"answer {resp.status} to request {i}")
    finally:
        conn.close()


def total_instructions(dump_dir, pid):
    """The sum of `summary:` lines over the dump files of process `pid` (one per thread)."""
    total = 0
    for path in glob.glob(os.path.join(dump_dir, f"callgrind.{pid}*")):
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
    return total


def measure(binary, kind, switchyard_config, args, workdir, upstream_ports):
    """Instructions per request of configuration `kind`'s front; with `upstream_ports` (the
    upstream front) it forwards to them, else it answers from `direct_response`."""
    direct = upstream_ports is None
    ports = {name: 9 for name in bench.UPSTREAMS} if direct else upstream_ports
    config = bench.front_config(kind, ports, switchyard_config, direct)
    base = os.path.join(workdir, "".join(c if c.isalnum() or c in "-_" else "_" for c in kind))
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "envoy.json"), "w") as f:
        json.dump(config, f)
    admin_path = os.path.join(base, "admin")
    log = open(os.path.join(base, "log"), "w")
    proc = subprocess.Popen(
        ["taskset", "-c", str(bench.FRONT_CPU), "valgrind", "--tool=callgrind",
         "--smc-check=all-non-file", "--separate-threads=no", "--dump-instr=no",
         f"--callgrind-out-file={base}/callgrind.%p", binary, "-c", os.path.join(base, "envoy.json"),
         "--concurrency", "1", "--disable-hot-restart", "--admin-address-path", admin_path,
         "-l", "warning"],
        stdout=log, stderr=subprocess.STDOUT, cwd=base)
    try:
        deadline = time.monotonic() + 300
        port = None
        while port is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise bench.BenchError(f"envoy under callgrind did not start for {kind}; see {base}/log")
            try:
                with open(admin_path) as f:
                    admin = "http://" + f.read().strip()
                status, text = bench.http_get(admin + "/listeners?format=json", 5)
                port = json.loads(text)["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
            except (OSError, ValueError, KeyError, IndexError):
                time.sleep(0.5)
        send(port, 0, args.warmup)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(port, args.warmup, args.requests)
        for old in glob.glob(os.path.join(base, f"callgrind.{proc.pid}*")):
            os.remove(old)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        return total_instructions(base, proc.pid) / args.requests
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="plain,minimal,switchyard",
                   help="as bench/envoy.py's (default: %(default)s)")
    p.add_argument("--front", choices=["direct", "upstream"], default="direct",
                   help="as bench/envoy.py's: direct answers from `direct_response`; upstream "
                        "forwards to an upstream Envoy (not counted), so each request also pays "
                        "the front's proxying (default: %(default)s)")
    p.add_argument("--requests", type=int, default=2000, help="requests counted (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=300, help="requests before counting (default: %(default)s)")
    p.add_argument("--switchyard-config", default=os.path.join(HERE, "envoy", "switchyard.json"))
    p.add_argument("--envoy", help="Envoy binary (default: as bench/envoy.py finds it)")
    p.add_argument("--out", default=os.path.join(bench.REPO, "target", "bench", "instructions.md"))
    args = p.parse_args()
    for tool in ("valgrind", "callgrind_control", "taskset"):
        if not shutil.which(tool):
            raise bench.BenchError(f"{tool} is missing (make bench installs valgrind)")
    binary = bench.find_envoy(args.envoy)
    # The pip package's `envoy` is a Python launcher: valgrind must run the binary itself.
    real = glob.glob(os.path.join(bench.REPO, ".venv", "lib", "python3*", "site-packages", "envoy",
                                  "_bin", "envoy"))
    if real and binary.endswith(os.path.join(".venv", "bin", "envoy")):
        binary = real[0]
    with open(args.switchyard_config) as f:
        switchyard_config = json.load(f)
    configs = [c for c in args.configs.split(",") if c]
    bench.describe_configs(configs, switchyard_config)
    results = {}
    with tempfile.TemporaryDirectory(prefix="switchyard-callgrind-") as workdir:
        upstream, upstream_ports = None, None
        try:
            if args.front == "upstream":
                upstream = bench.Envoy(binary, "upstream", bench.upstream_config(), bench.LOAD_CPU,
                                       workdir)
                upstream.wait_ready()
                upstream_ports = upstream.ports()
            for kind in configs:
                results[kind] = measure(binary, kind, switchyard_config, args, workdir, upstream_ports)
                print(f"{kind:<24} {results[kind]:>12,.0f} instructions per request", file=sys.stderr,
                      flush=True)
        finally:
            if upstream:
                upstream.stop()
    front = ("the `direct_response` front" if args.front == "direct" else
             "the upstream front (forwarding to an upstream Envoy, whose instructions are not counted)")
    title = "" if args.front == "direct" else ", upstream front"
    lines = [f"## Envoy's instructions per request (callgrind{title})", "",
             f"`bench/instructions.py --front {args.front}`: each configuration of {front} as one Envoy "
             f"(one worker) under valgrind's callgrind; {args.requests:,} of the bench's requests, one "
             f"at a time on one connection, after {args.warmup:,} uncounted; every thread's "
             "instructions, V8's generated code included, divided by the requests. Deterministic "
             "to within a fraction of a percent, where CPU time moves by ten.", "",
             "| config | what | instructions / request | vs minimal |", "|---|---|---:|---:|"]
    base = results.get("minimal")
    for kind in configs:
        vs = f"{results[kind] / base:.3f}× ({results[kind] - base:+,.0f})" if base else "–"
        lines.append(f"| {kind} | {bench.WHAT.get(kind, kind)} | {results[kind]:,.0f} | {vs} |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"args": vars(args), "instructions_per_request": results}, f, indent=1)
    print(text)


if __name__ == "__main__":
    try:
        main()
    except bench.BenchError as e:
        print(f"bench/instructions.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
