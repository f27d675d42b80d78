#!/usr/bin/env bash
# Code RAG benchmark (not a test), release build, SQLite, builtin embedder:
#   1. indexes CHUNKS chunks (generated source files, 100 per call) through POST
#      /lunaos/rag/index and reports chunks/s,
#   2. hybrid search (vector + FTS5, fused): 1 000 sequential queries timed by the client
#      for p50/p99, then under load with wrk.
#
#   bash bench/rag.sh                   # 30 000 chunks
#   CHUNKS=10000 bash bench/rag.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CHUNKS="${CHUNKS:-30000}"
DURATION="${DURATION:-10s}"
PORT="${PORT:-18184}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release -q -p orrery-api
data=$(mktemp -d)
scripts=$(mktemp -d)
ORRERY_ENV=production ORRERY_DATA_DIR="$data" ORRERY_LOG__ACCESS=false \
ORRERY_RATE_LIMIT__FREE=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
RUST_LOG=warn ./target/release/orrery serve --bind "127.0.0.1:$PORT" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data" "$scripts"' EXIT
for _ in $(seq 200); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench-rag@example.com","password":"correct horse battery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')

python3 - "$BASE" "$TOKEN" "$CHUNKS" <<'PY'
import json, sys, time, urllib.request
base, token, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
nouns = ["token", "ledger", "policy", "session", "memory", "chunk", "review", "decision",
         "signature", "cache", "quota", "stream", "socket", "index", "vector", "query"]
verbs = ["verify", "load", "store", "rotate", "parse", "merge", "flush", "render", "check", "open"]

def function(i):
    n, v = nouns[i % len(nouns)], verbs[(i // len(nouns)) % len(verbs)]
    body = "\n".join(f"    let step_{k} = {v}_{n}_part({k});" for k in range(12))
    return f"/// {v.capitalize()}s the {n} (#{i}).\npub fn {v}_{n}_{i}(input: &str) -> Result<(), Error> {{\n{body}\n    Ok(())\n}}\n"

def post(path, payload):
    request = urllib.request.Request(base + path, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(request))["data"]

chunks, started, i, call = 0, time.time(), 0, 0
while chunks < target:
    files = []
    for f in range(100):
        files.append({"path": f"src/module_{call}/file_{f}.rs", "content": "\n".join(function(i + k) for k in range(3))})
        i += 3
    chunks += post("/lunaos/rag/index", {"repository": "bench", "files": files})["vectors"]
    call += 1
elapsed = time.time() - started
print(f"indexed {chunks} chunks in {elapsed:.1f} s: {chunks / elapsed:.0f} chunks/s ({call} calls of 100 files)")

times = []
queries = ["verifyToken", "rotate the signing key", "flush_cache", "parse a policy", "ledger signature check"]
for q in range(1000):
    t = time.perf_counter()
    found = post("/lunaos/rag/search", {"query": queries[q % len(queries)], "limit": 5})
    times.append((time.perf_counter() - t) * 1000)
    assert found["total"] == 5, found
times.sort()
print(f"hybrid search over {chunks} chunks, sequential, client-timed: p50 {times[500]:.2f} ms p99 {times[990]:.2f} ms")
PY

cat > "$scripts/search.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"query":"rotate the signing key","limit":5}'
LUA
echo "== hybrid search under load (wrk -t2 -c8 -d$DURATION --latency)"
wrk -t2 -c8 -d"$DURATION" --latency -s "$scripts/search.lua" "$BASE/lunaos/rag/search" |
  grep -E "Requests/sec|  50%|  99%|Non-2xx"
