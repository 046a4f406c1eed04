#!/usr/bin/env python3
"""The traffic side of `make demo` (envoy/demo.sh starts and stops Envoy).

Sends requests from simulated users to Envoy with Switchyard, then reads back what happened from
the responses: the upstream that answered (its body), the decision (the `x-switchyard-decision`
header, on with `debug`), and what the upstream received (`x-echo-*`); and from Envoy's stats, what
the shadow upstream received. It prints each share beside the value the configuration asks for,
pushes the second configuration with `switchyard push`, and does it all again. Then it pushes a
canary ramp with short holds and shows the split at each step, then makes the canary's upstream
slow (Envoy's fault filter, through the admin runtime) and shows the latency guard halting it.
Last, it puts a next model in shadow with its answers compared with the live model's, and shows
the comparison's results and differing fields beside what the hashing predicts.

The predictions come from the module's own engine through `switchyard explain --batch`, and the
pushes go through `switchyard push` (target/release/switchyard, `make cli`). Python 3 standard
library only; two threads, each with one keep-alive connection.
"""

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS = 2
MARKER = "x-switchyard-mirrored"

# What the simulated users do, with weights: (method, path).
MIX = [(("GET", "/checkout/cart"), 50), (("POST", "/checkout/pay"), 15),
       (("GET", "/web/"), 25), (("GET", "/static/logo.png"), 10)]


# ---------------------------------------------------------------------------------------------
# Traffic


class Response:
    __slots__ = ("user", "method", "path", "status", "served_by", "decision", "echo_target", "echo_ranker")


def decision_fields(value):
    """`route=checkout;target=canary;...;exp.ranker=control` as a dict."""
    return dict(part.split("=", 1) for part in value.split(";") if "=" in part)


def send_all(front, requests, done, results):
    url = urllib.parse.urlsplit(front)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    for user, method, path in requests:
        body = b'{"items": 1}' if method == "POST" else None
        headers = {"Cookie": f"theme=dark; uid={user}"}
        if body:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                text = resp.read().decode(errors="replace").strip()
                break
            except (http.client.HTTPException, OSError):
                conn.close()  # the server closed a keep-alive connection; one retry
                if attempt == 2:
                    raise
        r = Response()
        r.user, r.method, r.path, r.status, r.served_by = user, method, path, resp.status, text
        r.decision = decision_fields(resp.getheader("x-switchyard-decision", ""))
        r.echo_target = resp.getheader("x-echo-target", "")
        r.echo_ranker = resp.getheader("x-echo-ranker", "")
        results.append(r)
        done[0] += 1
    conn.close()


def drive(front, users, count, seed):
    rng = random.Random(seed)
    choices, weights = zip(*MIX)
    plan = [(rng.choice(users),) + rng.choices(choices, weights)[0] for _ in range(count)]
    results = [[] for _ in range(THREADS)]
    done = [[0] for _ in range(THREADS)]
    errors = []

    def worker(i):
        try:
            send_all(front, plan[i::THREADS], done[i], results[i])
        except Exception as e:  # reported below; the demo fails
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    tty = sys.stdout.isatty()
    next_line = 0.25
    while any(t.is_alive() for t in threads):
        time.sleep(0.1)
        n = sum(d[0] for d in done)
        elapsed = time.monotonic() - start
        line = f"  sending {count} requests as {len(users)} users ({THREADS} connections): " \
               f"{n}/{count}, {n / elapsed:.0f} requests/s"
        if tty:
            print("\r" + line, end="", flush=True)
        elif n / count >= next_line:
            print(line, flush=True)
            next_line += 0.25
    elapsed = time.monotonic() - start
    if tty:
        print("\r" + " " * 100 + "\r", end="")
    if errors:
        raise SystemExit(f"demo: traffic failed: {errors[0]!r}")
    return [r for rs in results for r in rs], elapsed


# ---------------------------------------------------------------------------------------------
# Envoy's stats


def stats(admin, prefix):
    url = f"{admin}/stats?filter=^{urllib.parse.quote(prefix)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            key, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[key] = int(value)
        return out


def shadow_arrivals(admin, cluster):
    """Requests the shadow upstream answered: with the marker (2xx) and without (4xx)."""
    s = stats(admin, f"http.{cluster}.downstream_rq_")
    return s.get(f"http.{cluster}.downstream_rq_2xx", 0), s.get(f"http.{cluster}.downstream_rq_4xx", 0)


# ---------------------------------------------------------------------------------------------
# What the configuration asks for, and what the module's own engine decides for these very users
# (`switchyard explain --batch`: the reader, compiler and engine the module runs, natively)

SWITCHYARD = os.path.join(os.path.dirname(HERE), "target", "release", "switchyard")


def push(args, config_path, allow_unsafe=False):
    """`switchyard push`: check, diff against what Envoy has, write, wait for Envoy's verdict."""
    command = [SWITCHYARD, "push", config_path, "--ecds", args.ecds_file, "--wasm", args.wasm,
               "--admin", args.admin] + (["--allow-unsafe"] if allow_unsafe else [])
    run = subprocess.run(command, capture_output=True, text=True)
    for line in (run.stderr + run.stdout).splitlines():
        print(f"  switchyard push: {line.removeprefix('switchyard push: ')}")
    return run.returncode


def explain(config_path, requests, at=None):
    """The engine's decision for each request `(user, method, path)` (cookies as the demo sends
    them), in order, read from `switchyard explain --batch` at the instant `at` (RFC 3339)."""
    lines = []
    for user, method, path in requests:
        request = {"path": path, "method": method, "cookies": ["theme=dark", f"uid={user}"],
                   "host": "127.0.0.1:10000"}
        if at:
            request["at"] = at
        lines.append(json.dumps(request))
    run = subprocess.run([SWITCHYARD, "explain", config_path, "--batch"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"demo: switchyard explain failed: {run.stderr.strip()}")
    return [json.loads(line) for line in run.stdout.splitlines()]


def predict_all(config_path, requests):
    """(cluster, target, {experiment: variant or None}) per request, None where the filter draws
    at random (a canary without a sticky key)."""
    config = json.load(open(config_path))
    experiments = {r["name"]: [e["name"] for e in r.get("experiments", [])] for r in config["routes"]}
    out = []
    for d in explain(config_path, requests):
        if not d["matched"] or d["reason"] == "random":
            out.append(None)
            continue
        cohorts = {name: d["cohorts"].get(name) for name in experiments.get(d["route"], [])}
        out.append((d["cluster"], d["target"], cohorts))
    return out


def active_colour(bg):
    at = bg.get("switch_at")
    if at and datetime.fromisoformat(at["at"].replace("Z", "+00:00")) <= datetime.now(timezone.utc):
        return at["active"]
    return bg["active"]


def configured_clusters(route):
    """[(cluster, target, share)] of the route's requests, when keys are spread evenly."""
    w = route.get("canary", {}).get("weight", 0) / 100
    rows = []
    if "blue_green" in route:
        bg = route["blue_green"]
        active = active_colour(bg)
        for colour in ("blue", "green"):
            rows.append([bg[colour], colour, (1 - w) if colour == active else 0.0])
        base = next(r for r in rows if r[1] == active)
    else:
        base = [route["stable"], "stable", 1 - w]
        rows.append(base)
    # The first experiment with a variant cluster takes its variants' share of the non-canary part.
    for e in route.get("experiments", []):
        if any("cluster" in v for v in e["variants"]):
            for v in e["variants"]:
                if "cluster" in v:
                    share = (1 - w) * enrolment(e) * v["weight"]
                    rows.append([v["cluster"], base[1], share])
                    base[2] -= share
            break
    if "canary" in route:
        rows.append([route["canary"]["cluster"], "canary", w])
    return rows


def enrolment(experiment):
    ns = experiment.get("namespace")
    return experiment.get("coverage", 1) * ((ns["end"] - ns["start"]) if ns else 1)


def pct(x):
    return f"{100 * x:.1f}%"


def conf(x):
    return f"{100 * x:g}%"


# ---------------------------------------------------------------------------------------------
# The tables

HEAD = f"{'requests':>9}{'share':>9}{'configured':>12}{'predicted':>11}"


def row(n, total, configured, predicted):
    predicted = "-" if predicted is None else pct(predicted / max(total, 1))
    return f"{n:>9}{pct(n / max(total, 1)):>9}{configured:>12}{predicted:>11}"


def report(title, config_path, results, elapsed, users, admin, shadow_before, explain_note):
    config = json.load(open(config_path))
    routes = {r["name"]: r for r in config["routes"]}
    by_route = defaultdict(list)
    for r in results:
        by_route[r.decision.get("route", "?")].append(r)
    failed = sum(r.status != 200 for r in results)
    revisions = Counter(r.decision.get("rev", "?") for r in results)
    print(f"\n{title}")
    print(f"  {len(results)} requests from {len(users)} users in {elapsed:.1f} s "
          f"({len(results) / elapsed:.0f}/s), {failed} failed; "
          + ", ".join(f"revision {rev} served {n}" for rev, n in revisions.most_common()))
    judged_requests = [r for name, got in by_route.items() if name in routes for r in got]
    guesses = predict_all(config_path, [(r.user, r.method, r.path) for r in judged_requests])
    predictions = {id(r): g for r, g in zip(judged_requests, guesses)}

    # Clusters and targets: the cluster is the upstream that answered, the target the filter's.
    print(f"\n  {'route':<10}{'cluster':<14}{'target':<9}{HEAD}")
    for name, route in routes.items():
        got = by_route.get(name, [])
        counts = Counter((r.served_by, r.decision.get("target", "?")) for r in got)
        guessed = [predictions[id(r)] for r in got]
        predicted = None if None in guessed else Counter(g[:2] for g in guessed)
        rows = [(c, t, conf(share)) for c, t, share in configured_clusters(route)]
        rows += [(c, t, "-") for c, t in counts if (c, t) not in {(c, t) for c, t, _ in rows}]
        label = name
        for cluster, target, configured in rows:
            p = None if predicted is None else predicted.get((cluster, target), 0)
            print(f"  {label:<10}{cluster:<14}{target:<9}"
                  f"{row(counts.get((cluster, target), 0), len(got), configured, p)}")
            label = ""
    unmatched = by_route.get("", [])
    for cluster, n in Counter(r.served_by for r in unmatched).items():
        print(f"  {'(none)':<10}{cluster:<14}{'-':<9}{n:>9}{pct(n / len(unmatched)):>9}"
              f"{'':>4}no route matched: Envoy's default route")

    # Experiments: the cohort the filter wrote.
    experiments = [(name, e) for name, route in routes.items() for e in route.get("experiments", [])]
    if experiments:
        print(f"\n  {'experiment':<24}{'variant':<9}{HEAD}")
        for route_name, e in experiments:
            got = by_route.get(route_name, [])
            counts = Counter(r.decision.get(f"exp.{e['name']}", "(none)") for r in got)
            guessed = [predictions[id(r)] for r in got]
            predicted = None if None in guessed else Counter(g[2][e["name"]] or "(none)" for g in guessed)
            shares = [(v["name"], enrolment(e) * v["weight"]) for v in e["variants"]]
            if enrolment(e) < 1:
                shares.append(("(none)", 1 - enrolment(e)))
            label = f"{route_name}.{e['name']}"
            for variant, share in shares:
                p = None if predicted is None else predicted.get(variant, 0)
                print(f"  {label:<24}{variant:<9}{row(counts.get(variant, 0), len(got), conf(share), p)}")
                label = ""

    # Shadow: requests the filter picked (at random: nothing to predict), and what arrived.
    for name, route in routes.items():
        if "shadow" not in route:
            continue
        sh = route["shadow"]
        got = by_route.get(name, [])
        picked = sum(r.decision.get("shadow") == "1" for r in got)
        marked, unmarked = wait_for_shadow(admin, sh["cluster"], shadow_before, picked)
        print(f"\n  {'shadow ' + name + ' → ' + sh['cluster']:<33}{HEAD}")
        methods = sh.get("methods", ["GET", "HEAD", "OPTIONS"])
        for method in sorted({r.method for r in got}):
            of = [r for r in got if r.method == method]
            n = sum(r.decision.get("shadow") == "1" for r in of)
            share = sh["percent"] / 100 if method in methods else 0
            print(f"  {'  ' + method + ' mirrored':<33}{row(n, len(of), conf(share), None)}")
        print(f"  {sh['cluster']} received {marked} copies marked {MARKER} (the filter picked "
              f"{picked}),\n  and {unmarked} requests without the marker")

    if explain_note:
        print("\n  predicted: what the module's engine decides for the users who sent these requests,\n"
              "  from `switchyard explain --batch`. Configured vs predicted is chance (which users\n"
              "  came); measured vs predicted would be a bug.")

    # Envoy followed every decision, upstreams saw the filter's headers, decisions match the hash.
    matched = [r for r in results if r.decision.get("route")]
    wrong = sum(r.served_by != r.decision.get("cluster") for r in matched)
    wrong += sum(r.served_by != "default" for r in unmatched)
    echo = sum((r.echo_target, r.echo_ranker) != (r.decision.get("target", ""), r.decision.get("exp.ranker", ""))
               for r in results)
    judged = [r for r in matched if predictions.get(id(r))]
    agree = sum(predictions[id(r)] == (r.decision.get("cluster"), r.decision.get("target"),
                                       {n: r.decision.get(f"exp.{n}") for n in predictions[id(r)][2]})
                for r in judged)
    print(f"\n  served by the cluster the decision named: {len(results) - wrong}/{len(results)}; "
          f"upstream received the target and cohort\n  headers as decided: {len(results) - echo}/{len(results)}; "
          f"decisions equal to the prediction: {agree}/{len(judged)}")
    return by_route, predictions


def wait_for_shadow(admin, cluster, before, picked, timeout=3.0):
    """Mirrored copies are sent alongside the request, and may land a moment after its response."""
    deadline = time.monotonic() + timeout
    while True:
        marked, unmarked = shadow_arrivals(admin, cluster)
        marked, unmarked = marked - before[cluster][0], unmarked - before[cluster][1]
        if marked >= picked or time.monotonic() > deadline:
            return marked, unmarked
        time.sleep(0.05)


def canary_users(config, by_route):
    """{route: {user: {in the canary, per request}}} for routes with a canary."""
    out = {}
    for route in config["routes"]:
        if "canary" in route:
            out[route["name"]] = {}
            for r in by_route.get(route["name"], []):
                out[route["name"]].setdefault(r.user, set()).add(r.decision.get("target") == "canary")
    return out


def in_canary(config_path, route, users):
    """Which of `users` the engine puts on `route`'s canary: {user: bool}."""
    path = route.get("match", {}).get("path_prefix", "/") + "cart"
    decisions = explain(config_path, [(u, "GET", path) for u in users])
    return {u: d["target"] == "canary" for u, d in zip(users, decisions)}


def stickiness(config_path, seen):
    config = json.load(open(config_path))
    for name, users in seen.items():
        route = next(r for r in config["routes"] if r["name"] == name)
        flip = sum(len(s) > 1 for s in users.values())
        on = sum(True in s for s in users.values())
        predicted = sum(in_canary(config_path, route, list(users)).values())
        print(f"  {name} users on the canary: {on}/{len(users)} = {pct(on / len(users))} "
              f"(configured {route['canary']['weight']:g}%, predicted {pct(predicted / len(users))}); "
              f"users who saw both sides: {flip}")


def moved(before_path, after_path, before, after):
    before_cfg, after_cfg = json.load(open(before_path)), json.load(open(after_path))
    for name in before:
        if name not in after:
            continue
        r0 = next(r for r in before_cfg["routes"] if r["name"] == name)
        r1 = next(r for r in after_cfg["routes"] if r["name"] == name)
        w0, w1 = r0["canary"]["weight"], r1["canary"]["weight"]
        common = [u for u in before[name] if u in after[name]]
        was_on = [u for u in common if True in before[name][u]]
        was_off = [u for u in common if True not in before[name][u]]
        stayed = sum(True in after[name][u] for u in was_on)
        went = sum(True in after[name][u] for u in was_off)
        configured = (w1 - w0) / (100 - w0) if w1 > w0 and w0 < 100 else 0
        predicted = sum(in_canary(after_path, r1, was_off).values())
        print(f"  {name} canary {w0:g}% → {w1:g}%, users seen before and after: of {len(was_on)} on the "
              f"canary before, {stayed} still are;\n  of {len(was_off)} on stable, {went} moved over = "
              f"{pct(went / max(len(was_off), 1))} (configured ({w1:g}−{w0:g})/(100−{w0:g}) = {pct(configured)}, "
              f"predicted {pct(predicted / max(len(was_off), 1))})")


# ---------------------------------------------------------------------------------------------


def describe_push(before, after):
    changes = []
    old = {r["name"]: r for r in before["routes"]}
    for r in after["routes"]:
        o = old.get(r["name"], {})
        w0, w1 = o.get("canary", {}).get("weight"), r.get("canary", {}).get("weight")
        if w0 != w1:
            changes.append(f"{r['name']} canary {w0:g}% → {w1:g}%")
        c0, c1 = o.get("blue_green", {}).get("active"), r.get("blue_green", {}).get("active")
        if c0 != c1:
            changes.append(f"{r['name']} {c0} → {c1}")
    return ", ".join(changes) or "no weight or colour changes"


def send_batch(front, plan, threads):
    """Every (user, method, path) of `plan`, over `threads` keep-alive connections."""
    results = [[] for _ in range(threads)]
    done = [[0] for _ in range(threads)]
    workers = [threading.Thread(target=send_all, args=(front, plan[i::threads], done[i], results[i]),
                                daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [r for rs in results for r in rs]


def gauge(admin, name, route):
    """`<name>;route=<route>` from Envoy's stats (the filter's gauges are `wasmcustom.<name>`)."""
    return stats(admin, f"wasmcustom.{name};route={route}").get(f"wasmcustom.{name};route={route}")


def release_loop(args, users):
    """Part 3: a ramp with short holds, the split at each step, then the latency guard halting
    the canary once its upstream turns slow."""
    config = json.load(open(args.ramp))
    route = next(r for r in config["routes"] if "ramp" in r.get("canary", {}))
    canary, name = route["canary"], route["name"]
    ramp, guard = canary["ramp"], canary["guard"]
    start = int(time.time()) + 3
    ramp["start_at"] = datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    weights = " → ".join(f"{s['weight']:g}%" for s in ramp["steps"])
    holds = ", ".join(f"{s['hold_s']} s" for s in ramp["steps"] if "hold_s" in s)
    print(f"\n== 3. push {args.ramp}: {name} canary ramps {weights} (holds {holds}) from "
          f"{ramp['start_at']}, guarded on p{guard['latency']['quantile'] * 100:g} latency above "
          f"{guard['latency']['max_ms']} ms over {guard['window_s']} s")
    pushed = os.path.join(os.path.dirname(args.ecds_file), "..", "r3.json")
    with open(pushed, "w") as f:
        json.dump(config, f)
    # Before its start the ramp's weight is 0: the canary's users go back to stable until then,
    # which `switchyard push` calls unsafe (exit 3) and this demo means.
    if push(args, pushed, allow_unsafe=True) != 0:
        raise SystemExit("demo: the push failed")

    sample = users[:400]
    print(f"  {'step':>4}  {'in force from':>13}  {'weight':>6}  {'users on the canary':>19}  "
          f"{'predicted':>9}  gauges (step, weight)")
    begins, checks = 0, [(0, 0, start - 2)]
    for i, step in enumerate(ramp["steps"]):
        checks.append((i + 1, step["weight"], start + begins + 1))
        begins += step.get("hold_s", 0)
    for step, weight, at in checks:
        time.sleep(max(0.0, at - time.time()))
        results = send_batch(args.front, [(u, "GET", "/checkout/cart") for u in sample], THREADS)
        on = sum(r.decision.get("target") == "canary" for r in results)
        instant = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        decided = explain(pushed, [(u, "GET", "/checkout/cart") for u in sample], at=instant)
        predicted = sum(d["target"] == "canary" for d in decided)
        shown = (gauge(args.admin, "switchyard_canary_step", name),
                 gauge(args.admin, "switchyard_canary_weight", name))
        when = "before start" if step == 0 else f"+{at - 1 - start} s"
        print(f"  {step:>4}  {when:>13}  {weight:>5g}%  {on:>6}/{len(sample)} = {pct(on / len(sample)):>6}  "
              f"{pct(predicted / len(sample)):>9}  {shown}")

    print(f"  -- checkout-v2 turns slow: Envoy's fault filter delays its answers by 400 ms")
    modify = urllib.request.Request(f"{args.admin}/runtime_modify?fault.http.delay.fixed_delay_percent=100",
                                    method="POST", data=b"")
    urllib.request.urlopen(modify, timeout=5).read()
    slow_at = time.monotonic()
    halted_after = None
    while halted_after is None and time.monotonic() - slow_at < guard["window_s"] + 10:
        results = send_batch(args.front, [(u, "GET", "/checkout/cart") for u in random.sample(users, 32)], 8)
        if any(r.decision.get("reason") == "guard" for r in results):
            halted_after = time.monotonic() - slow_at
    if halted_after is None:
        raise SystemExit("demo: the guard did not halt the slow canary")
    print(f"  halted {halted_after:.1f} s after the canary turned slow (bound: window_s {guard['window_s']} s "
          f"+ 2 s); switchyard_canary_halted = {gauge(args.admin, 'switchyard_canary_halted', name)}, "
          f"weight gauge = {gauge(args.admin, 'switchyard_canary_weight', name)}")
    results = send_batch(args.front, [(u, "GET", "/checkout/cart") for u in sample], THREADS)
    served = Counter(r.served_by for r in results)
    reasons = Counter(r.decision.get("reason") for r in results)
    print(f"  then {len(results)} requests: served by {dict(served)}, reasons {dict(reasons)}")


def compared(admin, route):
    """The comparison counters of `route`: ({result: n}, {field: n})."""
    results, fields = {}, {}
    for name, n in stats(admin, "wasmcustom.switchyard_shadow_").items():
        labels = dict(p.split("=", 1) for p in name.split(";")[1:] if "=" in p)
        if labels.get("route") != route:
            continue
        if "result" in labels:
            results[labels["result"]] = results.get(labels["result"], 0) + n
        elif "field" in labels:
            fields[labels["field"]] = fields.get(labels["field"], 0) + n
    return results, fields


def shadow_comparison(args, users):
    """Part 4: a next model in shadow, its answers compared with the live model's in the proxy."""
    config = json.load(open(args.compare))
    route = next(r for r in config["routes"] if "compare" in r.get("shadow", {}))
    shadow, name = route["shadow"], route["name"]
    compare = shadow["compare"]
    path = route["match"]["path_prefix"]
    print(f"\n== 4. push {args.compare}: route {name} copies {shadow['percent']:g}% of users' "
          f"{'/'.join(shadow['methods'])} requests to {shadow['cluster']} (the next model) and compares "
          f"{', '.join(compare['fields'])} (tolerance {compare['tolerance']:g}) with {route['stable']}'s answers")
    # The checkout canary of part 3 is gone in this configuration: unsafe, and meant.
    if push(args, args.compare, allow_unsafe=True) != 0:
        raise SystemExit("demo: the push failed")

    sample = users[:400]
    before = compared(args.admin, name)
    copies_before = shadow_arrivals(args.admin, shadow["cluster"])[0]
    started = time.monotonic()
    results = send_batch(args.front, [(u, "POST", path) for u in sample], THREADS)
    elapsed = time.monotonic() - started
    models = Counter(json.loads(r.served_by).get("model", "?") if r.served_by.startswith("{") else r.served_by
                     for r in results)
    failed = sum(r.status != 200 for r in results)
    print(f"  {len(results)} POST {path} from {len(sample)} users in {elapsed:.1f} s, {failed} failed; "
          f"users were answered by model {dict(models)}: the shadow's answers never reach them")

    decided = explain(args.compare, [(u, "POST", path) for u in sample])
    picked = [u for u, d in zip(sample, decided) if d["shadow"]]
    disagree = [u for u in picked if u[-1] in "05"]
    predicted = {"match": len(picked) - len(disagree), "mismatch": len(disagree)}
    deadline = time.monotonic() + 10
    while True:
        now = compared(args.admin, name)
        got = {k: now[0].get(k, 0) - before[0].get(k, 0) for k in set(now[0]) | set(before[0])}
        if sum(got.values()) >= len(picked) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    fields = {k: now[1].get(k, 0) - before[1].get(k, 0) for k in set(now[1]) | set(before[1])}
    copies = shadow_arrivals(args.admin, shadow["cluster"])[0] - copies_before
    print(f"\n  {'split':<24}{'requests':>9}    {'comparison':<14}{'results':>8}{'predicted':>11}")
    split = [(f"{route['stable']} (live)", len(results)), (f"copies {shadow['cluster']} got", copies),
             ("copies predicted", len(picked))]
    kinds = ["match", "mismatch", "noise", "timeout", "shadow_error", "skipped"]
    for i, kind in enumerate(kinds):
        left = f"  {split[i][0]:<24}{split[i][1]:>9}" if i < len(split) else " " * 35
        print(f"{left}    {kind:<14}{got.get(kind, 0):>8}{predicted.get(kind, 0):>11}")
    print(f"\n  {'field':<24}{'mismatches':>10}   (the next model says dog for users ending in 0 or 5; "
          f"its other scores are 0.0004 off, within the tolerance)")
    for field in compare["fields"]:
        print(f"  {field:<24}{fields.get(field, 0):>10}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--front", default="http://127.0.0.1:10000")
    p.add_argument("--admin", default="http://127.0.0.1:9901")
    p.add_argument("--ecds-file", required=True, help="the ECDS resource file Envoy watches")
    p.add_argument("--wasm", required=True, help="the module path for the pushed resource")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--requests", type=int, default=6000, help="per configuration")
    p.add_argument("before", help="the configuration Envoy started with")
    p.add_argument("after", help="the configuration to push")
    p.add_argument("ramp", nargs="?", help="a configuration with a ramp and a latency guard to push third "
                                           "(its start_at is set to 3 s from now)")
    p.add_argument("compare", nargs="?", help="a configuration with a shadow comparison to push last")
    args = p.parse_args()

    before = json.load(open(args.before))
    after = json.load(open(args.after))
    users = [f"user-{i:04d}" for i in range(1, args.users + 1)]
    shadows = sorted({r["shadow"]["cluster"] for c in (before, after) for r in c["routes"] if "shadow" in r})

    print(f"\n== 1. {args.before} (revision {before.get('revision', '')})")
    base = {c: shadow_arrivals(args.admin, c) for c in shadows}
    results, elapsed = drive(args.front, users, args.requests, seed=1)
    by_route, _ = report(f"-- revision {before.get('revision')}", args.before, results, elapsed, users,
                         args.admin, base, explain_note=True)
    seen_before = canary_users(before, by_route)
    stickiness(args.before, seen_before)

    print(f"\n== 2. push {args.after}: {describe_push(before, after)}")
    print(f"  what it does to users, before the push (`switchyard diff {args.before} {args.after}`):")
    diff = subprocess.run([SWITCHYARD, "diff", args.before, args.after], capture_output=True, text=True)
    for line in (diff.stdout + diff.stderr).splitlines():
        print(f"    {line}")
    started = time.monotonic()
    if push(args, args.after) != 0:
        raise SystemExit("demo: the push failed")
    print(f"  pushed and applied in {time.monotonic() - started:.1f} s")

    base = {c: shadow_arrivals(args.admin, c) for c in shadows}
    results, elapsed = drive(args.front, users, args.requests, seed=2)
    by_route, _ = report(f"-- revision {after.get('revision')}", args.after, results, elapsed, users,
                         args.admin, base, explain_note=False)
    seen_after = canary_users(after, by_route)
    stickiness(args.after, seen_after)
    moved(args.before, args.after, seen_before, seen_after)

    if args.ramp:
        release_loop(args, users)
    if args.compare:
        shadow_comparison(args, users)
    time.sleep(1.1)  # the filter hands its counters to Envoy once a second
    print(f"\n== what Envoy's stats say now (`switchyard status --admin {args.admin}`):")
    status = subprocess.run([SWITCHYARD, "status", "--admin", args.admin], capture_output=True, text=True)
    for line in (status.stdout + status.stderr).splitlines():
        print(f"  {line}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
