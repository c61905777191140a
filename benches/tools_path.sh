#!/usr/bin/env bash
# Builds benches/bench_tools.rs (release) and prints the executable's path.
set -euo pipefail
cargo bench --no-run --bench bench_tools --message-format=json 2>/dev/null \
  | python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "bench_tools" and m.get("executable"):
        print(m["executable"])'
