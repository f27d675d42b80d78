// Orrery's /v1 through the official `openai` npm client: chat (plain and streamed),
// embeddings (the client's default base64 and float) and typed errors.
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.ORRERY_OPENAI_BASE_URL,
  apiKey: process.env.ORRERY_OPENAI_KEY,
  maxRetries: 0,
});
const question = "How does the ledger verify its hash chain?";

const reply = await client.chat.completions.create({
  model: "builtin",
  messages: [{ role: "user", content: question }],
  temperature: 0,
});
assert.equal(reply.model, "builtin");
assert.match(reply.choices[0].message.content, /ledger/);
assert.ok(reply.usage.completion_tokens > 0);

const pieces = [];
let finish = null;
let usage = null;
const stream = await client.chat.completions.create({
  model: "builtin",
  messages: [{ role: "user", content: question }],
  stream: true,
  stream_options: { include_usage: true },
  max_tokens: 4,
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    if (choice.delta.content) pieces.push(choice.delta.content);
    if (choice.finish_reason) finish = choice.finish_reason;
  }
}
assert.equal(pieces.length, 4);
assert.equal(finish, "length");
assert.equal(usage.completion_tokens, 4);

const embedded = await client.embeddings.create({ model: "builtin", input: ["the ledger", "bananas"] });
assert.equal(embedded.data.length, 2);
assert.equal(embedded.data[0].embedding.length, 384);
const floats = await client.embeddings.create({ model: "builtin", input: "the ledger", encoding_format: "float" });
const diff = Math.max(...floats.data[0].embedding.map((x, i) => Math.abs(x - embedded.data[0].embedding[i])));
assert.ok(diff < 1e-6, `float and base64 agree (${diff})`);

await assert.rejects(
  client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "hi" }] }),
  (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
);
await assert.rejects(
  new OpenAI({ baseURL: process.env.ORRERY_OPENAI_BASE_URL, apiKey: "lnos_live_nope", maxRetries: 0 }).models.list(),
  (err) => err instanceof OpenAI.AuthenticationError,
);
console.log("openai npm client: ok");
