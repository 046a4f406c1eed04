#!/usr/bin/env bash
# The module's bytes by function, for `make bench`: twiggy's largest items of the module built
# as `make wasm` builds it but with its function names kept (`make size-report`), written as a
# Markdown fragment. Usage: bench/size.sh <module with names> <out.md>
set -euo pipefail
named=$1 out=$2
mkdir -p "$(dirname "$out")"
{
  echo "## The module's bytes, by function"
  echo
  echo "\`bench/size.sh\`: \`dist/switchyard.wasm\` rebuilt with its function names kept, then"
  echo "\`twiggy top\` (shallow bytes of each item; the name section itself is left out, since"
  echo "the shipped module has none; shares are of the module with its names)."
  echo
  echo '| bytes | share | item |'
  echo '|---:|---:|---|'
  twiggy top -n 40 -f csv "$named" | tail -n +2 | python3 -c '
import csv, re, sys
rows = [r for r in csv.reader(sys.stdin) if "names\" subsection" not in r[0] and "function names" not in r[0]]
for row in rows[:30]:
    name = re.sub(r"\[[0-9a-f]{16}\]", "", row[0]).replace("|", "\\|")
    if len(name) > 110:
        name = name[:107] + "..."
    print(f"| {int(row[1]):,} | {float(row[2]):.2f}% | `{name}` |")'
} >"$out"
echo "$out: written"
