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
  await assert.rejects(client.auth.token({ username: account.email, password: PASSWORD, biometric_data: 'x' }), (e) => e instanceof lukhas.AuthenticationError && e.status === 401 && /biometric_data/.test(e.message));
  const health = await client.health();
  assert.ok(Object.keys(health.modules).length > 0);
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
