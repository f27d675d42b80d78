#!/usr/bin/env bash
# Recall of the memory index's sketch scans (benchmark, not a test), release build, end to end:
#   1. stores MEMORIES sentences as one account's memories (one type: one partition), embedded
#      by EMBEDDER — `local` (all-MiniLM-L6-v2, real text embeddings; about 4 minutes for
#      each 50 000 on two cores) or `builtin` (feature hashing);
#   2. runs QUERIES other sentences through POST /lukhas/v1/memory/search (limit 10) with
#      every scan exact (`search.exact_up_to` above the partition), then, on the same
#      database, with sketch scans at each of RESCORED (`search.rescored`);
#   3. prints recall@1 and recall@10 against the exact answers (a hit scoring at least the
#      exact tenth's score counts: ties are as good as each other) and the mean search time
#      the server reported.
# The sentences are the documentation comments (`///` lines of six words or more) of the
# crates in the local cargo registry: real English and code prose, shuffled with a fixed seed.
#
#   bash bench/search_recall.sh                           # 100 000 MiniLM memories
#   EMBEDDER=builtin bash bench/search_recall.sh
#   MEMORIES=20000 RESCORED="250 1000" bash bench/search_recall.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MEMORIES="${MEMORIES:-100000}"
QUERIES="${QUERIES:-300}"
EMBEDDER="${EMBEDDER:-local}"
RESCORED="${RESCORED:-250 500 1000 2000}"
PORT="${PORT:-18186}"
BASE="http://127.0.0.1:$PORT"
BIN="${ORRERY_BIN:-./target/release/orrery}"
[ -n "${ORRERY_BIN:-}" ] || cargo build --release -q -p orrery-api
models="${ORRERY_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orrery/models}"
[ "$EMBEDDER" = builtin ] || "$BIN" models install --dir "$models" >/dev/null
data=$(mktemp -d)
server=""
stop() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  server=""
}
trap 'stop; rm -rf "$data"' EXIT

grep -rh --include=*.rs '^\s*///' "${CARGO_HOME:-$HOME/.cargo}/registry/src/" |
  sed 's/^\s*\/\/\/\s*//' | awk 'NF >= 6 && length($0) <= 400' | sort -u >"$data/lines.txt"
python3 - "$data" "$MEMORIES" "$QUERIES" <<'PY'
import random, sys
data, memories, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(f"{data}/lines.txt").read().splitlines()
if len(lines) < memories + queries:
    sys.exit(f"only {len(lines)} sentences in the registry's documentation, {memories + queries} wanted")
random.Random(14).shuffle(lines)
open(f"{data}/memories.txt", "w").write("\n".join(lines[:memories]))
open(f"{data}/queries.txt", "w").write("\n".join(lines[memories:memories + queries]))
PY
cat >"$data/orrery.toml" <<TOML
[providers.local]
kind = "local"
model_dir = "$models"

[ai]
default_embedder = "$EMBEDDER"
TOML
[ "$EMBEDDER" = builtin ] && printf '[ai]\ndefault_embedder = "builtin"\n' >"$data/orrery.toml"

serve() { # env assignments for the server
  env "$@" ORRERY_CONFIG="$data/orrery.toml" ORRERY_ENV=production ORRERY_DATA_DIR="$data" \
    ORRERY_LOG__ACCESS=false ORRERY_RATE_LIMIT__FREE=1000000000 \
    ORRERY_RATE_LIMIT__MEMORY=1000000000 ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=1000000000 \
    RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" >>"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do curl -sf "$BASE/livez" >/dev/null && return; sleep 0.1; done
  echo "the server did not start"; tail "$data/server.log"; exit 1
}

cat >"$data/client.py" <<'PY'
"""The bench account's calls: call(method, path, body) with its token."""
import json, sys, urllib.request
base = sys.argv[1]
def call(method, url, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + url, json.dumps(body).encode(), headers, method=method)
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)
token = call("POST", "/lunaos/auth/login", {"email": "bench-recall@example.com", "password": "correct horse battery"})["data"]["token"]
PY

serve ORRERY_SEARCH__EXACT_UP_TO=1000000000
curl -sf -X POST "$BASE/lunaos/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"bench-recall@example.com","password":"correct horse battery"}' >/dev/null
echo "== storing $MEMORIES memories ($EMBEDDER embeddings)"
started=$(date +%s)
PYTHONPATH="$data" python3 - "$BASE" "$data/memories.txt" <<'PY'
import sys
from concurrent.futures import ThreadPoolExecutor
from client import call, token
path = sys.argv[2]
texts = open(path).read().splitlines()
def store(text):
    call("POST", "/lukhas/v1/memory/store", {"content": {"type": "semantic", "data": text}}, token)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(store, texts))
PY
echo "stored in $(( $(date +%s) - started )) s"

search() { # writes one JSON line a query: ids, scores, search_time_ms
  PYTHONPATH="$data" python3 - "$BASE" "$data/queries.txt" <<'PY'
import json, sys
from client import call, token
path = sys.argv[2]
for query in open(path).read().splitlines():
    found = call("POST", "/lukhas/v1/memory/search", {"query": query, "limit": 10}, token)
    print(json.dumps({"hits": [[r["memory_id"], r["relevance_score"]] for r in found["results"]],
                      "candidates": found["total_matches"], "ms": found["search_time_ms"]}))
PY
}
search >"$data/exact.jsonl"
stop
for rescored in $RESCORED; do
  serve ORRERY_SEARCH__EXACT_UP_TO=0 ORRERY_SEARCH__RESCORED="$rescored"
  search >"$data/sketch-$rescored.jsonl"
  stop
done
python3 - "$data" "$RESCORED" <<'PY'
import json, sys
data, settings = sys.argv[1], sys.argv[2].split()
def load(name):
    return [json.loads(line) for line in open(f"{data}/{name}.jsonl")]
exact = load("exact")
print(f"{'scan':<24} {'recall@1':>9} {'recall@10':>10} {'search ms (mean)':>17}")
def report(label, runs):
    at1 = at10 = 0
    for want, got in zip(exact, runs):
        if not want["hits"]:
            continue
        first, tenth = want["hits"][0][1], want["hits"][-1][1]
        at1 += bool(got["hits"]) and got["hits"][0][1] >= first - 1e-5
        at10 += sum(1 for _, score in got["hits"] if score >= tenth - 1e-5) / len(want["hits"])
    n = sum(1 for w in exact if w["hits"])
    ms = sum(r["ms"] for r in runs) / len(runs)
    print(f"{label:<24} {at1 / n:>9.3f} {at10 / n:>10.3f} {ms:>17.2f}")
report("exact", exact)
for rescored in settings:
    report(f"sketch, {rescored} re-scored", load(f"sketch-{rescored}"))
PY
