#!/usr/bin/env bash
# LUKHAS benchmark (not a test), release build, builtin provider (its "model" costs next to
# nothing, so what is measured is the pipeline's own work: memory search, attention, the
# guardian with its signed ledger entry, identity, the stored fold):
#   1. stores MEMORIES memories for the account (wrk), so the memory stage searches them all;
#   2. runs POST /lukhas/v1/matriz/process with CONNECTIONS connections for DURATION (wrk,
#      end to end), while GET /lukhas/v1/status and GET /lukhas/v1/health are read by two
#      connections each, one request every PROBE_INTERVAL_MS (10) a connection (wrk, end to end);
#   3. reads the server's own MATRIZ histogram (/status: processing time p95/p99, measured
#      inside the server around the six stages) and each stage's mean (/matriz/status).
#
#   bash bench/lukhas.sh                      # 100 000 memories, 64 connections, 20 s
#   MEMORIES=20000 CONNECTIONS=16 DURATION=10s bash bench/lukhas.sh
#   ORRERY_LUKHAS__PIPELINE_CONCURRENCY=4 bash bench/lukhas.sh   # runs working at once
#   ORRERY_BIN=/tmp/orrery-before bash bench/lukhas.sh             # another build
#   PROFILE_OUT=/tmp/profile.txt bash bench/lukhas.sh              # perf: where the CPU goes
#   PROBE_INTERVAL_MS=0 bash bench/lukhas.sh          # /status and /health read back to back
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORIES="${MEMORIES:-100000}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
PORT="${PORT:-18185}"
PROBE_INTERVAL_MS="${PROBE_INTERVAL_MS:-10}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
# ORRERY_BIN: another build to measure (side by side with this one).
BIN="${ORRERY_BIN:-./target/release/orrery}"
[ -n "${ORRERY_BIN:-}" ] || cargo build --release -q -p orrery-api
data=$(mktemp -d)
scripts=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$data" "$scripts"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

ORRERY_ENV=production ORRERY_DATA_DIR="$data" ORRERY_LOG__ACCESS=false \
ORRERY_ADMIN_EMAIL=bench-admin@example.com ORRERY_ADMIN_PASSWORD='correct horse battery' \
ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__MEMORY=1000000000 \
ORRERY_RATE_LIMIT__MATRIZ=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
ORRERY_RATE_LIMIT__ANONYMOUS=1000000000 \
RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" >"$data/server.log" 2>&1 &
server=$!
for _ in $(seq 200); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.1; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench-lukhas@example.com","password":"correct horse battery"}' | json '["data"]["token"]')

cat > "$scripts/store.lua" <<LUA
local words = {"ledger","chain","token","policy","review","memory","quantum","photon","river","forest",
  "engine","signal","garden","market","planet","crystal","harbor","violin","desert","glacier",
  "archive","compass","lantern","meadow","orbit","pepper","quartz","saddle","tunnel","walnut"}
local types = {"episodic","semantic","procedural"}
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
LUA
count() {
  curl -s -X POST "$BASE/lukhas/v1/memory/search" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"query":"count","limit":1}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("total_matches", 0))' 2>/dev/null || echo 0
}
echo "== storing $MEMORIES memories"
wrk -t2 -c16 -d3600s -s "$scripts/store.lua" "$BASE" >"$data/store.out" &
store=$!
while [ "$(count)" -lt "$MEMORIES" ]; do sleep 1; done
kill -INT "$store"; wait "$store" || true
echo "stored $(count)"

cat > "$scripts/process.lua" <<LUA
local topics = {"quantum entanglement","the river delta","glacier formation","violin acoustics",
  "orbit mechanics","harbor logistics","desert ecology","crystal growth"}
local n = 0
function request()
  n = n + 1
  local body = string.format('{"input":"Explain %s in simple terms (%d)","pipeline_options":{"memory_depth":3}}',
    topics[n % 8 + 1], n)
  return wrk.format("POST", "/lukhas/v1/matriz/process",
    {["Content-Type"]="application/json", ["Authorization"]="Bearer $TOKEN"}, body)
end
-- Each answer's own figures: its processing time (from admission) less its thought stage's,
-- i.e. the pipeline's overhead over the model, exactly per request (not a histogram bucket).
overheads = {}
memories = {}
actions = {}
local function stage(body, name)
  return tonumber(body:match('"stage":"' .. name .. '".-"processing_time_ms":([%d%.eE%-]+)'))
end
function response(status, headers, body)
  if status ~= 200 then return end
  local total = tonumber(body:match('"metadata":{.-"processing_time_ms":([%d%.eE%-]+)'))
  local thought = stage(body, "thought")
  if total and thought then overheads[#overheads + 1] = total - thought end
  memories[#memories + 1] = stage(body, "memory")
  actions[#actions + 1] = stage(body, "action")
end
threads = {}
function setup(thread) threads[#threads + 1] = thread end
local function quantiles(name, label)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get(name) or {}) do all[#all + 1] = v end
  end
  if #all == 0 then return end
  table.sort(all)
  local q = function(p) return all[math.max(1, math.ceil(p * #all))] end
  io.write(string.format("%s: n %d, p50 %.2f, p99 %.2f, max %.2f ms\n", label, #all, q(0.5), q(0.99), all[#all]))
end
function done(summary, latency, requests)
  quantiles("overheads", "overhead (processing less thought, from each answer)")
  quantiles("memories", "memory stage (from each answer)")
  quantiles("actions", "action stage (from each answer)")
end
LUA
# The probes are paced (wrk's delay(): PROBE_INTERVAL_MS between one connection's requests):
# unpaced, two connections on an endpoint answered in 0.2 ms send thousands of requests a
# second, a load of their own larger than the one being measured. PROBE_INTERVAL_MS=0 sends
# them back to back.
cat > "$scripts/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
function delay() return $PROBE_INTERVAL_MS end
LUA
# Warm-up: the first runs open the ledger writer and the index paths.
wrk -t1 -c4 -d3s -s "$scripts/process.lua" "$BASE" >/dev/null
echo "== /matriz/process, $CONNECTIONS connections, $DURATION; /status and /health read alongside"
wrk -t"$(( CONNECTIONS < 2 ? 1 : 2 ))" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$scripts/process.lua" "$BASE" >"$data/process.out" &
process=$!
sleep 1
wrk -t1 -c2 -d"$(( ${DURATION%s} - 2 ))s" --latency -s "$scripts/get.lua" "$BASE/lukhas/v1/status" >"$data/status.out" &
status=$!
wrk -t1 -c2 -d"$(( ${DURATION%s} - 2 ))s" --latency -s "$scripts/get.lua" "$BASE/lukhas/v1/health" >"$data/health.out" &
health=$!
# SQLite's WAL file keeps its high-water mark (it is rewritten from the start after each
# checkpoint), so its largest size is how far checkpoints fell behind during the run.
( wal_max=0
  while kill -0 "$process" 2>/dev/null; do
    for f in "$data"/*-wal; do
      [ -f "$f" ] && size=$(stat -c %s "$f") && [ "$size" -gt "$wal_max" ] && wal_max=$size
    done
    sleep 0.1
  done
  echo "$wal_max" >"$data/wal_max" ) &
wal_sampler=$!
if [ -n "${PROFILE_OUT:-}" ]; then
  # A flat CPU profile of the server during the run (diagnosis only).
  perf record -q -e cpu-clock -F 999 -g -p "$server" -o "$data/perf.data" -- sleep 10 >/dev/null 2>&1
  perf report -i "$data/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -60 >"$PROFILE_OUT" || true
fi
wait "$process" "$status" "$health" "$wal_sampler"
for name in process status health; do
  echo "-- $name (end to end)"
  grep -E "Requests/sec|  50%|  99%|Non-2xx|Socket errors|overhead|stage \(" "$data/$name.out"
done
echo "-- inside the server"
[ -s "$data/wal_max" ] && echo "SQLite WAL file, largest during the run: $(( $(cat "$data/wal_max") / 1024 )) KiB"
curl -sf "$BASE/lukhas/v1/status" -H "Authorization: Bearer $TOKEN" | python3 -c '
import json, sys
s = json.load(sys.stdin)
p, n = s["performance"], s["system"]["total_interactions"]
mean, p95, p99 = p["average_response_time_ms"], p["p95_response_time_ms"], p["p99_response_time_ms"]
print(f"interactions {n}; MATRIZ processing inside the server: mean {mean} ms, p95 <= {p95} ms, p99 <= {p99} ms (histogram bucket bounds)")'
curl -sf "$BASE/lukhas/v1/matriz/status" -H "Authorization: Bearer $TOKEN" | python3 -c '
import json, sys
s = json.load(sys.stdin)
stages = s["pipeline_health"]
print("stage means (ms): " + ", ".join(k + " " + str(v.get("latency_ms")) for k, v in stages.items()))
l = s["load"]
print("admission: capacity %s; queue wait p50 <= %s, p99 <= %s ms; overhead p50 <= %s, p99 <= %s ms (buckets, since start)" % tuple(l[k] for k in ("capacity", "queue_wait_p50_ms", "queue_wait_p99_ms", "overhead_p50_ms", "overhead_p99_ms")))'
# The ledger writer commits every fold (with its approval): its batches since start.
ADMIN=$(curl -sf -X POST "$BASE/lunaos/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench-admin@example.com","password":"correct horse battery"}' | json '["data"]["token"]')
python3 bench/writer_stats.py "$BASE" "$ADMIN"
