#!/usr/bin/env bash
# Governance benchmark (not a test): POST /lexecon/decide under 64 connections with wrk
# (release build), then `orrery ledger verify` over a ledger of LEDGER_ENTRIES entries.
#
#   bash bench/governance.sh                                   # SQLite (default)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench bash bench/governance.sh
#   LEDGER_ENTRIES=1000000 DURATION=20s bash bench/governance.sh
#   RUNS=5 LEDGER_ENTRIES=0 bash bench/governance.sh           # five runs, no verify
#   ORRERY_SQLITE_DURABLE=false bash bench/governance.sh        # synchronous=NORMAL
#   ORRERY_BIN=/tmp/orrery-before bash bench/governance.sh      # another build, for A/B runs
#   PG_PRIVATE=1 RUNS=5 LEDGER_ENTRIES=0 bash bench/governance.sh
#       # a private PostgreSQL cluster (initdb in a temp dir, same disk) with the checkpoint
#       # settings docs/DECISIONS.md recommends for a write-heavy ledger; PG_CONF adds
#       # lines to its postgresql.conf (later lines win), e.g. PG_CONF='checkpoint_timeout = 60s';
#       # PG_WALDIR=/dev/shm puts its WAL there (a diagnostic: is the tail the disk's flush?)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
RUNS="${RUNS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
LEDGER_ENTRIES="${LEDGER_ENTRIES:-1000000}"
PORT="${PORT:-18182}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
BIN="${ORRERY_BIN:-}"
[ -n "$BIN" ] || { cargo build --release -q -p orrery-api; BIN=./target/release/orrery; }
data=$(mktemp -d)
scripts=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data" "$scripts"
}
trap cleanup EXIT

if [ -n "${PG_PRIVATE:-}" ]; then
  # PostgreSQL refuses to run as root; the cluster belongs to the postgres user when we are.
  pg_port="${PG_PORT:-54329}"
  pgdir=$(mktemp -d)
  as_pg=()
  [ "$(id -u)" = 0 ] && { chown postgres "$pgdir"; as_pg=(runuser -u postgres --); }
  waldir=()
  if [ -n "${PG_WALDIR:-}" ]; then
    waldir=(-X "$(mktemp -d -p "$PG_WALDIR")/wal")
    [ "$(id -u)" = 0 ] && chown postgres "$(dirname "${waldir[1]}")"
  fi
  "${as_pg[@]}" initdb -A trust -U postgres -D "$pgdir/data" "${waldir[@]}" >/dev/null
  cat >> "$pgdir/data/postgresql.conf" <<CONF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
max_connections = 200
shared_buffers = 512MB
max_wal_size = 16GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
track_wal_io_timing = on
${PG_CONF:-}
CONF
  "${as_pg[@]}" pg_ctl -s -w -D "$pgdir/data" -l "$pgdir/log" start
  pg_cleanup() { "${as_pg[@]}" pg_ctl -s -D "$pgdir/data" -m fast stop || true; rm -rf "$pgdir"; [ ${#waldir[@]} = 0 ] || rm -rf "$(dirname "${waldir[1]}")"; }
  trap 'cleanup; pg_cleanup' EXIT
  psql -qh 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE bench"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/bench"
  echo "private PostgreSQL cluster in $pgdir: max_wal_size 16GB, checkpoint_timeout 30min, shared_buffers 512MB"
fi

if [ -n "${DATABASE_URL:-}" ]; then
  echo "database: PostgreSQL (${DATABASE_URL##*@})"
else
  echo "database: SQLite in $data"
fi
ORRERY_ENV=production ORRERY_DATA_DIR="$data" \
ORRERY_ADMIN_EMAIL=bench-admin@example.com ORRERY_ADMIN_PASSWORD='correct horse battery' \
ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" &
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
writer_stats() { python3 bench/writer_stats.py "$BASE" "$ADMIN"; }
entries() { curl -sf "$BASE/lexecon/health" | json '["ledger_entries"]'; }

wal_size() { stat -c %s "$data"/*.db-wal 2>/dev/null | head -1 || true; }
# PostgreSQL checkpoints finished so far and their total fsync time (ms): a run's tail
# follows them.
checkpoints() {
  psql -qAt "$DATABASE_URL" -c "SELECT checkpoints_timed + checkpoints_req || ' ' || round(checkpoint_sync_time) FROM pg_stat_bgwriter"
}
# WAL written and its flushes (pg_stat_wal; flush times need track_wal_io_timing).
wal_stats() {
  psql -qAt "$DATABASE_URL" -c "SELECT wal_records || ' ' || wal_fpi || ' ' || wal_bytes || ' ' || wal_sync || ' ' || round(wal_sync_time) FROM pg_stat_wal"
}
for run in $(seq "$RUNS"); do
  echo "== run $run/$RUNS: POST /lexecon/decide ($CONNECTIONS connections, $DURATION); each 200 is committed in the ledger"
  before=$(entries)
  [ -z "${DATABASE_URL:-}" ] || read -r ck_before sync_before <<<"$(checkpoints)"
  [ -z "${DATABASE_URL:-}" ] || read -r rec_before fpi_before bytes_before flush_before flush_ms_before <<<"$(wal_stats)"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/decide.lua" "$BASE/lexecon/decide" | tee "$scripts/wrk.txt"
  after=$(entries)
  echo "ledger entries written during the run: $((after - before))"
  writer_stats
  if [ -n "${DATABASE_URL:-}" ]; then
    read -r ck_after sync_after <<<"$(checkpoints)"
    echo "  PostgreSQL checkpoints finished during the run: $((ck_after - ck_before)), their fsync time $((sync_after - sync_before)) ms"
    read -r rec_after fpi_after bytes_after flush_after flush_ms_after <<<"$(wal_stats)"
    written=$((after - before))
    echo "  PostgreSQL WAL during the run: $(( (bytes_after - bytes_before) / (written > 0 ? written : 1) )) bytes and $(( (rec_after - rec_before) / (written > 0 ? written : 1) )) records per ledger entry, $((fpi_after - fpi_before)) full-page images, $((flush_after - flush_before)) flushes taking $((flush_ms_after - flush_ms_before)) ms in all"
  fi
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
