#!/usr/bin/env bash
# Governance benchmark (not a test): POST /lexecon/decide under 64 connections with wrk
# (release build), then `orrery ledger verify` over a ledger of LEDGER_ENTRIES entries.
#
#   bash bench/governance.sh                                   # SQLite (default)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench bash bench/governance.sh
#   LEDGER_ENTRIES=1000000 DURATION=20s bash bench/governance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
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
entries() { curl -sf "$BASE/lexecon/health" | json '["ledger_entries"]'; }

echo "== POST /lexecon/decide ($CONNECTIONS connections, $DURATION); each 200 is committed in the ledger"
before=$(entries)
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/decide.lua" "$BASE/lexecon/decide"
after=$(entries)
echo "ledger entries written during the run: $((after - before))"

echo "== filling the ledger to $LEDGER_ENTRIES entries through /decide"
while [ "$(entries)" -lt "$LEDGER_ENTRIES" ]; do
  wrk -t2 -c"$CONNECTIONS" -d30s -s "$scripts/decide.lua" "$BASE/lexecon/decide" >/dev/null
  echo "  $(entries) entries"
done
kill "$server"; wait "$server" 2>/dev/null || true; server=""

echo "== orrery ledger verify ($(nproc) cores)"
ORRERY_DATA_DIR="$data" /usr/bin/time -f "wall %e s, max RSS %M KiB" ./target/release/orrery ledger verify > "$scripts/report.json"
python3 -c "import json; r=json.load(open('$scripts/report.json')); print('valid:', r['valid'], ' entries:', r['entries_checked'])"
