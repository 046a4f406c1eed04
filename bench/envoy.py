#!/usr/bin/env python3
"""Envoy under real load: what Switchyard costs a proxy, next to a proxy without it.

Four front Envoys, each its own process with one worker, all pinned to CPU 0, each on its own
loopback port; they differ only in their HTTP filters and the one route:

  plain       no wasm filter; the route goes to cluster `stable`
  minimal     dist/minimal-filter.wasm, which only sets `x-switchyard-cluster: fixture`;
              the route takes the cluster from that header
  switchyard  dist/switchyard.wasm with bench/envoy/switchyard.json; the route takes the
              cluster from the cluster header, as in envoy/envoy.yaml but without its mirror
              policy: the filter's work in full (the shadow sample is drawn and the shadow
              header written), without the copies Envoy would send
  weighted    no wasm filter; Envoy's own weighted_clusters, 90 stable / 10 canary
  mirrored    switchyard with envoy/envoy.yaml's mirror policy: what Envoy's copies of the
              requests picked for shadow add

With `--front direct` (the second view) the front Envoys answer 200 themselves from
`direct_response` on the route the filter's header selects (404 where no header was written, which
fails the run), so no upstream request is made and the filter's cost is all that differs between
configurations: the harshest honest view of it. The routing check then reads the filter's own
counters of requests by target instead of Envoy's cluster stats.

`--configs` also takes `probe:<calls>`: dist/probe-filter.wasm (bench/probe) making the host calls
listed, `/`-separated (`probe:pairs/add*5`), before it sets the cluster header as the minimal
filter does: what each host call costs in V8.

(`--configs` also takes `unmatched`: Switchyard with the same configuration but no route that
matches the request's host, the filter's floor; and `posted-1k`, `compared-1k`, `posted-64k`,
`compared-64k`: Switchyard sent POSTs with a 1 KiB or 64 KiB JSON body, without a shadow and with
every request compared (`shadow.compare`, percent 100, to cluster `shadow`), which is what a
compared request costs.)

The upstreams are one more Envoy (one worker, pinned to CPU 1) answering 200 from
`direct_response` on one port per cluster, so no Python is on the request path. wrk, pinned to
CPU 1 as well, sends keep-alive HTTP/1.1 requests with browser-like headers and cookies whose user
id changes with every request (bench/envoy/request.lua). The runs alternate, A B C D, B C D A, …,
each round with fresh front Envoys (one process of a configuration can stay a few microseconds
per request faster or slower than another for its whole life), a warm-up run each, and the order
rotated. For each run: requests/s and p50/p99 latency from wrk,
and the CPU time the front Envoy spent (all its threads, from /proc/<pid>/task/*/schedstat)
divided by the requests completed. Any non-2xx answer or socket error fails the bench, and so
does a front Envoy that did not route where its configuration says (cluster stats from its admin).

The result is a Markdown fragment (default target/bench/envoy.md, also printed) and the raw
numbers beside it as JSON. The budget (Envoy CPU per request with Switchyard at most 1.15x that
with the minimal filter) is reported PASS or FAIL; the exit code does not depend on it.

Python 3 standard library only.
"""

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CONFIGS = ["plain", "minimal", "switchyard", "weighted", "mirrored"]
EXTRA_CONFIGS = ["unmatched", "posted-1k", "compared-1k", "posted-64k", "compared-64k"]
# The body size of the POST configurations.
BODIES = {"posted-1k": 1024, "compared-1k": 1024, "posted-64k": 65536, "compared-64k": 65536}
WHAT = {
    "plain": "no wasm filter, route to `stable`",
    "minimal": "wasm filter that only sets the cluster header",
    "switchyard": "Switchyard, matched route",  # completed from the configuration: describe()
    "weighted": "no wasm filter, Envoy `weighted_clusters` 90/10",
    "unmatched": "Switchyard, no route matches the request",
    "mirrored": "Switchyard, and Envoy mirrors the requests it picks for shadow",
    "posted-1k": "Switchyard, POST with a 1 KiB body, no shadow",
    "compared-1k": "Switchyard, POST with a 1 KiB body, every request compared",
    "posted-64k": "Switchyard, POST with a 64 KiB body, no shadow",
    "compared-64k": "Switchyard, POST with a 64 KiB body, every request compared",
}
UPSTREAMS = ["stable", "canary", "shadow", "fixture", "default"]
HOST = "shop.example.com"
PATH = "/checkout/cart?step=2"
USERS = 100000
BUDGET = 1.10  # Envoy CPU per request: switchyard / minimal
FRONT_CPU, LOAD_CPU = 0, 1
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


class BenchError(Exception):
    """The bench could not measure what it claims to; the message says why."""


# ---------------------------------------------------------------------------------------------
# Envoy configurations


def address(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def listener(name, http_filters, route_config, **hcm):
    return {
        "name": name,
        "address": address(0),  # any free port; read back from the admin's /listeners
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {"@type": HCM, "stat_prefix": name, "http_filters": http_filters,
                             "route_config": route_config, **hcm},
        }]}],
    }


def bootstrap(listeners, clusters=()):
    return {
        "admin": {"address": address(0)},
        "static_resources": {"listeners": listeners, "clusters": list(clusters)},
    }


BUFFER = {"name": "envoy.filters.http.buffer", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
    "max_request_bytes": 1 << 20}}


def upstream_config():
    """One listener per cluster, each answering 200 with a small body of its own once it has the
    whole request (as a server does; `direct_response` alone answers before a body arrives)."""
    return bootstrap([
        listener(name, [BUFFER, ROUTER], {"virtual_hosts": [{
            "name": name, "domains": ["*"],
            "routes": [{"match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": f"{name} ok\n"}}}],
        }]})
        for name in UPSTREAMS
    ])


def wasm_filter(name, wasm, configuration=None):
    config = {
        "name": name,
        "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                      "code": {"local": {"filename": os.path.join(REPO, wasm)}}},
    }
    if configuration is not None:
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                   "value": json.dumps(configuration)}
    return {"name": name, "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": config}}


# The routes of envoy/envoy.yaml: the cluster the filter chose, else the default cluster.
def header_routes(mirror):
    route = {"cluster_header": "x-switchyard-cluster"}
    if mirror:
        route["request_mirror_policies"] = [{
            "cluster_header": "x-switchyard-shadow",
            "request_headers_mutations": [
                {"append": {"header": {"key": "x-switchyard-mirrored", "value": "true"}}}],
        }]
    return [
        {"match": {"prefix": "/", "headers": [{"name": "x-switchyard-cluster", "present_match": True}]},
         "route": route},
        {"match": {"prefix": "/"}, "route": {"cluster": "default"}},
    ]


def unmatched(configuration):
    """The same configuration with every route's hosts moved away from the request's host."""
    config = copy.deepcopy(configuration)
    for route in config["routes"]:
        hosts = route.get("match", {}).get("hosts")
        if hosts:
            route["match"]["hosts"] = [h.replace("example.com", "example.net") for h in hosts]
    config["revision"] = config.get("revision", "bench") + "-unmatched"
    return config


def compared(configuration):
    """The same configuration, its matched route's requests without a shadow (None) or all
    compared with cluster `shadow`."""
    config = copy.deepcopy(configuration)
    route = matched_route(config)
    route.pop("shadow", None)
    return config


def compared_config(configuration):
    config = compared(configuration)
    matched_route(config)["shadow"] = {"cluster": "shadow", "percent": 100, "methods": ["POST"],
                                       "compare": {"max_body_bytes": 1 << 20}}
    return config


def answer_directly(routes, unmatched=False):
    """The same routes answering 200 from `direct_response` where they would forward, and 404
    where they would fall back to `default` (the filter wrote no cluster header), unless no
    header is what the configuration expects (`unmatched`)."""
    out = []
    for route in routes:
        action = route["route"]
        status = 404 if action.get("cluster") == "default" and not unmatched else 200
        out.append({"match": route["match"],
                    "direct_response": {"status": status, "body": {"inline_string": "ok\n"}}})
    return out


def probe_calls(kind):
    """`probe:pairs/add*5` -> `pairs add*5`, the probe filter's configuration."""
    return kind.split(":", 1)[1].replace("/", " ")


def front_config(kind, upstream_ports, switchyard_config, direct=False):
    """Configurations share everything but the HTTP filters and the route; `direct` answers from
    the front Envoy itself instead of an upstream."""
    if kind.startswith("probe:"):
        filters = [wasm_filter("probe", "dist/probe-filter.wasm", None)]
        filters[0]["typed_config"]["config"]["configuration"] = {
            "@type": "type.googleapis.com/google.protobuf.StringValue", "value": probe_calls(kind)}
        routes = header_routes(False)
    elif kind.startswith("posted-"):
        filters = [wasm_filter("switchyard", "dist/switchyard.wasm", compared(switchyard_config))]
        routes = header_routes(False)
    elif kind.startswith("compared-"):
        filters = [wasm_filter("switchyard", "dist/switchyard.wasm", compared_config(switchyard_config))]
        routes = header_routes(False)
    elif kind == "plain":
        filters, routes = [], [{"match": {"prefix": "/"}, "route": {"cluster": "stable"}}]
    elif kind == "minimal":
        filters, routes = [wasm_filter("minimal", "dist/minimal-filter.wasm")], header_routes(False)
    elif kind in ("switchyard", "mirrored"):
        filters = [wasm_filter("switchyard", "dist/switchyard.wasm", switchyard_config)]
        routes = header_routes(kind == "mirrored")
    elif kind == "unmatched":
        filters = [wasm_filter("switchyard", "dist/switchyard.wasm", unmatched(switchyard_config))]
        routes = header_routes(True)
    elif kind == "weighted":
        filters = []
        routes = [{"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
            {"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]}}}]
    else:
        raise ValueError(kind)
    if direct:
        routes = answer_directly(routes, kind == "unmatched")
    clusters = [{
        "name": name,
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name,
                            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}]}]},
    } for name, port in upstream_ports.items()]
    return bootstrap([listener(
        "front", filters + [ROUTER],
        {"name": "front", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
        use_remote_address=True,
    )], clusters)


# ---------------------------------------------------------------------------------------------
# Processes


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


class Envoy:
    """One Envoy process with one worker, pinned to one CPU, admin and listeners on free ports."""

    def __init__(self, binary, name, config, cpu, workdir):
        self.name = name
        base = os.path.join(workdir, "".join(c if c.isalnum() or c in "-_" else "_" for c in name))
        self.config_path, self.admin_path, self.log_path = base + ".json", base + ".admin", base + ".log"
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=1)
        if os.path.exists(self.admin_path):
            os.remove(self.admin_path)
        self.admin = None
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(cpu), binary, "-c", self.config_path, "--concurrency", "1",
                 "--disable-hot-restart", "--admin-address-path", self.admin_path, "-l", "warning"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"envoy {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.admin is None and os.path.exists(self.admin_path):
                with open(self.admin_path) as f:
                    text = f.read().strip()
                if text:
                    self.admin = "http://" + text
            if self.admin:
                try:
                    if http_get(self.admin + "/ready", 1.0)[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise BenchError(f"envoy {self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def ports(self):
        """{listener name: port}."""
        _, text = http_get(self.admin + "/listeners?format=json")
        return {s["name"]: s["local_address"]["socket_address"]["port_value"]
                for s in json.loads(text)["listener_statuses"]}

    def counters(self):
        """The counters a run is checked with: per cluster, per response class, the filter's own."""
        _, text = http_get(self.admin + "/stats?usedonly&filter=" + urllib.parse.quote(
            r"^(cluster\.[^.]+\.upstream_rq_total|http\.front\.downstream_rq_[1-5]xx|wasmcustom\..*)$"))
        out = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(": ")
            if value.isdigit():
                out[name] = int(value)
        return out

    def cpu_ns(self):
        """CPU time of all the process's threads so far, from the kernel's schedstat."""
        total = 0
        task_dir = f"/proc/{self.proc.pid}/task"
        if self.proc.poll() is not None or not os.path.isdir(task_dir):
            raise BenchError(f"envoy {self.name} is gone:\n{self.log_tail()}")
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that ended meanwhile
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def cpu_ticks():
    """{cpu index: (busy ticks, steal ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in fields]
                idle = v[3] + v[4]
                steal = v[7] if len(v) > 7 else 0
                out[int(name[3:])] = (sum(v[:8]) - idle - steal, steal)
    return out


# ---------------------------------------------------------------------------------------------
# Runs


def run_wrk(port, seconds, connections, body=None):
    cmd = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
           "--latency", "-s", os.path.join(HERE, "envoy", "request.lua"),
           f"http://127.0.0.1:{port}{PATH}", "--", HOST, str(USERS)] + ([str(body)] if body else [])
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 30} s") from None
    for line in run.stdout.splitlines():
        if line.startswith("BENCH_WRK "):
            return json.loads(line[len("BENCH_WRK "):])
    raise BenchError(f"wrk gave no result (exit {run.returncode}):\n{run.stdout}{run.stderr}")


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def targets(counters):
    """{target: requests} from the filter's own counters (`switchyard_requests_total;…;target=…`)."""
    out = {}
    for name, n in counters.items():
        if name.startswith("wasmcustom.switchyard_requests_total;") and ";target=" in name:
            target = name.split(";target=", 1)[1].split(";", 1)[0]
            out[target] = out.get(target, 0) + n
    return out


def check_run(kind, wrk, counters, direct=False):
    """Fails loudly on any error answer, and on routing that is not what the configuration says."""
    errors = {k: wrk[k] for k in ("connect", "read", "write", "status", "timeout") if wrk[k]}
    if errors:
        raise BenchError(f"{kind}: wrk saw errors {errors} in {wrk['requests']} requests")
    if wrk["requests"] == 0:
        raise BenchError(f"{kind}: no request completed")
    bad = {k: v for k, v in counters.items()
           if k.startswith("http.front.downstream_rq_") and not k.endswith("_2xx")}
    if bad:
        raise BenchError(f"{kind}: Envoy answered non-2xx: {bad}")
    if direct:
        # No upstream: every answer was 200 only where a header selected a route; a Switchyard
        # front must also have split by target as configured (its counters lag by up to a second).
        sent = targets(counters)
        if kind in ("switchyard", "mirrored") and not {"stable", "canary"} <= set(sent):
            raise BenchError(f"{kind}: the filter counted targets {sent}, expected stable and canary")
        return sent
    if kind.startswith("probe:"):
        kind = "minimal"
    sent = {k.split(".")[1]: v for k, v in counters.items() if k.endswith(".upstream_rq_total")}
    expected = {"plain": {"stable"}, "minimal": {"fixture"}, "switchyard": {"stable", "canary"},
                "mirrored": {"stable", "canary", "shadow"},
                "weighted": {"stable", "canary"}, "unmatched": {"default"},
                "posted-1k": {"stable", "canary"}, "posted-64k": {"stable", "canary"},
                "compared-1k": {"stable", "canary", "shadow"},
                "compared-64k": {"stable", "canary", "shadow"}}[kind]
    allowed = expected
    missing = expected - set(sent)
    stray = set(sent) - allowed
    if missing or stray:
        raise BenchError(f"{kind}: routed to {sent}, expected {sorted(expected)}")
    return sent


def measure(kind, envoy, port, seconds, connections, direct=False):
    before = envoy.counters()
    ticks0, cpu0 = cpu_ticks(), envoy.cpu_ns()
    wrk = run_wrk(port, seconds, connections, BODIES.get(kind))
    cpu1, ticks1 = envoy.cpu_ns(), cpu_ticks()
    counters = delta(envoy.counters(), before)
    sent = check_run(kind, wrk, counters, direct)
    tick_ns = 1e9 / os.sysconf("SC_CLK_TCK")
    wall_ns = wrk["duration_us"] * 1e3
    busy = {c: (ticks1[c][0] - ticks0[c][0]) * tick_ns / wall_ns for c in ticks1}
    steal = {c: (ticks1[c][1] - ticks0[c][1]) * tick_ns / wall_ns for c in ticks1}
    envoy_ns = cpu1 - cpu0
    return {
        "config": kind,
        "requests": wrk["requests"],
        "rps": wrk["requests"] / (wrk["duration_us"] / 1e6),
        "p50_us": wrk["p50_us"],
        "p99_us": wrk["p99_us"],
        "cpu_us_per_request": envoy_ns / wrk["requests"] / 1e3,
        "envoy_cpu_share": envoy_ns / wall_ns,
        # What else ran on the front Envoy's CPU (other processes, interrupts), and how busy the
        # load CPU was, as shares of the run: contention shows here.
        "other_on_front_cpu": max(0.0, busy.get(FRONT_CPU, 0.0) - envoy_ns / wall_ns),
        "load_cpu_busy": busy.get(LOAD_CPU, 0.0),
        "steal": sum(steal.values()),
        "clusters": sent,
        "filter_counters": {k: v for k, v in counters.items() if k.startswith("wasmcustom.")},
    }


# ---------------------------------------------------------------------------------------------
# Report


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def summarize(results, configs):
    summary = {}
    for kind in configs:
        runs = results[kind]
        clusters = {}
        for r in runs:
            for c, n in r["clusters"].items():
                clusters[c] = clusters.get(c, 0) + n
        summary[kind] = {
            "rps": median(runs, "rps"), "p50_us": median(runs, "p50_us"), "p99_us": median(runs, "p99_us"),
            "cpu_us": median(runs, "cpu_us_per_request"),
            "cpu_min": min(r["cpu_us_per_request"] for r in runs),
            "cpu_max": max(r["cpu_us_per_request"] for r in runs),
            "other_on_front_cpu": median(runs, "other_on_front_cpu"),
            "load_cpu_busy": median(runs, "load_cpu_busy"),
            "clusters": clusters,
        }
    return summary


def paired(results, a, b):
    """Per-round ratios a/b of CPU per request (rounds alternate, so a round is a fair pair)."""
    return [x["cpu_us_per_request"] / y["cpu_us_per_request"] for x, y in zip(results[a], results[b])]


def share(clusters, name):
    total = sum(n for c, n in clusters.items() if c != "shadow")
    return clusters.get(name, 0) / total if total else 0.0


def matched_route(configuration):
    """The route the benchmark's requests match (hosts and path only, enough for the report)."""
    path = PATH.split("?")[0]
    for route in configuration.get("routes", []):
        m = route.get("match", {})
        hosts = m.get("hosts", ["*"])
        if not any(h == "*" or h == HOST or (h.startswith("*.") and HOST.endswith(h[1:])) for h in hosts):
            continue
        if path.startswith(m.get("path_prefix", "/")) and m.get("path_exact", path) == path:
            return route
    return {}


def describe(configuration):
    """`Switchyard, matched route: canary 10% + 1 experiment + shadow 1% on `cookie:uid``."""
    route = matched_route(configuration)
    parts, keys = [], set()
    if "canary" in route:
        canary = route["canary"]
        if "ramp" in canary:
            steps = canary["ramp"]["steps"]
            parts.append("canary ramp " + " → ".join(f"{st['weight']:g}%" for st in steps))
        else:
            parts.append(f"canary {canary['weight']:g}%")
        guard = canary.get("guard", {})
        if guard:
            latency = guard.get("latency", {})
            judged = [f"p{latency.get('quantile', 0.99) * 100:g} ≤ {latency['max_ratio']:g}× base"
                      if "max_ratio" in latency else "",
                      f"≤ {latency['max_ms']:g} ms" if "max_ms" in latency else "",
                      f"5xx ≤ {guard['max_error_rate']:g}" if "max_error_rate" in guard else ""]
            parts.append("guard (" + ", ".join(j for j in judged if j) + ")")
        keys.update(canary.get("sticky", []))
    if route.get("experiments"):
        n = len(route["experiments"])
        parts.append(f"{n} experiment{'s' if n > 1 else ''}")
        for e in route["experiments"]:
            keys.update(e.get("key", []))
    if "shadow" in route:
        parts.append(f"shadow {route['shadow']['percent']:g}%")
        keys.update(route["shadow"].get("key", []))
    on = f" on {', '.join(f'`{k}`' for k in sorted(keys))}" if keys else ""
    routes = configuration.get("routes", [])
    compared = sum(1 for r in routes if "compare" in r.get("shadow", {}))
    table = f"; {len(routes)} routes" + (f", {compared} with a shadow comparison" if compared else "")
    return f"Switchyard, matched route: {' + '.join(parts) or 'stable only'}{on}{table}"


def describe_configs(configs, switchyard_config):
    """Completes WHAT for the configurations of a run: Switchyard's from its configuration, each
    probe's from the calls it makes."""
    WHAT["switchyard"] = describe(switchyard_config)
    for kind in configs:
        if kind.startswith("probe:"):
            WHAT[kind] = f"probe filter: `{probe_calls(kind)}`, then the cluster header"


def markdown(summary, results, configs, args, env):
    s = summary
    posts = all(kind in BODIES for kind in configs)
    direct = env.get("front") == "direct"
    title = "## Envoy under load: requests compared with a shadow" if posts else "## Envoy under load"
    if direct:
        title += ", answering from `direct_response`"
    lines = [title, ""]
    if direct:
        lines.append("The front Envoys answer 200 themselves (`direct_response`) on the route the "
                     "filter's cluster header selects, and 404 where it wrote none, which fails the "
                     "run: no upstream request is made, so the filters are all that differs. This is "
                     "the harshest honest view of what the filter costs; the view above (an upstream "
                     "behind the front) is what a proxy pays in practice.")
        lines.append("")
    if posts:
        lines.append("POSTs with a JSON body of the size given, to the benchmark's matched route: "
                     "`posted-*` without a shadow, `compared-*` with every request sampled for "
                     "`shadow.compare` (percent 100, bodies compared byte for byte) with the cluster "
                     "`shadow`. The upstreams answer a few bytes of their own, so every comparison is a "
                     "mismatch (logged at most once a second). The difference is what a compared request "
                     "costs the proxy: the copy of the body, Envoy's call to the shadow (a whole upstream "
                     "request through its async client) and the comparison.")
        lines.append("")
    lines.append(f"Envoy {env['envoy_version']}, one worker per Envoy, {args.rounds} rounds of "
                 f"{args.seconds} s per configuration, {args.connections} keep-alive connections "
                 f"({env['date']}). Medians over rounds; CPU range is the lowest and highest round.")
    lines.append("")
    lines.append("| config | what | req/s | p50 | p99 | Envoy CPU / request | range | vs plain |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    base = s.get("plain", {}).get("cpu_us")
    for kind in configs:
        r = s[kind]
        vs = f"{r['cpu_us'] / base:.2f}×" if base else "–"
        lines.append(f"| {kind} | {WHAT[kind]} | {r['rps']:,.0f} | {r['p50_us'] / 1e3:.2f} ms | "
                     f"{r['p99_us'] / 1e3:.2f} ms | {r['cpu_us']:.1f} µs | "
                     f"{r['cpu_min']:.1f}–{r['cpu_max']:.1f} | {vs} |")
    lines.append("")
    ratios = [("switchyard", "minimal"), ("minimal", "plain"), ("switchyard", "plain"),
              ("weighted", "plain"), ("mirrored", "switchyard"), ("unmatched", "minimal"),
              ("unmatched", "plain"), ("compared-1k", "posted-1k"), ("compared-64k", "posted-64k")]
    ratios += [(kind, "minimal") for kind in configs if kind.startswith("probe:")]
    shown = [(a, b) for a, b in ratios if a in s and b in s]
    if shown:
        lines.append("| Envoy CPU per request | ratio of medians | per round | extra per request |")
        lines.append("|---|---:|---:|---:|")
        for a, b in shown:
            per_round = paired(results, a, b)
            lines.append(f"| {a} / {b} | {s[a]['cpu_us'] / s[b]['cpu_us']:.3f} | "
                         f"{min(per_round):.3f}–{max(per_round):.3f} | "
                         f"{s[a]['cpu_us'] - s[b]['cpu_us']:+.1f} µs |")
        lines.append("")
    if "switchyard" in s and "minimal" in s:
        ratio = s["switchyard"]["cpu_us"] / s["minimal"]["cpu_us"]
        verdict = "PASS" if ratio <= BUDGET else "FAIL"
        per_round = paired(results, "switchyard", "minimal")
        lines.append(f"**Budget: Envoy CPU per request with Switchyard at most {BUDGET}× the minimal "
                     f"filter's (median over rounds): {ratio:.3f}×, {verdict}** (rounds "
                     f"{min(per_round):.3f}–{max(per_round):.3f}).")
        lines.append("")
    notes = []
    for kind in ("switchyard", "weighted"):
        if kind in s:
            c = s[kind]["clusters"]
            verb = "counted" if direct else "sent"
            note = f"{kind} {verb} {share(c, 'canary'):.1%} of requests to canary"
            if c.get("shadow"):
                note += f" and mirrored {c['shadow'] / sum(n for k, n in c.items() if k != 'shadow'):.1%} to shadow"
            notes.append(note)
    other = max(s[k]["other_on_front_cpu"] for k in configs)
    load = statistics.median(s[k]["load_cpu_busy"] for k in configs)
    notes.append(f"other work on the front Envoy's CPU: at most {other:.0%} of a run (median per config)"
                 + (" — the machine was busy with other work, so CPU per request is inflated "
                    "(cache and wake-ups); compare only within this table" if other > 0.10 else "")
                 + f"; the load CPU (wrk and the upstream Envoy) was {load:.0%} busy")
    lines.append("Checks: every answer 2xx; " + "; ".join(notes) + ".")
    lines.append("")
    shadow = matched_route(env["switchyard_config"]).get("shadow", {}).get("percent", 0)
    mirror = ("without the mirror policy of envoy/envoy.yaml, so that both wasm filters send the "
              "upstreams the same traffic; mirrored: the same with the mirror policy, so the "
              f"{shadow:g}% of requests picked for shadow are also copied to the `shadow` cluster")
    if direct:
        lines.append("Method: as for the view above (`bench/envoy.py --front direct`): the same "
                     "filters, configuration, request and alternation of fresh Envoys, the front "
                     "Envoy's CPU per request; no upstream Envoy takes part.")
        lines.append("")
        return "\n".join(lines)
    lines.append(
        "Method: `bench/envoy.py`. Each configuration is its own Envoy process with `--concurrency 1`, "
        f"all pinned to CPU {FRONT_CPU} with `taskset`, on its own loopback port; they differ only in "
        "the HTTP filters and the route (plain: no filter, route to `stable`; minimal: "
        "`dist/minimal-filter.wasm`, route by `cluster_header`; switchyard: `dist/switchyard.wasm` with "
        f"`bench/envoy/switchyard.json` and the routes of envoy/envoy.yaml, {mirror}; weighted: Envoy's "
        "`weighted_clusters` 90/10). Wasm runs in V8 (`envoy.wasm.runtime.v8`); no access log. "
        f"The upstreams are another Envoy (one worker, CPU {LOAD_CPU}) answering 200 from "
        f"`direct_response`. `wrk -t1 -c{args.connections}`, also on CPU {LOAD_CPU}, sends keep-alive "
        f"HTTP/1.1 GETs to `{HOST}{PATH}` with browser headers and six cookies, the user id among "
        f"them changing with every request ({USERS:,} users; `bench/envoy/request.lua`). Every round "
        "starts fresh front Envoys (one process of a configuration can stay a few microseconds per "
        "request faster or slower than another of the same configuration for its whole life, so "
        "rounds of the same processes would not average that out), warms each up with a short run, "
        "and measures them in turn, the order rotated from round to round (A B C D, B C D A, …). "
        "Envoy CPU per request "
        "is the CPU time of all the front Envoy's threads during the run "
        "(`/proc/<pid>/task/*/schedstat`) divided by the requests wrk completed, so it does not "
        "depend on how busy the load CPU is; req/s and latency do (the load CPU is the bottleneck, "
        "so the Envoy under test is not saturated, as a proxy mostly is not). Any non-2xx answer, "
        "socket error or request routed to a cluster the configuration does not name fails the bench."
    )
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def envoy_version(text):
    """`envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL` -> `1.40.0`."""
    words = text.split("version:", 1)[-1].split()
    parts = words[0].split("/") if words else []
    return parts[1] if len(parts) > 1 else text.strip()


def find_envoy(given):
    for candidate in (given, os.environ.get("ENVOY"), shutil.which("envoy"),
                      os.path.join(REPO, ".venv", "bin", "envoy")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise BenchError("no Envoy: give --envoy, set ENVOY, or run `make envoy`")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="rounds, each with fresh Envoys (default: %(default)s)")
    p.add_argument("--seconds", type=int, default=5, help="seconds per run (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per configuration "
                   "and round (default: %(default)s)")
    p.add_argument("--connections", type=int, default=10, help="wrk connections (default: %(default)s)")
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help=f"comma-separated, in run order, from {', '.join(CONFIGS + EXTRA_CONFIGS)} "
                        "(default: %(default)s)")
    p.add_argument("--switchyard-config", default=os.path.join(HERE, "envoy", "switchyard.json"),
                   help="Switchyard configuration for `switchyard` and `unmatched` (default: %(default)s)")
    p.add_argument("--front", choices=["upstream", "direct"], default="upstream",
                   help="upstream: the front Envoys forward to an upstream Envoy; direct: they "
                        "answer from direct_response, so only the filters differ (default: %(default)s)")
    p.add_argument("--envoy", help="Envoy binary (default: $ENVOY, envoy on PATH, .venv/bin/envoy)")
    p.add_argument("--out", default=os.path.join(REPO, "target", "bench", "envoy.md"),
                   help="Markdown fragment to write; raw numbers go beside it as .json (default: %(default)s)")
    args = p.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS + EXTRA_CONFIGS and not c.startswith("probe:")]
    direct = args.front == "direct"
    if direct:
        unknown += [c for c in configs if c == "weighted" or c in BODIES]
    if unknown or not configs or args.rounds < 1 or args.seconds < 1 or args.connections < 1:
        p.error(f"bad arguments (unknown configs: {unknown})" if unknown else "bad arguments")
    warmup = args.warmup

    for tool in ("taskset", "wrk"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is missing (make bench installs wrk)")
    if len(os.sched_getaffinity(0) & {FRONT_CPU, LOAD_CPU}) < 2:
        raise BenchError(f"CPUs {FRONT_CPU} and {LOAD_CPU} must both be available")
    wasms = ["dist/minimal-filter.wasm", "dist/switchyard.wasm"]
    if any(c.startswith("probe:") for c in configs):
        wasms.append("dist/probe-filter.wasm")
    for wasm in wasms:
        if not os.path.exists(os.path.join(REPO, wasm)):
            raise BenchError(f"{wasm} is missing: make wasm fixtures")
    binary = find_envoy(args.envoy)
    with open(args.switchyard_config) as f:
        switchyard_config = json.load(f)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    env = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "envoy_version": envoy_version(version),
        "kernel": platform.release(),
        "switchyard_config": switchyard_config,
    }
    describe_configs(configs, switchyard_config)
    env["front"] = args.front

    workdir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "envoy")
    os.makedirs(workdir, exist_ok=True)
    started = []
    try:
        upstream = Envoy(binary, "upstream", upstream_config(), LOAD_CPU, workdir)
        started.append(upstream)
        upstream.wait_ready()
        upstream_ports = upstream.ports()
        results = {kind: [] for kind in configs}
        for n in range(1, args.rounds + 1):
            # Fresh front Envoys every round: one process can be a few microseconds per request
            # faster or slower than another of the same configuration for its whole life (where
            # its code and V8's landed), which alternating runs of the same processes would
            # never average out. The order turns too, so that no configuration always goes first.
            order = configs[(n - 1) % len(configs):] + configs[:(n - 1) % len(configs)]
            fronts = {}
            for kind in order:
                fronts[kind] = Envoy(binary, kind, front_config(kind, upstream_ports, switchyard_config, direct),
                                     FRONT_CPU, workdir)
                started.append(fronts[kind])
            for kind in order:
                fronts[kind].wait_ready()
            for kind in order:
                port = fronts[kind].ports()["front"]
                if warmup > 0:
                    measure(kind, fronts[kind], port, warmup, args.connections, direct)
                r = measure(kind, fronts[kind], port, args.seconds, args.connections, direct)
                results[kind].append(r)
                print(f"round {n}  {kind:<10} {r['rps']:>9,.0f} req/s  p50 {r['p50_us'] / 1e3:5.2f} ms  "
                      f"p99 {r['p99_us'] / 1e3:5.2f} ms  {r['cpu_us_per_request']:6.1f} µs CPU/req  "
                      f"(other on CPU {FRONT_CPU}: {r['other_on_front_cpu']:.0%}, "
                      f"CPU {LOAD_CPU} busy: {r['load_cpu_busy']:.0%})", file=sys.stderr, flush=True)
            for kind in order:
                fronts[kind].stop()
                started.remove(fronts[kind])
    finally:
        for envoy in reversed(started):
            envoy.stop()

    summary = summarize(results, configs)
    text = markdown(summary, results, configs, args, env)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"env": env, "args": vars(args), "summary": summary, "runs": results}, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench/envoy.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
