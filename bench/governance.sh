#!/usr/bin/env bash
# Governance benchmark (not a test): POST /lexecon/decide under 64 connections with wrk
# (release build), then `orrery ledger verify` over a ledger of LEDGER_ENTRIES entries.
#
#   bash bench/governance.sh                                   # SQLite (default)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench bash bench/governance.sh
#   LEDGER_ENTRIES=1000000 DURATION=20s bash bench/governance.sh
#   RUNS=5 LEDGER_ENTRIES=0 bash bench/governance.sh           # five runs, no verify
#   ORRERY_SQLITE_DURABLE=false bash bench/governance.sh        # synchronous=NORMAL
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
RUNS="${RUNS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
LEDGER_ENTRIES="${LEDGER_ENTRIES:-1000000}"
PORT="${PORT:-18182}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
data=$(mktemp -d)
scripts=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data" "$scripts"
}
trap cleanup EXIT

if [ -n "${DATABASE_URL:-}" ]; then
  echo "database: PostgreSQL (${DATABASE_URL##*@})"
else
  echo "database: SQLite in $data"
fi
ORRERY_ENV=production ORRERY_DATA_DIR="$data" \
ORRERY_ADMIN_EMAIL=bench-admin@example.com ORRERY_ADMIN_PASSWORD='correct horse battery' \
ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
RUST_LOG=warn ./target/release/orrery serve --bind "127.0.0.1:$PORT" &
server=$!
for _ in $(seq 50); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.2; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d "{\"email\":\"bench-$RANDOM@example.com\",\"password\":\"correct horse battery\"}" | json '["data"]["token"]')
KEY=$(curl -sf -X POST "$BASE/lunaos/api-keys" -H "Authorization: Bearer $TOKEN" | json '["data"]["key"]')
cat > "$scripts/decide.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"actor":"model","proposed_action":"Search the web","tool":"web_search","user_intent":"Find AI governance papers","risk_level":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$KEY"
LUA
ADMIN=$(curl -sf -X POST "$BASE/lunaos/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench-admin@example.com","password":"correct horse battery"}' | json '["data"]["token"]')
# The writer's batch histograms since the server started (GraphQL ledgerWriter), one line each.
cat > "$scripts/writer.py" <<'PY'
import json, sys
stats = json.load(sys.stdin)["data"]["ledgerWriter"]
for name in ["queueWaitMs", "sealMs", "writeMs", "commitMs", "batchEntries"]:
    h = stats[name]
    mean = h["sum"] / h["count"] if h["count"] else 0
    used = [b["le"] for b in h["buckets"] if b["count"]]
    print(f"  writer {name}: {h['count']} batches, mean {mean:.2f}, p50 <= {h['p50Bound']}, p99 <= {h['p99Bound']}, largest bucket used <= {used[-1] if used else None}")
print(f"  writer failed batches: {stats['failedBatches']}")
PY
writer_stats() {
  curl -sf "$BASE/graphql" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"query":"{ ledgerWriter { failedBatches queueWaitMs { ...h } sealMs { ...h } writeMs { ...h } commitMs { ...h } batchEntries { ...h } } } fragment h on Histogram { count sum p50Bound p99Bound buckets { le count } }"}' |
    python3 "$scripts/writer.py"
}
entries() { curl -sf "$BASE/lexecon/health" | json '["ledger_entries"]'; }

wal_size() { stat -c %s "$data"/*.db-wal 2>/dev/null | head -1 || true; }
for run in $(seq "$RUNS"); do
  echo "== run $run/$RUNS: POST /lexecon/decide ($CONNECTIONS connections, $DURATION); each 200 is committed in the ledger"
  before=$(entries)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/decide.lua" "$BASE/lexecon/decide" | tee "$scripts/wrk.txt"
  after=$(entries)
  echo "ledger entries written during the run: $((after - before))"
  writer_stats
  echo "summary run $run: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$scripts/wrk.txt"), p99 $(awk '$1 == "99%" {print $2}' "$scripts/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$scripts/wrk.txt" | grep . || echo 0)$([ -n "${DATABASE_URL:-}" ] || echo ", WAL $(wal_size) bytes")"
done

[ "$LEDGER_ENTRIES" -gt 0 ] || exit 0
echo "== filling the ledger to $LEDGER_ENTRIES entries through /decide"
while [ "$(entries)" -lt "$LEDGER_ENTRIES" ]; do
  wrk -t2 -c"$CONNECTIONS" -d30s -s "$scripts/decide.lua" "$BASE/lexecon/decide" >/dev/null
  echo "  $(entries) entries"
done
kill "$server"; wait "$server" 2>/dev/null || true; server=""

echo "== orrery ledger verify ($(nproc) cores)"
ORRERY_DATA_DIR="$data" /usr/bin/time -f "wall %e s, max RSS %M KiB" ./target/release/orrery ledger verify > "$scripts/report.json"
python3 -c "import json; r=json.load(open('$scripts/report.json')); print('valid:', r['valid'], ' entries:', r['entries_checked'])"
