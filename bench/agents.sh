#!/usr/bin/env bash
# Agent-stream benchmark (not a test): a release server with the builtin provider pacing
# its pieces (AGENT_PIECE_MS apart, like a model decoding), STREAMS concurrent
# /lunaos/agents/execute streams opened over RAMP_MS, then DAG_RUNS runs of a 10-node DAG.
# The client (tests/benches/agent_streams.rs) prints time to first event, the server's CPU
# time per delivered chunk (read from /proc), its memory per open stream, and the DAG's
# scheduling overhead beyond its critical path.
#
#   bash bench/agents.sh
#   STREAMS=1000 RAMP_MS=2000 AGENT_PIECE_MS=50 bash bench/agents.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_agents bash bench/agents.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${STREAMS:-1000}"
RAMP_MS="${RAMP_MS:-2000}"
AGENT_PIECE_MS="${AGENT_PIECE_MS:-50}"
DAG_RUNS="${DAG_RUNS:-20}"
PORT="${PORT:-18183}"
BASE="http://127.0.0.1:$PORT"

cargo build --release -q -p orrery-api
cargo bench -q -p orrery-tests --bench agent_streams --no-run 2>/dev/null
client=$(ls -t target/release/deps/agent_streams-* | grep -v '\.d$' | head -1)
data=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

# Limits high enough that the benchmark measures streams, not 429s, 409s or quotas.
ORRERY_ENV=production \
ORRERY_SQLITE_DURABLE="${ORRERY_SQLITE_DURABLE:-true}" \
ORRERY_DATA_DIR="$data" \
ORRERY_RATE_LIMIT__FREE=1000000000 \
ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
ORRERY_AGENTS__QUOTA_FREE=1000000000 \
ORRERY_AGENTS__MAX_CONCURRENT_RUNS=100000 \
ORRERY_AI__BUILTIN_PIECE_DELAY_MS="$AGENT_PIECE_MS" \
RUST_LOG=warn \
  ./target/release/orrery serve --bind "127.0.0.1:$PORT" &
server=$!
for _ in $(seq 50); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.2; done

echo "== $STREAMS agent streams, builtin pieces ${AGENT_PIECE_MS} ms apart, started over ${RAMP_MS} ms ($(nproc) cores, ${DATABASE_URL:-SQLite})"
BASE="$BASE" SERVER_PID="$server" CLK_TCK="$(getconf CLK_TCK)" STREAMS="$STREAMS" \
RAMP_MS="$RAMP_MS" DAG_RUNS="$DAG_RUNS" "$client"
