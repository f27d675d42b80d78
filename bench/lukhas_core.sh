#!/usr/bin/env bash
# LUKHAS identity and core-API benchmarks (issue #15), release build, SQLite:
#   1. passkey authentication: tests/benches/passkeys.rs raises sessions with fresh WebAuthn
#      assertions (client latency, then the server's own /perf measurement of the route);
#   2. the ledger filled to LEDGER_ENTRIES through /lexecon/decide, then /lukhas/v1/audit
#      with filters (wrk, CONNECTIONS connections, DURATION each, an administrator's view);
#   3. the T4 report on that ledger: the first one (it walks from the genesis), the next,
#      one after a restart (from the signed checkpoint), and reports while decisions are
#      being written.
#
#   bash bench/lukhas_core.sh
#   LEDGER_ENTRIES=200000 DURATION=5s bash bench/lukhas_core.sh
#   USERS=1 ROUNDS=1000 LEDGER_ENTRIES=0 bash bench/lukhas_core.sh   # passkeys only, one at a time
set -euo pipefail
cd "$(dirname "$0")/.."
LEDGER_ENTRIES="${LEDGER_ENTRIES:-1000000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-8}"
PORT="${PORT:-18183}"
BASE="http://127.0.0.1:$PORT"
ORIGIN="http://localhost:8443"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
cargo bench -q -p orrery-tests --bench passkeys --no-run 2>/dev/null
passkeys_bin=$(find target/release/deps -maxdepth 1 -type f -executable -name 'passkeys-*' -printf '%T@ %p\n' | sort -nr | head -1 | cut -d' ' -f2)
data=$(mktemp -d)
scripts=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data" "$scripts"
}
trap cleanup EXIT

start() {
  ORRERY_ENV=production ORRERY_DATA_DIR="$data" \
  ORRERY_ADMIN_EMAIL=bench-admin@example.com ORRERY_ADMIN_PASSWORD='correct horse battery' \
  ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
  ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
  ORRERY_AUTH__WEBAUTHN_ORIGINS="[\"$ORIGIN\"]" \
  RUST_LOG=warn ./target/release/orrery serve --bind "127.0.0.1:$PORT" &
  server=$!
  for _ in $(seq 100); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.2; done
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() {
  curl -sf -X POST "$BASE/lunaos/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"bench-admin@example.com","password":"correct horse battery"}' | json '["data"]["token"]'
}

start
ADMIN=$(login)
echo "== passkey authentication ($(nproc) cores)"
BASE="$BASE" ADMIN_TOKEN="$ADMIN" ORIGIN="$ORIGIN" "$passkeys_bin"
[ "$LEDGER_ENTRIES" -gt 0 ] || exit 0

echo "== filling the ledger to $LEDGER_ENTRIES entries through /lexecon/decide"
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench-decider@example.com","password":"correct horse battery"}' | json '["data"]["token"]')
KEY=$(curl -sf -X POST "$BASE/lunaos/api-keys" -H "Authorization: Bearer $TOKEN" | json '["data"]["key"]')
cat > "$scripts/decide.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"actor":"model","proposed_action":"Search the web","tool":"web_search","user_intent":"Find AI governance papers","risk_level":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$KEY"
LUA
entries() { curl -sf "$BASE/lexecon/health" | json '["ledger_entries"]'; }
started=$(date +%s)
fill_start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
while [ "$(entries)" -lt "$LEDGER_ENTRIES" ]; do
  wrk -t2 -c64 -d30s -s "$scripts/decide.lua" "$BASE/lexecon/decide" >/dev/null
  echo "  $(entries) entries"
done
echo "  filled in $(( $(date +%s) - started )) s; database $(du -sh "$data" | cut -f1)"

newest=$(curl -sf "$BASE/lukhas/v1/audit?limit=1" -H "Authorization: Bearer $ADMIN")
common_type=$(echo "$newest" | json '["entries"][0]["event_type"]')
common_actor=$(echo "$newest" | json '["entries"][0]["actor"]')
middle=$(( $(echo "$newest" | json '["entries"][0]["seq"]') / 2 ))
# A 30-second window in the middle of the fill.
window_from=$(date -u -d "$fill_start + 60 seconds" +%Y-%m-%dT%H:%M:%SZ)
window_to=$(date -u -d "$fill_start + 90 seconds" +%Y-%m-%dT%H:%M:%SZ)
echo "== GET /lukhas/v1/audit over $(entries) entries ($CONNECTIONS connections, $DURATION each; '$common_type' is the decisions' type)"
# Common and rare types, exact and as families (the passkey run's assurance_raised entries
# are the oldest; logins are few), an actor, a time window, keyset and offset pages.
for query in \
  "" \
  "?event_type=$common_type" \
  "?event_type=${common_type:0:4}*" \
  "?event_type=assurance_raised" \
  "?event_type=logged*" \
  "?actor=$common_actor" \
  "?since=$window_from&until=$window_to" \
  "?event_type=$common_type&before_seq=$middle" \
  "?limit=100&before_seq=$middle" \
  "?offset=5000"; do
  curl -sf "$BASE/lukhas/v1/audit$query" -H "Authorization: Bearer $ADMIN" |
    python3 -c "import json,sys; r=json.load(sys.stdin); print(f'  {len(r[\"entries\"])} entries, total_count {r[\"total_count\"]} (exact: {r[\"total_count_exact\"]})')"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $ADMIN" "$BASE/lukhas/v1/audit$query" > "$scripts/wrk.txt"
  echo "  audit$query: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$scripts/wrk.txt"), p50 $(awk '$1 == "50%" {print $2}' "$scripts/wrk.txt"), p99 $(awk '$1 == "99%" {print $2}' "$scripts/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$scripts/wrk.txt" | grep . || echo 0)"
done

t4() {
  curl -sf -o "$scripts/t4.json" -w '%{time_total}' "$BASE/lukhas/v1/t4" -H "Authorization: Bearer $ADMIN"
  python3 -c "import json; r=json.load(open('$scripts/t4.json')); l=[c for c in r['checks'] if c['name']=='ledger_integrity'][0]; print(f\" s; compliant {r['t4_compliant']}; ledger: {l['evidence'].get('entries_checked')} entries checked in {l['duration_ms']} ms; checks: {', '.join(c['name']+('' if c['passed'] else ' FAILED') for c in r['checks'])}\")"
}
echo "== GET /lukhas/v1/t4 on $(entries) entries"
echo "  first report (walks from the genesis): $(t4)"
echo "  next report: $(t4)"
stop
start
ADMIN=$(login)
echo "  after a restart (from the signed checkpoint): $(t4)"
wrk -t2 -c32 -d20s -s "$scripts/decide.lua" "$BASE/lexecon/decide" > "$scripts/load.txt" &
load=$!
sleep 2
for i in 1 2 3 4 5; do
  echo "  while decisions are written ($i): $(t4)"
  sleep 2
done
wait "$load"
echo "  (decisions meanwhile: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$scripts/load.txt"))"
