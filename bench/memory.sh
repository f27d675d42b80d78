#!/usr/bin/env bash
# Memory benchmark (not a test), release build, builtin embedder:
#   1. stores MEMORIES memories for one account through POST /lukhas/v1/memory/store (wrk),
#   2. searches them (top-10, filtered by type) sequentially, reading search_time_ms — the
#      time measured inside the server — for p50/p99, then under load with wrk (end to end),
#   3. restarts the server and reports how long rebuilding the index from the database took.
#
#   bash bench/memory.sh                      # 100 000 memories
#   MEMORIES=20000 bash bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORIES="${MEMORIES:-100000}"
DURATION="${DURATION:-10s}"
PORT="${PORT:-18183}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
data=$(mktemp -d)
scripts=$(mktemp -d)
server=""
start() {
  ORRERY_ENV=production ORRERY_DATA_DIR="$data" ORRERY_LOG__ACCESS=false \
  ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__MEMORY=1000000000 \
  ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
  RUST_LOG=info ./target/release/orrery serve --bind "127.0.0.1:$PORT" >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do curl -sf "$BASE/livez" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$data/server.log"; exit 1
}
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; }
cleanup() { [ -n "$server" ] && stop; rm -rf "$data" "$scripts"; }
trap cleanup EXIT

start
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench-memory@example.com","password":"correct horse battery"}' | json '["data"]["token"]')

# Each thread stores its share: varied sentences from a small vocabulary, three types.
cat > "$scripts/store.lua" <<LUA
local words = {"ledger","chain","token","policy","review","memory","quantum","photon","river","forest",
  "engine","signal","garden","market","planet","crystal","harbor","violin","desert","glacier",
  "archive","compass","lantern","meadow","orbit","pepper","quartz","saddle","tunnel","walnut"}
local types = {"episodic","semantic","procedural"}
local per_thread = math.floor($MEMORIES / 2)
local done = 0
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) n = id * 10000000 end
function request()
  n = n + 1
  local a, b, c = words[n % 30 + 1], words[(n * 7) % 30 + 1], words[(n * 13) % 30 + 1]
  local body = string.format('{"content":{"type":"%s","data":"note %d: the %s near the %s and the %s"},"importance":%.2f}',
    types[n % 3 + 1], n, a, b, c, (n % 100) / 100)
  return wrk.format("POST", "/lukhas/v1/memory/store",
    {["Content-Type"]="application/json", ["Authorization"]="Bearer $TOKEN"}, body)
end
function response(status)
  if status ~= 200 then print("store failed: " .. status) end
  done = done + 1
  if done >= per_thread then wrk.thread:stop() end
end
LUA
echo "== storing $MEMORIES memories (wrk, 2 threads, 16 connections)"
count() {
  curl -s -X POST "$BASE/lukhas/v1/memory/search" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"query":"count","limit":1}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("total_matches", 0))' 2>/dev/null || echo 0
}
started=$(date +%s.%N)
# wrk keeps running after its threads stop themselves: poll the count, then interrupt it
# (it prints its summary on SIGINT).
wrk -t2 -c16 -d3600s -s "$scripts/store.lua" "$BASE" >"$data/wrk.out" &
wrk_pid=$!
while [ "$(count)" -lt "$MEMORIES" ]; do sleep 1; done
elapsed=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
kill -INT "$wrk_pid"; wait "$wrk_pid" || true
grep -E "Latency" "$data/wrk.out" || true
echo "stored $(count) in $elapsed s ($(python3 -c "print(round($MEMORIES / $elapsed))") stores/s)"

echo "== search inside the server (search_time_ms, 1000 sequential top-10 searches, type filter)"
python3 - "$BASE" "$TOKEN" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
words = ["ledger", "quantum", "river", "violin", "glacier", "orbit", "walnut", "harbor"]
times = []
for i in range(1000):
    body = json.dumps({"query": f"the {words[i % 8]} near the {words[(i * 3) % 8]}", "limit": 10,
                       "filters": {"type": ["semantic"]}}).encode()
    req = urllib.request.Request(base + "/lukhas/v1/memory/search", body,
                                 {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    answer = json.load(urllib.request.urlopen(req))
    assert len(answer["results"]) == 10, answer
    times.append(answer["search_time_ms"])
times.sort()
print(f"candidates per query {answer['total_matches']}, search_time_ms p50 {times[500]:.2f} p99 {times[990]:.2f} max {times[-1]:.2f}")
PY

cat > "$scripts/search.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"query":"the quantum near the river","limit":10,"filters":{"type":["semantic"]}}'
LUA
echo "== search end to end under load (wrk -t2 -c8 -d$DURATION --latency)"
wrk -t2 -c8 -d"$DURATION" --latency -s "$scripts/search.lua" "$BASE/lukhas/v1/memory/search" |
  grep -E "Requests/sec|  50%|  99%|Non-2xx"

echo "== restart: index rebuilt from the database"
stop
start
grep -o 'memories=[0-9]* ms=[0-9]*' "$data/server.log" || grep "memory index" "$data/server.log"
