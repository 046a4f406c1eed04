#!/usr/bin/env bash
# `make demo`: Envoy with Switchyard (its configuration over ECDS) and the demo upstreams on
# 127.0.0.1, traffic from simulated users before and after a live push (envoy/demo.py), then
# everything it started is stopped and its temporary directory removed, however it ends.
#
# Usage: ENVOY=/path/to/envoy envoy/demo.sh   (from the repository root; dist/switchyard.wasm built)
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY=${ENVOY:-envoy}
WASM=$PWD/dist/switchyard.wasm
ADMIN=http://127.0.0.1:9901
FRONT=http://127.0.0.1:10000
started=$EPOCHREALTIME

run=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-demo.XXXXXX")
envoy_pid=
finish() {
  local status=$?
  if [ -n "$envoy_pid" ] && kill -0 "$envoy_pid" 2>/dev/null; then
    kill "$envoy_pid" && wait "$envoy_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ "$status" -lt 128 ] && [ -s "$run/envoy.log" ]; then
    echo "--- the end of Envoy's log" >&2
    tail -n 15 "$run/envoy.log" >&2
  fi
  rm -rf "$run"
  if [ "$status" -eq 0 ]; then
    awk -v t0="$started" -v t1="$EPOCHREALTIME" 'BEGIN { printf "\nEnvoy stopped. The demo took %.1f s.\n", t1 - t0 }'
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The ports are those of envoy/ecds.yaml; refuse to start next to something already there.
for port in $(grep -o 'port_value: [0-9]*' envoy/ecds.yaml | cut -d' ' -f2 | sort -u); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: 127.0.0.1:$port is in use; the demo needs ports $(grep -o 'port_value: [0-9]*' envoy/ecds.yaml | cut -d' ' -f2 | sort -u | paste -sd' ')" >&2
    exit 1
  fi
done

# envoy/ecds.yaml as it is, but watching a directory of our own; the first configuration is
# written there with the same tool that pushes the second one.
mkdir "$run/ecds"
sed "s#envoy/ecds#$run/ecds#g" envoy/ecds.yaml > "$run/envoy.yaml"
target/release/switchyard push envoy/demo/r1.json --ecds "$run/ecds/switchyard.yaml" --wasm "$WASM" >/dev/null

"$ENVOY" -c "$run/envoy.yaml" --concurrency 2 --disable-hot-restart \
  --log-level warning --component-log-level wasm:info >"$run/envoy.log" 2>&1 &
envoy_pid=$!

ready() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$ADMIN/ready" 2>/dev/null; }
for _ in $(seq 100); do
  ready && break
  kill -0 "$envoy_pid" 2>/dev/null || { echo "demo: Envoy exited at start-up" >&2; exit 1; }
  sleep 0.1
done
ready || { echo "demo: Envoy not ready after 10 s" >&2; exit 1; }

version=$("$ENVOY" --version | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -1)
cat <<EOF
Switchyard demo: Envoy $version (pid $envoy_pid, 2 workers) with dist/switchyard.wasm on V8
  front     $FRONT          admin $ADMIN
  upstreams default, checkout-v1, checkout-v2, checkout-v3 (shadow), web-blue, web-green
            each an Envoy listener answering with its own name (and, under /predict,
            checkout-v1 and checkout-v3 as a live and a next model answering JSON)
  filter    configuration over ECDS from $run/ecds/switchyard.yaml
EOF

python3 envoy/demo.py --front "$FRONT" --admin "$ADMIN" \
  --ecds-file "$run/ecds/switchyard.yaml" --wasm "$WASM" envoy/demo/r1.json envoy/demo/r2.json \
  envoy/demo/r3.json envoy/demo/r4.json

# What the filter logged about the configurations it applied (one line per VM: Envoy configures a
# throwaway VM first, then one per worker).
echo
echo "Envoy's log, from the filter:"
grep -ao 'wasm log[^:]*: switchyard: .*' "$run/envoy.log" | sed 's/^wasm log[^:]*: //' | uniq -c
