// Every served operation through the TypeScript SDKs, against a real Orrery server started by
// the Rust harness (tests/tests/e2e/sdk_contract.rs), which sets ORRERY_SDK_* (see the Python
// contract suite's conftest for the list).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import * as lexecon from '../../lexecon/dist/index.js';
import * as lukhas from '../../lukhas/dist/index.js';
import * as lumen from '../../lumen/dist/index.js';
import * as lunaos from '../../lunaos/dist/index.js';

const env = process.env;
const SERVER = env.ORRERY_SDK_SERVER;
const skip = SERVER ? false : 'ORRERY_SDK_SERVER is not set: contract tests run from the Rust harness';
const PASSWORD = env.ORRERY_SDK_PASSWORD;

const luna = (options = {}) => new lunaos.LunaosClient({ baseURL: `${SERVER}/lunaos`, ...options });
const lx = (options = {}) => new lexecon.LexeconClient({ baseURL: `${SERVER}/lexecon`, ...options });
let account;

before(async () => {
  if (skip) return;
  const email = `ts-${randomUUID()}@example.com`;
  const signed = await luna().auth.signup({ email, password: PASSWORD, name: 'TS' });
  const key = await luna({ accessToken: signed.token }).apiKeys.create({ name: 'contract' });
  account = { email, token: signed.token, apiKey: key.key };
});

test('LunaOS: signup, login, me, errors', { skip }, async () => {
  const email = `Ada-${randomUUID()}@Example.com`;
  const { data: signed, requestId } = await luna().auth.signup({ email, password: PASSWORD, name: 'Ada' }).withResponse();
  assert.equal(signed.user.email, email.toLowerCase());
  assert.ok(requestId);
  const logged = await luna().auth.login({ email, password: PASSWORD });
  assert.equal((await luna({ accessToken: logged.token }).auth.me()).id, signed.user.id);
  await assert.rejects(luna({ maxRetries: 0 }).auth.signup({ email, password: PASSWORD }), (e) => e instanceof lunaos.ConflictError && e.code === 'conflict');
  await assert.rejects(luna({ maxRetries: 0 }).auth.signup({ email: `x-${randomUUID()}@example.com`, password: 'short' }), (e) => e instanceof lunaos.BadRequestError && e.code === 'validation_failed');
  await assert.rejects(luna({ maxRetries: 0 }).auth.login({ email, password: 'wrong password!' }), (e) => e instanceof lunaos.AuthenticationError && e.code === 'unauthorized');
  await assert.rejects(luna({ maxRetries: 0 }).auth.me(), lunaos.AuthenticationError);
});

test('LunaOS: API key lifecycle and health', { skip }, async () => {
  const client = luna({ accessToken: account.token, maxRetries: 0 });
  const created = await client.apiKeys.create({ name: 'laptop' });
  assert.ok(created.key.startsWith(created.prefix));
  assert.equal((await luna({ apiKey: created.key }).auth.me()).email, account.email);
  assert.ok((await client.apiKeys.list()).keys.some((k) => k.id === created.id));
  assert.equal((await client.apiKeys.revoke(created.id)).id, created.id);
  await assert.rejects(luna({ apiKey: created.key, maxRetries: 0 }).auth.me(), lunaos.AuthenticationError);
  await assert.rejects(client.apiKeys.revoke(created.id), lunaos.NotFoundError);
  const health = await luna().health();
  assert.equal(health.status, 'healthy');
});

test('LunaOS: agent and chain runs stream typed events; breaking the loop stops reading', { skip }, async () => {
  const client = luna({ apiKey: account.apiKey, maxRetries: 0 });
  const events = [];
  for await (const event of client.agents.execute({ agent: 'code-review', context: 'Review: fn add(a: i32, b: i32) -> i32 { a - b }' })) {
    events.push(event);
  }
  assert.equal(events[0].type, 'start');
  const done = events.at(-1);
  assert.equal(done.type, 'done');
  assert.equal(done.executionId, events[0].executionId);
  const text = events.filter((e) => e.type === 'chunk').map((e) => e.content).join('');
  assert.equal(done.tokens.output, events.length - 2);
  const stored = await client.agents.execution(done.executionId);
  assert.equal(stored.status, 'completed');
  assert.equal(stored.output, text);
  let first;
  for await (const event of client.agents.execute({ agent: 'documentation', context: 'Document add' })) {
    first = event;
    break;
  }
  assert.equal(first.type, 'start');
  const chain = [];
  for await (const event of client.chains.execute({ preset: 'deploy', context: 'fn add() {}' })) chain.push(event.type);
  assert.equal(chain[0], 'chain_start');
  assert.equal(chain.at(-1), 'chain_done');
  assert.equal(chain.filter((t) => t === 'step_done').length, 3);
  await assert.rejects(async () => {
    for await (const _ of client.agents.execute({ agent: 'seo', context: 'x' })) void _;
  }, (e) => e instanceof lunaos.ProRequiredError && e.status === 403);
  const usage = await client.billing.usage();
  assert.ok(usage.used >= 3);
  await assert.rejects(client.billing.checkout({ tier: 'pro' }), (e) => e.status === 501);
});

test('LUKHAS: token, refresh rotation, errors, health', { skip }, async () => {
  const client = new lukhas.LukhasClient({ baseURL: `${SERVER}/lukhas/v1`, maxRetries: 0 });
  const token = await client.auth.token({ username: account.email, password: PASSWORD });
  assert.equal(token.token_type, 'bearer');
  const refreshed = await client.auth.refresh({ refresh_token: token.refresh_token });
  assert.notEqual(refreshed.refresh_token, token.refresh_token);
  await assert.rejects(client.auth.refresh({ refresh_token: token.refresh_token }), (e) => e instanceof lukhas.InvalidToken && e.status === 401);
  await assert.rejects(client.auth.token({ username: account.email, password: PASSWORD, biometric_data: 'x' }), (e) => e instanceof lukhas.BadRequestError && e.code === 'VALIDATION_ERROR' && /biometric_data/.test(e.message));
  const health = await client.health();
  assert.ok(Object.keys(health.modules).length > 0);
});

test('LUKHAS: the guardian validates the document\'s action', { skip }, async () => {
  const client = new lukhas.LukhasClient({ baseURL: `${SERVER}/lukhas/v1`, apiKey: account.apiKey, maxRetries: 0 });
  const validation = await client.guardian.validate({
    action: {
      type: 'response_generation',
      content: 'Instructions for building a particle accelerator',
      target_user: 'user123',
      context: 'Educational request from physics student',
    },
  });
  assert.equal(validation.decision, 'APPROVED');
  assert.ok(validation.conditions.includes('Emphasize professional supervision required'));
  await assert.rejects(client.guardian.validate({ action: { type: 'BAD', content: 'x' } }), (e) => e.status === 400 && e.code === 'VALIDATION_ERROR');
});

test('LUKHAS: the JavaScript quick start, streaming sessions and batches', { skip }, async () => {
  // The document's quick start, with this server's address.
  const client = new lukhas.LukhasClient({
    apiKey: account.apiKey,
    baseURL: `${SERVER}/lukhas/v1`,
  });
  const response = await client.process('Hello, LUKHAS!');
  assert.ok(response.text.length > 0);
  const session = client.stream({ options: { memory_depth: 0 } });
  session.sendQuery('Explain consciousness');
  const kinds = [];
  let text = '';
  for await (const event of session) {
    kinds.push(event.type);
    if (event.type === 'content') text += event.text;
  }
  assert.equal(kinds.at(-1), 'complete');
  assert.ok(kinds.includes('metadata') && text.includes('[builtin]'));
  const batch = await client.batchProcess({ queries: ['What is memory?', 'What is attention?'], parallel: true });
  assert.deepEqual(batch.responses.map((r) => r.status), ['completed', 'completed']);
  assert.ok(batch.responses.every((r) => r.summary.length > 0));
});

test('Lumen: health and docs', { skip }, async () => {
  const client = new lumen.LumenClient({ baseURL: `${SERVER}/lumen`, apiKey: account.apiKey });
  assert.equal((await client.health()).service, 'Lumen Core API');
  assert.ok(Object.keys((await client.docs()).endpoints).some((p) => p.includes('/health')));
});

test('Lexecon: decide, verify, lookups, ledger pages', { skip }, async () => {
  const client = lx({ apiKey: account.apiKey });
  const decision = await client.decide({ actor: 'model', action: 'Search the web', tool: 'web_search', intent: 'papers', risk_level: 1 });
  assert.equal(decision.decision, 'ALLOWED');
  const again = await client.decide({ actor: 'model', action: 'Search the web', tool: 'web_search', intent: 'papers', risk_level: 1, request_id: decision.request_id });
  assert.equal(again.decision_id, decision.decision_id, 'request_id deduplicates');
  await assert.rejects(
    lx({ apiKey: account.apiKey, maxRetries: 0 }).decide({ actor: 'model', action: 'Delete all records', tool: 'delete_records', risk_level: 4, request_id: decision.request_id }),
    (e) => e instanceof lexecon.ConflictError && e.status === 409,
    'the same request_id with a different request is refused',
  );
  const verified = await client.verify({ capability_token: decision.capability_token, action: 'web_search', actor: 'model' });
  assert.equal(verified.valid, true);
  assert.equal((await client.verify({ capability_token: decision.capability_token, action: 'shell' })).reason, 'Action mismatch');
  assert.equal((await client.getDecision(decision.decision_id)).tool, 'web_search');
  await assert.rejects(client.getDecision('dec_01ARZ3NDEKTSV4RRFFQ69G5FAV'), (e) => e instanceof lexecon.NotFoundError && e instanceof lexecon.DecisionError);
  await assert.rejects(lx({ apiKey: account.apiKey, maxRetries: 0 }).decide({ actor: 'm', action: 'a', tool: 't', risk_level: 9 }), (e) => e instanceof lexecon.DecisionError && e instanceof lexecon.BadRequestError);
  await client.decide({ actor: 'model', action: 'Search the web', tool: 'web_search' });
  const page = await client.getLedger({ limit: 1, actor: 'model', start_time: new Date(Date.now() - 3600_000) });
  assert.equal(page.items.length, 1);
  let walked = 0;
  for await (const entry of page) { assert.ok(entry.entry_hash.startsWith('sha256:')); walked++; }
  assert.equal(walked, page.total);
  const policy = await client.getPolicy();
  assert.ok(policy.version && policy.loaded_at);
  assert.equal((await client.getNodeInfo()).public_key.length, 64);
  assert.equal((await lx({ apiKey: null }).healthCheck()).status, 'healthy');
  await assert.rejects(lx({ apiKey: null, maxRetries: 0 }).getPolicy(), lexecon.AuthenticationError);
});

test('Lexecon: reviews, revocation, ledger verification', { skip }, async () => {
  const client = lx({ apiKey: account.apiKey, maxRetries: 0 });
  const reviewer = lx({ accessToken: env.ORRERY_SDK_REVIEWER_TOKEN, maxRetries: 0 });
  const admin = lx({ accessToken: (await luna().auth.login({ email: env.ORRERY_SDK_ADMIN_EMAIL, password: PASSWORD })).token, maxRetries: 0 });
  const pending = await client.decide({ actor: 'model', action: 'Delete the production database', tool: 'web_search', risk_level: 5 });
  assert.equal(pending.decision, 'REQUIRES_REVIEW');
  await assert.rejects(client.listReviews(), (e) => e instanceof lexecon.ReviewError && e instanceof lexecon.PermissionDeniedError);
  assert.ok((await reviewer.listReviews()).reviews.some((r) => r.decision_id === pending.decision_id));
  const approved = await reviewer.approveReview(pending.decision_id, { reason: 'checked' });
  assert.equal(approved.review?.status, 'approved');
  await assert.rejects(reviewer.approveReview(pending.decision_id), lexecon.ConflictError);
  const other = await client.decide({ actor: 'model', action: 'Delete the production database', tool: 'web_search', risk_level: 5 });
  assert.equal((await reviewer.denyReview(other.decision_id, { reason: 'no' })).review?.status, 'denied');
  const tokenId = (await client.verify({ capability_token: approved.capability_token })).token_id;
  await assert.rejects(client.revokeToken(tokenId), lexecon.PermissionDeniedError);
  assert.equal((await admin.revokeToken(tokenId, { reason: 'compromised' })).revoked, true);
  assert.equal((await client.verify({ capability_token: approved.capability_token })).reason, 'Token revoked');
  await assert.rejects(client.verifyLedger(), lexecon.PermissionDeniedError);
  const report = await admin.verifyLedger();
  assert.equal(report.valid, true);
  const checkpoint = await admin.getCheckpoint();
  assert.equal((await admin.verifyCheckpoint(checkpoint)).valid, true);
  const forged = await admin.verifyCheckpoint({ ...checkpoint, head_hash: 'sha256:' + '0'.repeat(64) });
  assert.equal(forged.valid, false);
  assert.match(forged.problem.problem, /signature/);
});

test('a real 429 maps to RateLimitError with retryAfter', { skip }, async () => {
  const limited = new lunaos.LunaosClient({ baseURL: `${env.ORRERY_SDK_LIMITED_SERVER}/lunaos`, maxRetries: 0 });
  await assert.rejects(
    (async () => { for (let i = 0; i < 3; i++) await limited.health(); })(),
    (e) => e instanceof lunaos.RateLimitError && e.code === 'rate_limited' && e.retryAfter > 0,
  );
});

// The terminal WebSocket helper (Node 20 has no global WebSocket: the `ws` package is used,
// so the key travels in the upgrade request's headers and refusals are typed).
const terminalKey = async (scopes) => {
  const signed = await luna().auth.signup({ email: `ts-term-${randomUUID()}@example.com`, password: PASSWORD, name: 'T' });
  return (await luna({ accessToken: signed.token }).apiKeys.create({ name: 'terminal', scopes })).key;
};

test('Lumen terminal: execute streams typed frames until complete', { skip }, async () => {
  const client = new lumen.LumenClient({ baseURL: `${SERVER}/lumen`, apiKey: await terminalKey(['terminal:execute', 'chat']) });
  const frames = [];
  for await (const frame of client.terminal.execute('echo hi; echo oops >&2', { session_id: 'ts' })) frames.push(frame);
  assert.deepEqual(frames.slice(0, 2).map((f) => f.type), ['ack', 'start']);
  assert.ok(frames.some((f) => f.type === 'stdout' && f.data === 'hi\n'));
  const done = frames.at(-1);
  assert.equal(done.type, 'complete');
  assert.deepEqual({ ...done.result, duration: 0 }, { status: 'success', exitCode: 0, stdout: 'hi\n', stderr: 'oops\n', duration: 0, killed: false });
  assert.equal(done.sandbox.environment, 'cleared');

  // One error frame for a refused cwd; an approval resolved while the loop waits runs here.
  const refused = [];
  for await (const frame of client.terminal.execute('ls', { cwd: '../../' })) refused.push(frame);
  assert.deepEqual(refused.map((f) => f.type), ['error']);
  const seen = [];
  for await (const frame of client.terminal.execute('touch old.log && rm old.log && echo gone')) {
    seen.push(frame.type);
    if (frame.type === 'approval_required') assert.equal((await client.resolveApproval(frame.approvalId, { approve: true })).status, 'approved');
    if (frame.type === 'complete') assert.equal(frame.result.stdout, 'gone\n');
  }
  assert.equal(seen[0], 'approval_required');
  assert.equal(seen.at(-1), 'complete');

  // Breaking out of the loop closes the socket (the server cancels the command).
  for await (const frame of client.terminal.execute('sleep 30')) if (frame.type === 'start') break;
});

test('Lumen terminal: the handshake is authenticated and typed', { skip }, async () => {
  const bad = new lumen.LumenClient({ baseURL: `${SERVER}/lumen`, apiKey: 'lnos_live_not_a_key' });
  await assert.rejects(
    (async () => { for await (const _ of bad.terminal.execute('echo hi')); })(),
    (e) => e instanceof lumen.AuthenticationError && e.status === 401 && e.code === 'UNAUTHORIZED',
  );
  const mocked = [];
  for await (const frame of new lumen.LumenClient({ mock: true }).terminal.execute('ls -la')) mocked.push(frame.type);
  assert.deepEqual(mocked, ['ack', 'start', 'stdout', 'complete']);
});

// The document's "WebSocket Terminal Streaming" Node example, as written (CommonJS,
// `require('ws')`), with the server's address and a key put into its URL.
test("Lumen terminal: the document's Node example runs as written", { skip }, async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const key = await terminalKey(['terminal:execute']);
  const example = `const WebSocket = require('ws');

const ws = new WebSocket('wss://lumenchat.org/ws');

ws.on('open', () => {
  console.log('Connected to terminal monitor');
  
  ws.send(JSON.stringify({
    type: 'execute',
    command: 'npm install express',
    cwd: '/app'
  }));
});

ws.on('message', (data) => {
  const message = JSON.parse(data.toString());
  
  switch(message.type) {
    case 'start':
      console.log(\`\\n⚡ Running: \${message.command}\`);
      break;
    case 'stdout':
      process.stdout.write(message.data);
      break;
    case 'stderr':
      process.stderr.write(message.data);
      break;
    case 'complete':
      const duration = (message.result.duration / 1000).toFixed(2);
      console.log(\`\\n✅ Completed in \${duration}s\`);
      ws.close();
      break;
    case 'error':
      console.error(\`\\n❌ Error: \${message.message}\`);
      ws.close();
      break;
  }
});
`;
  const run = (script) => {
    const file = join(mkdtempSync(join(tmpdir(), 'lumen-example-')), 'example.cjs');
    writeFileSync(file, script);
    const modules = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules');
    return spawnSync(process.execPath, [file], { env: { ...process.env, NODE_PATH: modules }, encoding: 'utf8', timeout: 20_000 });
  };
  const url = `${SERVER.replace('http://', 'ws://')}/lumen/ws?token=${key}`;
  // As written: `/app` is outside the session's work dir, so one error frame ends it.
  const asWritten = run(example.replace('wss://lumenchat.org/ws', url));
  assert.equal(asWritten.status, 0, asWritten.stderr);
  assert.match(asWritten.stdout, /Connected to terminal monitor/);
  assert.match(asWritten.stderr, /❌ Error: .*cwd/);
  // The same script with a command and cwd this sandbox runs: the output streams.
  const runs = run(example.replace('wss://lumenchat.org/ws', url).replace('npm install express', 'echo hello from the sandbox').replace("cwd: '/app'", "cwd: '.'"));
  assert.equal(runs.status, 0, runs.stderr);
  assert.match(runs.stdout, /⚡ Running: echo hello from the sandbox\nhello from the sandbox\n\n✅ Completed in \d+\.\d\ds/);
});

test('Lumen terminal: a WebSocket that cannot send headers (the global one) gets ?token=', { skip }, async () => {
  const { WebSocket: WS } = await import('ws');
  const urls = [];
  // Like a browser's: a URL, no options.
  class Headerless extends WS {
    constructor(url) {
      urls.push(url);
      super(url);
    }
  }
  globalThis.WebSocket = Headerless;
  try {
    const key = await terminalKey(['terminal:execute']);
    const logged = [];
    const client = new lumen.LumenClient({ baseURL: `${SERVER}/lumen`, apiKey: key, WebSocket: Headerless, logger: (e) => logged.push(e) });
    const types = [];
    for await (const frame of client.terminal.execute('echo hi')) types.push(frame.type);
    assert.equal(types.at(-1), 'complete');
    assert.ok(urls[0].endsWith(`/lumen/ws?token=${encodeURIComponent(key)}`), urls[0]);
    assert.ok(!JSON.stringify(logged).includes(key), 'the key is redacted from the log');
  } finally {
    delete globalThis.WebSocket;
  }
});

// The document's "Chat API" Node example, as written (CommonJS, `require('axios')`), with the
// server's address and a key (an `Authorization` header) put in.
test("Lumen chat: the document's Node example runs as written", { skip }, async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const key = await terminalKey(['terminal:execute', 'chat']);
  const example = `const axios = require('axios');

async function chat(message, sessionId = 'my-session') {
  const response = await axios.post('https://lumenchat.org/api/chat', {
    message,
    sessionId,
    autoApprove: true
  });
  
  console.log('AI Response:', response.data.response.response);
  
  if (response.data.type === 'terminal') {
    console.log('Command:', response.data.response.terminalCommand);
    console.log('Output:', response.data.execution.stdout);
  }
}

chat('List files in current directory');
`;
  const script = example
    .replace('https://lumenchat.org', `${SERVER}/lumen`)
    .replace('autoApprove: true\n  });', `autoApprove: true\n  }, { headers: { Authorization: 'Bearer ${key}' } });`)
    .replace("chat('List files in current directory');", "chat('What is 12 * 12?').then(() => chat('echo from node'));");
  const file = join(mkdtempSync(join(tmpdir(), 'lumen-chat-')), 'example.cjs');
  writeFileSync(file, script);
  const modules = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules');
  const run = spawnSync(process.execPath, [file], { env: { ...process.env, NODE_PATH: modules }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^AI Response: /);
  assert.match(run.stdout, /Command: echo from node\nOutput: from node\n/);
});
