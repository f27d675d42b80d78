#!/usr/bin/env bash
# Lumen benchmark (not a test): a release server with the terminal enabled, then
# tests/benches/lumen.rs measures `echo hi` through the full sandbox (one at a time and 50 at
# once), chat turns over 200 concurrent sessions with the builtin provider, and the war room
# on a 500-line file.
#
#   bash bench/lumen.sh
#   COMMANDS=500 SESSIONS=200 TURNS=5 bash bench/lumen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18184}"
BASE="http://127.0.0.1:$PORT"

cargo build --release -q -p orrery-api
cargo bench -q -p orrery-tests --bench lumen --no-run 2>/dev/null
client=$(ls -t target/release/deps/lumen-* | grep -v '\.d$' | head -1)
data=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

ORRERY_ENV=production \
ORRERY_DATA_DIR="$data" \
ORRERY_TERMINAL__ENABLED=true \
ORRERY_RATE_LIMIT__FREE=1000000000 \
ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
ORRERY_GRAPHQL__MAX_SOCKETS_PER_PRINCIPAL=1000 \
RUST_LOG=warn \
  ./target/release/orrery serve --bind "127.0.0.1:$PORT" &
server=$!
for _ in $(seq 50); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.2; done

token=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
key=$(curl -sf -X POST "$BASE/lunaos/api-keys" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["terminal:execute","chat"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["key"])')

echo "== Lumen on $(nproc) cores, bubblewrap: $(command -v bwrap >/dev/null && echo yes || echo no)"
BASE="$BASE" KEY="$key" "$client"
