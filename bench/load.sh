#!/usr/bin/env bash
# Load benchmark (not a test): a release build of Orrery on loopback driven by wrk with 64
# connections. Prints the figures recorded in docs/PERFORMANCE.md.
#
#   bash bench/load.sh            # needs wrk (Debian: apt-get install wrk)
#   DURATION=30s bash bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18181}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT

# Limits high enough that the benchmark measures work, not 429s.
ORRERY_ENV=production \
ORRERY_DATA_DIR="$data" \
ORRERY_RATE_LIMIT__FREE=1000000000 \
ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
RUST_LOG=warn \
  ./target/release/orrery serve --bind "127.0.0.1:$PORT" &
server=$!
for _ in $(seq 50); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.2; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
EMAIL="bench-$RANDOM@example.com"
PASSWORD="correct horse battery"
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json '["data"]["token"]')
KEY=$(curl -sf -X POST "$BASE/lunaos/api-keys" -H "Authorization: Bearer $TOKEN" | json '["data"]["key"]')

scripts=$(mktemp -d)
cat > "$scripts/graphql.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"query":"{ viewer { id email } }"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
cat > "$scripts/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"email":"$EMAIL","password":"$PASSWORD"}'
wrk.headers["Content-Type"] = "application/json"
LUA

echo "== REST: GET /lunaos/auth/me with an API key ($CONNECTIONS connections, $DURATION)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "X-API-Key: $KEY" "$BASE/lunaos/auth/me"

echo "== GraphQL: { viewer { id email } } with an API key ($CONNECTIONS connections, $DURATION)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/graphql.lua" "$BASE/graphql"

echo "== Login flood ($CONNECTIONS connections) with /livez measured alongside (4 connections)"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/login.lua" "$BASE/lunaos/auth/login" > "$scripts/login.out" &
flood=$!
sleep 1
wrk -t1 -c4 -d"$DURATION" --latency "$BASE/livez"
wait "$flood"
echo "-- the login flood itself:"
cat "$scripts/login.out"
rm -rf "$scripts"
