#!/usr/bin/env bash
# A manual kill -9 check with the real binaries (the crate's own loop is rapport-log's
# tests/it/kill9.rs): N random SIGKILLs of examples/crash_writer, `rapport verify` after each,
# then every acknowledged (event id, position) must be in the store where it was acknowledged.
# Usage: scripts/kill9.sh [KILLS]   (builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-30}
cargo build --release -q -p rapport-cli
cargo build --release -q -p rapport-examples --example crash_writer
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $(seq 1 "$kills"); do
  target/release/examples/crash_writer --store "$dir/store" --seed "$i" >> "$dir/acks" 2>/dev/null &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  target/release/rapport verify --store "$dir/store" > /dev/null || { echo "verify failed after kill $i"; exit 1; }
done
target/release/rapport dump --store "$dir/store" | python3 -c '
import json, sys
have = {}
for line in sys.stdin:
    event = json.loads(line)
    have[event["event_id"]] = event["position"]
acks = [line.split() for line in open(sys.argv[1]) if len(line.split()) == 2]
missing = [a for a in acks if have.get(a[0]) != int(a[1])]
positions = sorted(have.values())
gaps = sum(1 for a, b in zip(positions, positions[1:]) if b != a + 1)
print(f"{len(acks)} acknowledged events, {len(missing)} missing or moved, {gaps} gaps, {len(have)} events in the store")
sys.exit(1 if missing or gaps else 0)
' "$dir/acks"
