// The TypeScript runtime against a local stub: retries and backoff, idempotency, errors,
// logging, pagination, mock mode. The runtime is one template copied into every package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import * as lexecon from '../../lexecon/dist/index.js';
import * as lukhas from '../../lukhas/dist/index.js';
import * as lunaos from '../../lunaos/dist/index.js';
import { startStub } from './stub.mjs';

const DECISION = {
  decision_id: 'dec_01', decision: 'ALLOWED', reason: 'permitted', capability_token: 'cap_x.y',
  expires_at: '2026-01-01T00:30:00Z', policy_version: '1.0.0', signature: 'ed25519:sig', chain_hash: 'sha256:abc',
  timestamp: '2026-01-01T00:00:00Z',
};

function client(stub, options = {}) {
  const c = new lexecon.LexeconClient({ baseURL: stub.url, apiKey: 'lnos_live_secretkey', ...options });
  const delays = [];
  c.sleep = async (s) => { delays.push(s); };
  return { c, delays };
}

test('retries 5xx with one idempotency key, fills request_id', async () => {
  const stub = await startStub();
  stub.script = [{ status: 503, body: { error: 'busy' } }, { status: 502, body: { error: 'busy' } }, { status: 200, body: DECISION }];
  const { c, delays } = client(stub);
  const { data, requestId, response } = await c.decide({ actor: 'model', action: 'Search', tool: 'web_search' }).withResponse();
  assert.equal(data.decision, 'ALLOWED');
  assert.equal(requestId, 'req_stub_3');
  assert.equal(response.retries, 2);
  const keys = new Set(stub.requests.map((r) => r.headers['idempotency-key']));
  assert.equal(keys.size, 1);
  assert.deepEqual(new Set(stub.requests.map((r) => r.body.request_id)), keys);
  assert.deepEqual(stub.requests.map((r) => r.headers['x-retry-count']), [undefined, '1', '2']);
  assert.equal(delays.length, 2);
  assert.ok(delays[0] >= 0.375 && delays[0] <= 0.5 && delays[1] >= 0.75 && delays[1] <= 1);
  await stub.close();
});

test('honors Retry-After and X-RateLimit-Reset-After, then throws RateLimitError', async () => {
  const stub = await startStub();
  const limited = (headers) => ({ status: 429, body: { error: 'Rate limit exceeded', retry_after: 3 }, headers });
  stub.script = [limited({ 'retry-after': '3' }), limited({ 'x-ratelimit-reset-after': '1.5' }), limited({ 'retry-after': '3' })];
  const { c, delays } = client(stub);
  await assert.rejects(c.decide({ actor: 'm', action: 'a', tool: 't' }), (err) => {
    assert.ok(err instanceof lexecon.RateLimitError);
    assert.ok(err instanceof lexecon.DecisionError, 'per-operation class');
    assert.ok(err instanceof lexecon.LexeconError);
    assert.equal(err.status, 429);
    assert.equal(err.retryAfter, 3);
    assert.equal(err.requestId, 'req_stub_3');
    return true;
  });
  assert.deepEqual(delays, [3, 1.5]);
  await stub.close();
});

test('no retry on 4xx; errors carry the dialect message', async () => {
  const stub = await startStub();
  stub.script = [{ status: 400, body: { error: 'Invalid request', details: 'Missing required field: actor' } }];
  const { c, delays } = client(stub);
  await assert.rejects(c.decide({ actor: '', action: 'a', tool: 't' }), (err) => {
    assert.ok(err instanceof lexecon.BadRequestError);
    assert.match(err.message, /Invalid request: Missing required field: actor/);
    return true;
  });
  assert.equal(delays.length, 0);
  assert.equal(stub.requests.length, 1);
  await stub.close();
});

test('connection errors are retried then typed; timeouts are typed', async () => {
  const port = await new Promise((resolve) => { const s = net.createServer().listen(0, () => { const p = s.address().port; s.close(() => resolve(p)); }); });
  const c = new lexecon.LexeconClient({ baseURL: `http://127.0.0.1:${port}`, apiKey: 'k' });
  const delays = [];
  c.sleep = async (s) => { delays.push(s); };
  await assert.rejects(c.healthCheck(), (e) => e instanceof lexecon.APIConnectionError && e.message.includes(`GET http://127.0.0.1:${port}/health`) && /ECONNREFUSED/.test(e.message));
  assert.equal(delays.length, 2);
  const stub = await startStub();
  stub.script = [async () => { await new Promise((r) => setTimeout(r, 300)); return { status: 200, body: {} }; }];
  const slow = new lexecon.LexeconClient({ baseURL: stub.url, timeout: 50, maxRetries: 0 });
  await assert.rejects(slow.healthCheck(), lexecon.APITimeoutError);
  await stub.close();
});

test('logger sees every exchange with secrets redacted', async () => {
  const stub = await startStub();
  stub.script = [{ status: 503, body: { error: 'busy' } }, { status: 200, body: DECISION }];
  const events = [];
  const { c } = client(stub, { logger: (e) => events.push(e), accessToken: 'jwt.secret.value' });
  await c.decide({ actor: 'm', action: 'a', tool: 't', context: { password: 'hunter2', note: 'visible' } });
  assert.deepEqual(events.map((e) => e.kind), ['request', 'response', 'retry', 'request', 'response']);
  const dump = JSON.stringify(events);
  for (const secret of ['lnos_live_secretkey', 'jwt.secret.value', 'hunter2', 'cap_x.y']) assert.ok(!dump.includes(secret), `${secret} leaked`);
  assert.ok(dump.includes('visible') && dump.includes('[REDACTED]'));
  await stub.close();
});

test('offset pages walk every page', async () => {
  const stub = await startStub();
  const page = (r) => {
    const q = new URL(r.path, 'http://x').searchParams;
    const offset = Number(q.get('offset') ?? 0);
    const limit = Number(q.get('limit'));
    const entries = [];
    for (let i = offset; i < Math.min(offset + limit, 5); i++) entries.push({ entry_id: `ent_${i}`, timestamp: 't', event_type: 'e', prev_hash: 'p', entry_hash: 'h', signature: 's' });
    return { status: 200, body: { total: 5, limit, offset, entries } };
  };
  stub.script = [page, page, page];
  const { c } = client(stub);
  const first = await c.getLedger({ limit: 2, start_time: new Date('2026-01-01T00:00:00Z') });
  assert.deepEqual([...first].map((e) => e.entry_id), ['ent_0', 'ent_1']);
  const all = [];
  for await (const e of first) all.push(e.entry_id);
  assert.deepEqual(all, ['ent_0', 'ent_1', 'ent_2', 'ent_3', 'ent_4']);
  assert.match(stub.requests[0].path, /start_time=2026-01-01T00%3A00%3A00.000Z/);
  await stub.close();
});

test('dialect error codes map to classes', async () => {
  const stub = await startStub();
  const err = (status, code, details) => ({ status, body: { error: { code, message: 'm', details, trace_id: 'req_1', timestamp: 't' } } });
  stub.script = [err(403, 'GUARDIAN_REJECTION', {}), err(422, 'MEMORY_DRIFT_EXCESSIVE', { memory_id: 'mem_123' }), { status: 403, body: { error: 'Upgrade', code: 'pro_required' } }];
  const lk = new lukhas.LukhasClient({ baseURL: stub.url, maxRetries: 0 });
  await assert.rejects(lk.auth.token({ username: 'u', password: 'p' }), (e) => e instanceof lukhas.GuardianRejection && e instanceof lukhas.PermissionDeniedError && e.code === 'GUARDIAN_REJECTION');
  await assert.rejects(lk.auth.token({ username: 'u', password: 'p' }), (e) => e instanceof lukhas.MemoryDrift && e.memoryId === 'mem_123');
  const luna = new lunaos.LunaosClient({ baseURL: stub.url, accessToken: 't', maxRetries: 0 });
  await assert.rejects(luna.auth.me(), (e) => e instanceof lunaos.ProRequiredError && e.message.includes('Upgrade'));
  await stub.close();
});

test('mock mode answers from the document and checks like the server', async () => {
  const c = new lexecon.LexeconClient({ mock: true, apiKey: 'k' });
  const decision = await c.decide({ actor: 'm', action: 'a', tool: 't' });
  assert.equal(typeof decision.decision_id, 'string');
  const page = await c.getLedger();
  assert.equal(page.items.length, 1);
  const anonymous = new lexecon.LexeconClient({ mock: true, apiKey: null });
  await assert.rejects(anonymous.getPolicy(), lexecon.AuthenticationError);
  assert.ok((await anonymous.healthCheck()).status);
  const lk = new lukhas.LukhasClient({ mock: true });
  await assert.rejects(lk.request('token', { body: { username: 'u' } }), (e) => e instanceof lukhas.BadRequestError && e.code === 'VALIDATION_ERROR');
  const luna = new lunaos.LunaosClient({ mock: { me: { data: { id: 'u', email: 'e', tier: 'team', created_at: 't' } }, list: () => [403, { error: 'No', code: 'pro_required' }] }, accessToken: 't' });
  assert.equal((await luna.auth.me()).tier, 'team');
  await assert.rejects(luna.apiKeys.list(), lunaos.ProRequiredError);
});

test('retryDelay backs off with jitter and a cap', () => {
  for (const [attempt, ceiling] of [[0, 0.5], [1, 1], [3, 4], [9, 8]]) {
    const d = lexecon.retryDelay(null, attempt);
    assert.ok(d >= 0.75 * ceiling && d <= ceiling, `${attempt}: ${d}`);
  }
  assert.ok(lexecon.retryDelay(new Headers({ 'retry-after': '86400' }), 0) <= 0.5);
  assert.equal(lexecon.retryDelay(new Headers({ 'retry-after-ms': '250' }), 0), 0.25);
});

test('environment and withOptions configure the client', async () => {
  const stub = await startStub();
  process.env.LEXECON_BASE_URL = stub.url;
  process.env.LEXECON_API_KEY = 'from-env';
  stub.script = [{ status: 200, body: { status: 'healthy' } }, { status: 200, body: { status: 'healthy' } }];
  const c = new lexecon.LexeconClient();
  await c.healthCheck();
  await c.withOptions({ accessToken: 'tok' }).healthCheck();
  delete process.env.LEXECON_BASE_URL;
  delete process.env.LEXECON_API_KEY;
  assert.equal(stub.requests[0].headers['x-api-key'], 'from-env');
  assert.equal(stub.requests[1].headers['authorization'], 'Bearer tok');
  assert.equal(c.accessToken, null);
  await stub.close();
});

test('SSE decoder', () => {
  const d = new lexecon.SSEDecoder();
  const out = [': c', 'event: token', 'data: a', 'data: b', 'id: 7', ''].map((l) => d.feed(l)).filter(Boolean);
  assert.deepEqual(out, [{ event: 'token', data: 'a\nb', id: '7', retry: null }]);
});

test('mock mode streams one example of each event; a missing credential is a typed error', async () => {
  const client = new lunaos.LunaosClient({ mock: true, apiKey: 'k' });
  const kinds = [];
  for await (const event of client.agents.execute({ agent: 'code-review', context: 'x' })) kinds.push(event.type);
  assert.deepEqual(kinds, ['start', 'chunk', 'done', 'error']);
  await assert.rejects(async () => {
    for await (const _ of new lunaos.LunaosClient({ mock: true }).agents.execute({ agent: 'code-review', context: 'x' })) void _;
  }, lunaos.AuthenticationError);
});

test('a stream session runs one send at a time and closes what it leaves', async () => {
  const closed = [];
  async function* start(query) {
    try {
      yield `${query}:1`;
      yield `${query}:2`;
    } finally {
      closed.push(query);
    }
  }
  const session = new lukhas.ProcessStreamSession(start);
  await assert.rejects(session[Symbol.asyncIterator]().next(), /nothing sent yet/);
  session.sendQuery('a');
  const seen = [];
  for await (const event of session) seen.push(event);
  session.sendQuery('b');
  for await (const event of session) {
    seen.push(event);
    break;
  }
  assert.deepEqual(seen, ['a:1', 'a:2', 'b:1']);
  assert.deepEqual(closed, ['a', 'b'], 'leaving the loop closed the run');
});

/** An HTTP server answering each request with the next list of chunks of a chunked
 * `text/event-stream` body; a list ending in `null` is cut off there, as a dying server would. */
async function sseServer(responses) {
  const seen = [];
  const server = net.createServer((socket) => {
    const chunks = responses.shift() ?? [];
    socket.once('data', (data) => {
      const headers = {};
      for (const line of data.toString().split('\r\n').slice(1)) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      seen.push(headers);
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      for (const chunk of chunks) if (chunk) socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
      if (chunks.at(-1) === null) setTimeout(() => socket.destroy(), 50);
      else socket.end('0\r\n\r\n');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

const START = 'event: start\ndata: {"type":"start","executionId":"exec_1","agent":"documentation","provider":"builtin","model":"builtin","sources":[]}\nid: 0\n\n';
const CHUNK_1 = 'event: chunk\ndata: {"type":"chunk","content":"Hello, "}\nid: 1\n\n';
const CHUNK_2 = 'event: chunk\ndata: {"type":"chunk","content":"world"}\nid: 2\n\n';
const DONE = 'event: done\ndata: {"type":"done","executionId":"exec_1","tokens":{"input":3,"output":2},"cost":0,"duration":12}\nid: 3\n\n';

test('a broken GET stream resumes after the last event; a broken POST stream is not sent again', async () => {
  const get = await sseServer([[START, CHUNK_1, null], [CHUNK_2, DONE]]);
  const c = new lunaos.LunaosClient({ baseURL: get.url, apiKey: 'lnos_live_secretkey' });
  c.sleep = async () => {};
  const events = [];
  for await (const event of c.agents.follow('exec_1')) events.push(event);
  assert.deepEqual(events.map((e) => e.type), ['start', 'chunk', 'chunk', 'done']);
  assert.equal(get.seen[0]['last-event-id'], undefined);
  assert.equal(get.seen[1]['last-event-id'], '1');
  await get.close();

  const post = await sseServer([[START, CHUNK_1, null]]);
  const p = new lunaos.LunaosClient({ baseURL: post.url, apiKey: 'lnos_live_secretkey' });
  p.sleep = async () => {};
  const received = [];
  await assert.rejects(async () => {
    for await (const event of p.agents.execute({ agent: 'documentation', context: 'Document add' })) received.push(event.type);
  }, lunaos.APIConnectionError);
  assert.deepEqual(received, ['start', 'chunk']);
  assert.equal(post.seen.length, 1);
  await post.close();
});
