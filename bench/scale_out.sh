#!/usr/bin/env bash
# Scale-out benchmarks (issue #16), release build, on this machine's PostgreSQL, Redis and
# NATS:
#   1. authenticated REST (GET /lunaos/auth/me with an API key, wrk, CONNECTIONS connections,
#      DURATION each) on one instance, its rate limits in Redis and, alternately, in process;
#   2. for each bus (NATS, Redis): three instances on one PostgreSQL database, then
#      tests/benches/scale_out.rs: a decision made on A to its subscription event on B
#      (ROUNDS times), and one decision fanned out to SUBSCRIBERS WebSockets spread over the
#      three (EVENTS times).
#
#   bash bench/scale_out.sh
#   ROUNDS=200 SUBSCRIBERS=1000 DURATION=5s bash bench/scale_out.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-64}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
REDIS="${REDIS:-redis://127.0.0.1:6379/}"
NATS="${NATS:-nats://127.0.0.1:4222}"
PORTS=(18301 18302 18303)

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
cargo bench -q -p orrery-tests --bench scale_out --no-run 2>/dev/null
bench_bin=$(find target/release/deps -maxdepth 1 -type f -executable -name 'scale_out-*' -printf '%T@ %p\n' | sort -nr | head -1 | cut -d' ' -f2)
ulimit -n "$(ulimit -Hn)"  # the fan-out holds SUBSCRIBERS sockets open
work=$(mktemp -d)
servers=()
stop_all() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  servers=()
}
trap 'stop_all; rm -rf "$work"' EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ready() { for _ in $(seq 150); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.2; done; return 1; }

# start PORT DATA_DIR [VAR=value...]: one release instance with limits out of the way.
start() {
  local port=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  env ORRERY_ENV=production ORRERY_DATA_DIR="$dir" ORRERY_LOG__ACCESS=false \
    ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
    ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
    ORRERY_GRAPHQL__MAX_SOCKETS_PER_PRINCIPAL=20000 \
    RUST_LOG=warn "$@" ./target/release/orrery serve --bind "127.0.0.1:$port" &
  servers+=($!)
  ready "http://127.0.0.1:$port"
}

echo "== 1. GET /lunaos/auth/me with an API key, one instance ($(nproc) cores, $CONNECTIONS connections, $DURATION)"
for round in 1 2; do
  for store in redis local; do
    start "${PORTS[0]}" "$work/rest-$store-$round" ORRERY_REDIS_URL="$REDIS" ORRERY_RATE_LIMIT__STORE="$store" ORRERY_BUS=local
    base="http://127.0.0.1:${PORTS[0]}"
    token=$(curl -sf -X POST "$base/lunaos/auth/signup" -H 'Content-Type: application/json' \
      -d "{\"email\":\"rest-$store-$round@example.com\",\"password\":\"correct horse battery\"}" | json '["data"]["token"]')
    key=$(curl -sf -X POST "$base/lunaos/api-keys" -H "Authorization: Bearer $token" | json '["data"]["key"]')
    curl -s "$base/readyz"; echo
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "X-API-Key: $key" "$base/lunaos/auth/me" > "$work/wrk.txt"
    echo "round $round, rate store $store: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$work/wrk.txt"), p50 $(awk '$1 == "50%" {print $2}' "$work/wrk.txt"), p99 $(awk '$1 == "99%" {print $2}' "$work/wrk.txt"), non-2xx $(awk '/Non-2xx/ {print $5}' "$work/wrk.txt" | grep . || echo 0)"
    stop_all
  done
done

for bus in nats redis; do
  db="orrery_scale_${bus}_$RANDOM"
  psql "$PG/postgres" -qc "CREATE DATABASE $db" >/dev/null
  echo "== 2. three instances on PostgreSQL, bus $bus"
  for i in 0 1 2; do
    start "${PORTS[$i]}" "$work/$bus-$i" DATABASE_URL="$PG/$db" ORRERY_BUS="$bus" \
      ORRERY_NATS_URL="$NATS" ORRERY_REDIS_URL="$REDIS" \
      ORRERY_AUTH__JWT_SECRET="c2NhbGUtb3V0LWJlbmNoLXNoYXJlZC1zZWNyZXQtMDEyMzQ1Njc4OQ==" \
      ORRERY_GOVERNANCE__NODE_ID=node_bench ORRERY_GOVERNANCE__NODE_KEY="$(printf '7b%.0s' $(seq 32))"
  done
  BASES="http://127.0.0.1:${PORTS[0]},http://127.0.0.1:${PORTS[1]},http://127.0.0.1:${PORTS[2]}" \
    ROUNDS="${ROUNDS:-1000}" SUBSCRIBERS="${SUBSCRIBERS:-10000}" EVENTS="${EVENTS:-5}" "$bench_bin"
  stop_all
  psql "$PG/postgres" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
