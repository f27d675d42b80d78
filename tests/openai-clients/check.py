"""Orrery's /v1 through the official `openai` Python client: chat (plain, streamed,
structured), embeddings (the client's default base64 and float), models and typed errors.
Reads ORRERY_OPENAI_BASE_URL and ORRERY_OPENAI_KEY; exits non-zero on the first failure."""

import json
import math
import os

import openai

base_url = os.environ["ORRERY_OPENAI_BASE_URL"]
client = openai.OpenAI(base_url=base_url, api_key=os.environ["ORRERY_OPENAI_KEY"], max_retries=0)

models = [m.id for m in client.models.list()]
assert "builtin/builtin" in models, models

question = "How does the ledger verify its hash chain?"
reply = client.chat.completions.create(
    model="builtin",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
    temperature=0,
)
assert reply.model == "builtin", reply.model
text = reply.choices[0].message.content
assert "ledger" in text and "builtin" in text, text
assert reply.choices[0].finish_reason == "stop"
assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0, reply.usage
assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

pieces, finish, usage = [], None, None
stream = client.chat.completions.create(
    model="builtin/builtin",
    messages=[{"role": "user", "content": question}],
    stream=True,
    stream_options={"include_usage": True},
    max_tokens=6,
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
assert len(pieces) == 6, pieces
assert finish == "length", finish
assert usage is not None and usage.completion_tokens == 6, usage

schema = {
    "type": "object",
    "required": ["verdict", "terms"],
    "additionalProperties": False,
    "properties": {
        "verdict": {"type": "string", "enum": ["allow", "deny"]},
        "terms": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    },
}
structured = client.chat.completions.create(
    model="builtin",
    messages=[{"role": "user", "content": question}],
    response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}},
)
parsed = json.loads(structured.choices[0].message.content)
assert parsed["verdict"] in ("allow", "deny") and parsed["terms"], parsed

# The client asks for base64 by default and decodes it itself.
embedded = client.embeddings.create(model="builtin", input=["the ledger verifies its hash chain", "verify the ledger hash chain", "bananas are yellow"])
vectors = [item.embedding for item in embedded.data]
assert [item.index for item in embedded.data] == [0, 1, 2]
assert all(len(v) == 384 for v in vectors)
assert abs(math.sqrt(sum(x * x for x in vectors[0])) - 1) < 1e-4


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]), "similar texts rank closer"
floats = client.embeddings.create(model="builtin", input="the ledger verifies its hash chain", encoding_format="float")
assert max(abs(x - y) for x, y in zip(floats.data[0].embedding, vectors[0])) < 1e-6, "float and base64 agree"
short = client.embeddings.create(model="builtin", input="the ledger", dimensions=64, encoding_format="float")
assert len(short.data[0].embedding) == 64

try:
    client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("an unknown model must fail")
except openai.NotFoundError as err:
    assert err.code == "model_not_found", err.code
try:
    client.chat.completions.create(model="builtin", messages=[])
    raise AssertionError("no messages must fail")
except openai.BadRequestError as err:
    assert err.param == "messages", err.param
try:
    openai.OpenAI(base_url=base_url, api_key="lnos_live_not_a_real_key", max_retries=0).models.list()
    raise AssertionError("a bad key must fail")
except openai.AuthenticationError:
    pass
print("openai python client: ok")
