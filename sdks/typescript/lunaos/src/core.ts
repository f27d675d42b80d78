// The SDK runtime: transport, retries, errors, logging, pagination and mock mode.
// Copied verbatim into every generated TypeScript package by orrery-sdk-gen
// (sdk-gen/templates/typescript/core.ts); edit it there, then regenerate.

import { APIConnectionError, APIResponseValidationError, APIStatusError, APITimeoutError, makeStatusError } from './errors.js';

export const INITIAL_RETRY_DELAY = 0.5;
export const MAX_RETRY_DELAY = 8;
/** A server asking for a longer wait than this (seconds) is not obeyed: the backoff applies instead. */
export const MAX_RETRY_AFTER = 60;
/** Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND…) is its cause. */
function connectionCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  return cause?.code ?? cause?.message ?? String(err);
}

const RETRYABLE_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);
export const REDACTED = '[REDACTED]';
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'cookie', 'set-cookie', 'proxy-authorization']);
const SECRET_KEYS = new Set(['password', 'key', 'api_key', 'apikey', 'secret', 'token', 'authorization', 'biometric_data']);

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export interface OperationSpec {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly auth: boolean;
  readonly status: number;
  readonly requiredBody: readonly string[];
  readonly mockResponse: unknown;
  readonly idempotencyField: string | null;
  readonly unwrap: string | null;
  /** The answer is a stream of server-sent events (`mockResponse`: a list of them). */
  readonly stream?: boolean;
}

export interface ApiSpec {
  readonly title: string;
  readonly sdkName: string;
  readonly version: string;
  readonly envPrefix: string;
  readonly defaultBaseURL: string;
  readonly errorCode: string | null;
  readonly errorMessage: string;
  readonly errorDetails: string | null;
  readonly mockErrorBody: unknown;
  readonly mockCodes: Readonly<Record<number, string>>;
  readonly operations: Readonly<Record<string, OperationSpec>>;
}

/** A WebSocket the API document describes (`x-websockets`): one message out, typed frames
 * back until a final one. */
export interface ChannelSpec {
  readonly name: string;
  readonly path: string;
  readonly messageType: string;
  readonly final: readonly string[];
  /** The query parameter that carries the credential where headers cannot be set. */
  readonly tokenQuery: string | null;
  /** What mock mode replays (the document's examples, up to the first final frame). */
  readonly mockFrames: readonly unknown[];
}

/** The part of the WHATWG `WebSocket` the SDK uses (the global one, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** A `WebSocket` constructor: `new WebSocket(url)`, or `ws`'s `new WebSocket(url, { headers })`. */
export type WebSocketConstructor = new (url: string, options?: any) => WebSocketLike;

/** One entry of the request/response log. Credentials and secrets are already redacted. */
export interface LogEvent {
  kind: 'request' | 'response' | 'retry' | 'error';
  method: string;
  url: string;
  attempt: number;
  headers?: Record<string, string>;
  body?: unknown;
  status?: number;
  elapsedMs?: number;
  requestId?: string | null;
  delay?: number;
  error?: string;
}

/** An operation id → the body mock mode answers with, or a function of the request. */
export type MockOverrides = Record<string, unknown | ((request: MockRequest) => [number, unknown])>;

export interface MockRequest {
  method: string;
  path: string;
  headers: Headers;
  body: unknown;
}

export interface ClientOptions {
  /** Defaults to `<PREFIX>_BASE_URL` from the environment, then the API's documented URL. */
  baseURL?: string;
  /** Sent as `X-API-Key`. Defaults to `<PREFIX>_API_KEY` from the environment. */
  apiKey?: string | null;
  /** An access token (JWT), sent as `Authorization: Bearer`. */
  accessToken?: string | null;
  /** Milliseconds per try (default 30 000). */
  timeout?: number;
  /** Retries after the first try (default 2). */
  maxRetries?: number;
  defaultHeaders?: Record<string, string>;
  /** A `fetch` to use instead of the global one. */
  fetch?: Fetch;
  /** Receives every request, response and retry, secrets redacted. */
  logger?: (event: LogEvent) => void;
  /** Answer from the API document's examples, without a server. */
  mock?: boolean | MockOverrides;
  /** The WebSocket implementation for channel calls (default: `ws` on Node when installed,
   * else the global `WebSocket`). One that takes `{ headers }` gets the credential there. */
  WebSocket?: WebSocketConstructor;
}

export interface ChannelOptions {
  /** Aborting closes the socket and ends the loop with the abort reason. */
  signal?: AbortSignal;
}

export interface RequestOptions {
  timeout?: number;
  maxRetries?: number;
  headers?: Record<string, string>;
  /** Kept across retries; generated when not given (non-GET requests). */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** The HTTP response behind a result or an error. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly method: string;
  readonly url: string;
  readonly text: string;
  readonly elapsedMs: number;
  readonly retries: number;
  readonly requestId: string | null;
}

export interface WithResponse<T> {
  data: T;
  response: RawResponse;
  requestId: string | null;
}

/** A promise of a result that can also give the raw response: `await client.x().withResponse()`. */
export class APIPromise<T> implements PromiseLike<T> {
  private settled: Promise<WithResponse<T>> | null = null;

  constructor(private readonly run: () => Promise<WithResponse<T>>) {}

  private start(): Promise<WithResponse<T>> {
    this.settled ??= this.run();
    return this.settled;
  }

  withResponse(): Promise<WithResponse<T>> {
    return this.start();
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.start().then((r) => r.data).then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onfinally);
  }
}

export function redactHeaders(headers: Headers | Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  for (const [k, v] of entries) out[k] = SECRET_HEADERS.has(k.toLowerCase()) ? REDACTED : v;
  return out;
}

function secretKey(key: string): boolean {
  const k = key.toLowerCase();
  return SECRET_KEYS.has(k) || k.endsWith('_token') || k.endsWith('password') || k.endsWith('secret') || k.endsWith('_key') || k.startsWith('token');
}

export function redactBody(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(redactBody);
  if (body !== null && typeof body === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      out[k] = secretKey(k) && v !== null && v !== undefined ? REDACTED : redactBody(v);
    }
    return out;
  }
  return body;
}

function pointer(document: unknown, path: string | null): unknown {
  if (!path) return undefined;
  let node: unknown = document;
  for (const part of path.replace(/^\//, '').split('/')) {
    if (node === null || typeof node !== 'object' || !(part in (node as object))) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function parseRetryAfter(value: string, millis: boolean): number | null {
  const n = Number(value);
  if (value !== '' && Number.isFinite(n)) return millis ? n / 1000 : n;
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

/**
 * Seconds to wait before the next try: what the server asked for (`Retry-After`,
 * `X-RateLimit-Reset-After`) when sane, else exponential backoff with jitter.
 */
export function retryDelay(headers: Headers | null, retriesDone: number, random: () => number = Math.random): number {
  if (headers) {
    for (const name of ['retry-after-ms', 'retry-after', 'x-ratelimit-reset-after']) {
      const raw = headers.get(name);
      if (raw === null) continue;
      const seconds = parseRetryAfter(raw.trim(), name === 'retry-after-ms');
      if (seconds !== null && seconds >= 0 && seconds <= MAX_RETRY_AFTER) return seconds;
    }
  }
  const base = Math.min(INITIAL_RETRY_DELAY * 2 ** retriesDone, MAX_RETRY_DELAY);
  return base * (1 - 0.25 * random());
}

function uuid4(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (ch) => {
    const r = (Math.random() * 16) | 0;
    return (ch === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  });
}

function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name];
}

function encode(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out[k] = encode(v);
    return out;
  }
  return value;
}

function queryValue(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Answers every documented operation with its documented example (see `ClientOptions.mock`). */
export function mockFetch(spec: ApiSpec, basePath: string, overrides: MockOverrides = {}): Fetch {
  const routes = Object.values(spec.operations).map((op) => ({
    op,
    pattern: new RegExp('^' + op.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^/]+?\}/g, '[^/]+') + '$'),
  }));
  const reply = (status: number, body: unknown): Response =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-request-id': 'req_mock' } });
  const error = (status: number, message: string): Response => {
    const code = spec.mockCodes[status] ?? 'ERROR';
    const fill = (node: unknown): unknown => {
      if (node === '$code') return code;
      if (node === '$message') return message;
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, fill(v)]));
      }
      return node;
    };
    return reply(status, fill(spec.mockErrorBody));
  };
  const base = basePath.replace(/\/$/, '');
  return async (input, init) => {
    const url = new URL(input);
    let path = url.pathname;
    if (base && path.startsWith(base)) path = path.slice(base.length) || '/';
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    for (const { op, pattern } of routes) {
      if (op.method !== method || !pattern.test(path)) continue;
      if (op.auth && !headers.get('authorization') && !headers.get('x-api-key')) {
        return error(401, 'Mock mode: this operation needs a credential');
      }
      let body: unknown = undefined;
      if (typeof init.body === 'string' && init.body !== '') {
        try {
          body = JSON.parse(init.body);
        } catch {
          return error(400, 'Mock mode: the body is not JSON');
        }
      }
      for (const field of op.requiredBody) {
        const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
        if (value === undefined || value === null) return error(400, `Missing required field: ${field}`);
      }
      const override = overrides[op.id];
      if (typeof override === 'function') {
        const [status, answer] = (override as (r: MockRequest) => [number, unknown])({ method, path, headers, body });
        return reply(status, answer);
      }
      const answer = override === undefined ? op.mockResponse : override;
      if (op.stream && op.status < 400) {
        const frames = (answer as Array<Record<string, unknown>>)
          .map((event) => `event: ${String(event['type'] ?? 'message')}\ndata: ${JSON.stringify(event)}\n\n`)
          .join('');
        return new Response(frames, { status: op.status, headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req_mock' } });
      }
      return reply(op.status, answer);
    }
    return error(404, `Mock mode: no documented operation ${method} ${path}`);
  };
}

export interface Pagination {
  readonly items: string;
  readonly total: string;
  readonly limit: string;
  readonly offset: string;
}

/**
 * One page of an offset-paginated list. Iterating it (`for … of`) yields this page's items;
 * `for await … of` walks every page.
 */
export class OffsetPage<T> implements Iterable<T>, AsyncIterable<T> {
  constructor(
    readonly items: T[],
    readonly total: number,
    readonly limit: number,
    readonly offset: number,
    readonly response: RawResponse,
    private readonly fetchPage: (offset: number) => Promise<OffsetPage<T>>,
  ) {}

  hasNextPage(): boolean {
    return this.items.length > 0 && this.offset + this.items.length < this.total;
  }

  async getNextPage(): Promise<OffsetPage<T>> {
    if (!this.hasNextPage()) throw new Error('no next page');
    return this.fetchPage(this.offset + this.items.length);
  }

  async *iterPages(): AsyncGenerator<OffsetPage<T>> {
    let page: OffsetPage<T> = this;
    for (;;) {
      yield page;
      if (!page.hasNextPage()) return;
      page = await page.getNextPage();
    }
  }

  [Symbol.iterator](): Iterator<T> {
    return this.items[Symbol.iterator]();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for await (const page of this.iterPages()) yield* page.items;
  }
}

export interface ServerSentEvent {
  event: string | null;
  data: string;
  id: string | null;
  retry: number | null;
}

/**
 * A streaming operation held open as a session: the generated subclass's send method starts
 * a run, `for await (const event of session)` yields that run's events until it ends (then
 * the session takes the next send). Leaving the loop early, or `close()`, closes a run still
 * streaming, which cancels its work.
 */
export class StreamSession<E> implements AsyncIterable<E> {
  #start: (value: never) => AsyncGenerator<E, void, undefined>;
  #events: AsyncGenerator<E, void, undefined> | null = null;

  constructor(start: (value: never) => AsyncGenerator<E, void, undefined>) {
    this.#start = start;
  }

  protected send(value: unknown): void {
    void this.close();
    this.#events = this.#start(value as never);
  }

  [Symbol.asyncIterator](): AsyncIterator<E> {
    return {
      next: async () => {
        if (this.#events === null) throw new Error('nothing sent yet: send a query before iterating');
        const result = await this.#events.next();
        if (result.done) this.#events = null;
        return result;
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    const events = this.#events;
    this.#events = null;
    if (events !== null) await events.return(undefined);
  }
}

/** Decodes a `text/event-stream` line by line (the WHATWG algorithm). */
export class SSEDecoder {
  private event: string | null = null;
  private data: string[] = [];
  private id: string | null = null;
  private retry: number | null = null;

  feed(rawLine: string): ServerSentEvent | null {
    const line = rawLine.replace(/\r?\n$/, '');
    if (line === '') {
      if (this.data.length === 0 && this.event === null) return null;
      const out: ServerSentEvent = { event: this.event, data: this.data.join('\n'), id: this.id, retry: this.retry };
      this.event = null;
      this.data = [];
      this.retry = null;
      return out;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.event = value;
    else if (name === 'data') this.data.push(value);
    else if (name === 'id' && !value.includes('\0')) this.id = value;
    else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

interface RequestArgs {
  path?: Record<string, string | number>;
  query?: Record<string, unknown>;
  body?: Record<string, unknown>;
}

export class BaseClient {
  baseURL: string;
  apiKey: string | null;
  accessToken: string | null;
  timeout: number;
  maxRetries: number;
  defaultHeaders: Record<string, string>;
  logger: ((event: LogEvent) => void) | null;
  /** Waits between retries; replaceable in tests. */
  sleep: (seconds: number) => Promise<void> = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));
  protected readonly fetchImpl: Fetch;
  protected readonly mocked: boolean;
  protected readonly webSocketImpl: WebSocketConstructor | null;

  constructor(
    protected readonly spec: ApiSpec,
    options: ClientOptions = {},
  ) {
    this.baseURL = (options.baseURL ?? env(`${spec.envPrefix}_BASE_URL`) ?? spec.defaultBaseURL).replace(/\/+$/, '');
    this.apiKey = options.apiKey !== undefined ? options.apiKey : (env(`${spec.envPrefix}_API_KEY`) ?? null);
    this.accessToken = options.accessToken ?? null;
    this.timeout = options.timeout ?? 30_000;
    const maxRetries = options.maxRetries ?? 2;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RangeError('maxRetries must be an integer ≥ 0');
    this.maxRetries = maxRetries;
    this.defaultHeaders = { ...(options.defaultHeaders ?? {}) };
    this.logger = options.logger ?? null;
    this.mocked = Boolean(options.mock);
    this.webSocketImpl = options.WebSocket ?? null;
    if (options.fetch) {
      this.fetchImpl = options.fetch;
    } else if (options.mock) {
      const overrides = typeof options.mock === 'object' ? options.mock : {};
      this.fetchImpl = mockFetch(spec, new URL(this.baseURL + '/').pathname, overrides);
    } else {
      this.fetchImpl = (input, init) => fetch(input, init);
    }
  }

  /** A client like this one with some options changed, e.g. `client.withOptions({ accessToken })`. */
  withOptions(options: Pick<ClientOptions, 'apiKey' | 'accessToken' | 'timeout' | 'maxRetries' | 'defaultHeaders' | 'logger'>): this {
    const clone = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(clone, this);
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (clone as Record<string, unknown>)[k] = v;
    return clone;
  }

  private log(event: LogEvent): void {
    this.logger?.(event);
  }

  private buildURL(op: OperationSpec, args: RequestArgs): string {
    let path = op.path;
    for (const [name, value] of Object.entries(args.path ?? {})) {
      if (String(value) === '') throw new TypeError(`${name} must not be empty`);
      path = path.replace(`{${name}}`, encodeURIComponent(String(value)));
    }
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(args.query ?? {})) if (v !== undefined && v !== null) query.set(k, queryValue(v));
    const qs = query.toString();
    return this.baseURL + path + (qs ? `?${qs}` : '');
  }

  /** One logical request with its retries. `stream`: a success's body is left unread and
   * returned with the controller that aborts it. */
  private async send(op: OperationSpec, args: RequestArgs, options: RequestOptions, stream?: { body?: ReadableStream<Uint8Array> | null; controller?: AbortController }): Promise<RawResponse> {
    const url = this.buildURL(op, args);
    const key = options.idempotencyKey ?? (op.method !== 'GET' ? `orrery-${uuid4()}` : undefined);
    let content: string | undefined;
    if (args.body !== undefined) {
      const wire = encode(args.body) as Record<string, unknown>;
      if (op.idempotencyField && (wire[op.idempotencyField] === undefined || wire[op.idempotencyField] === null) && key) {
        wire[op.idempotencyField] = key;
      }
      content = JSON.stringify(wire);
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `${this.spec.sdkName}-typescript/${this.spec.version}`,
    };
    if (this.accessToken) headers['authorization'] = `Bearer ${this.accessToken}`;
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    if (key) headers['idempotency-key'] = key;
    if (content !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, this.defaultHeaders, options.headers ?? {});
    const maxRetries = options.maxRetries ?? this.maxRetries;
    const timeout = options.timeout ?? this.timeout;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) headers['x-retry-count'] = String(attempt);
      this.log({ kind: 'request', method: op.method, url, attempt, headers: redactHeaders(headers), body: content ? redactBody(JSON.parse(content)) : undefined });
      const started = Date.now();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeout);
      const abort = (): void => controller.abort();
      options.signal?.addEventListener('abort', abort);
      let response: Response;
      let text: string;
      try {
        const init: RequestInit = { method: op.method, headers, signal: controller.signal };
        if (content !== undefined) init.body = content;
        response = await this.fetchImpl(url, init);
        if (stream && response.status < 400) {
          stream.body = response.body;
          stream.controller = controller;
          text = '';
        } else {
          text = await response.text();
        }
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const timedOut = controller.signal.aborted;
        if (attempt < maxRetries) {
          const delay = retryDelay(null, attempt);
          this.log({ kind: 'retry', method: op.method, url, attempt, delay, error: String(err) });
          await this.sleep(delay);
          continue;
        }
        this.log({ kind: 'error', method: op.method, url, attempt, error: String(err) });
        throw timedOut
          ? new APITimeoutError(`${op.method} ${url}: request timed out after ${timeout} ms`, { cause: err })
          : new APIConnectionError(`${op.method} ${url}: connection failed (${connectionCause(err)}); is the server running at that address?`, { cause: err });
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', abort);
      }
      const raw: RawResponse = {
        status: response.status,
        headers: response.headers,
        method: op.method,
        url,
        text,
        elapsedMs: Date.now() - started,
        retries: attempt,
        requestId: response.headers.get('x-request-id'),
      };
      let logged: unknown = text;
      try {
        logged = redactBody(JSON.parse(text));
      } catch {
        // not JSON: logged as text
      }
      this.log({ kind: 'response', method: op.method, url, attempt, status: raw.status, headers: redactHeaders(raw.headers), body: logged, elapsedMs: raw.elapsedMs, requestId: raw.requestId });
      if (raw.status >= 400 && attempt < maxRetries && this.shouldRetry(raw)) {
        const delay = retryDelay(raw.headers, attempt);
        this.log({ kind: 'retry', method: op.method, url, attempt, status: raw.status, delay });
        await this.sleep(delay);
        continue;
      }
      return raw;
    }
  }

  private shouldRetry(raw: RawResponse): boolean {
    const override = raw.headers.get('x-should-retry');
    if (override === 'true' || override === 'false') return override === 'true';
    return RETRYABLE_STATUSES.has(raw.status);
  }

  private result(op: OperationSpec, raw: RawResponse): unknown {
    let body: unknown;
    try {
      body = raw.text === '' ? null : JSON.parse(raw.text);
    } catch {
      if (raw.status < 400) throw new APIResponseValidationError('response is not JSON');
      body = raw.text;
    }
    if (raw.status >= 400) throw statusError(this.spec, op.id, raw, body);
    if (op.unwrap) {
      if (body === null || typeof body !== 'object' || !(op.unwrap in body)) {
        throw new APIResponseValidationError(`response has no \`${op.unwrap}\` envelope`);
      }
      body = (body as Record<string, unknown>)[op.unwrap];
    }
    return body;
  }

  /** Calls one operation; the generated methods are the typed way in. */
  request<T>(operation: string, args: RequestArgs = {}, options: RequestOptions = {}): APIPromise<T> {
    const op = this.spec.operations[operation];
    if (!op) throw new Error(`unknown operation ${operation}`);
    return new APIPromise(async () => {
      const raw = await this.send(op, args, options);
      return { data: this.result(op, raw) as T, response: raw, requestId: raw.requestId };
    });
  }

  /** Calls a server-sent-event operation: its events (the `data` JSON of those named in
   * `events`) as they arrive. Tries before the response are retried like any request. Once a
   * POST stream has begun it is never re-sent (that would start the work again); a GET stream
   * that breaks is resumed after the last event received (`Last-Event-ID`), within the
   * retries. Leaving the `for await` loop early aborts the request, which closes the
   * connection. */
  async *requestStream<T>(operation: string, events: readonly string[], args: RequestArgs = {}, options: RequestOptions = {}): AsyncGenerator<T, void, undefined> {
    const op = this.spec.operations[operation];
    if (!op) throw new Error(`unknown operation ${operation}`);
    const wanted = new Set(events);
    const decode = (sse: ServerSentEvent | null): T | undefined => {
      if (!sse || !wanted.has(sse.event ?? 'message')) return undefined;
      try {
        return JSON.parse(sse.data) as T;
      } catch (err) {
        throw new APIResponseValidationError(`event ${sse.event ?? 'message'} is not JSON`, { cause: err });
      }
    };
    const maxRetries = options.maxRetries ?? this.maxRetries;
    let lastEventId: string | null = null;
    for (let resumes = 0; ; resumes++) {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...(options.headers ?? {}) };
      if (lastEventId !== null) headers['last-event-id'] = lastEventId;
      const stream: { body?: ReadableStream<Uint8Array> | null; controller?: AbortController } = {};
      const raw = await this.send(op, args, { ...options, headers }, stream);
      if (raw.status >= 400 || !stream.body || !stream.controller) {
        this.result(op, raw);
        throw new APIResponseValidationError('the response has no event stream');
      }
      const controller = stream.controller;
      const abort = (): void => controller.abort();
      options.signal?.addEventListener('abort', abort);
      const reader = stream.body.getReader();
      const text = new TextDecoder();
      const decoder = new SSEDecoder();
      const seen = (sse: ServerSentEvent | null): ServerSentEvent | null => {
        if (sse?.id) lastEventId = sse.id;
        return sse;
      };
      let buffered = '';
      let broke: unknown = null;
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (options.signal?.aborted) throw err;
            broke = err;
            break;
          }
          if (chunk.done) break;
          buffered += text.decode(chunk.value, { stream: true });
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const event = decode(seen(decoder.feed(buffered.slice(0, nl))));
            buffered = buffered.slice(nl + 1);
            if (event !== undefined) yield event;
          }
        }
        if (broke === null) {
          const last = decode(seen(decoder.feed(buffered))) ?? decode(seen(decoder.feed('')));
          if (last !== undefined) yield last;
          return;
        }
      } finally {
        options.signal?.removeEventListener('abort', abort);
        controller.abort();
      }
      if (op.method !== 'GET' || lastEventId === null || resumes >= maxRetries) {
        throw new APIConnectionError(`${op.method} ${raw.url}: the event stream broke (${connectionCause(broke)})`, { cause: broke });
      }
      await this.sleep(retryDelay(null, resumes));
    }
  }

  /** Opens a channel, sends its message and yields the frames (the JSON of those whose
   * `type` is in `frames`) until a final one; leaving the `for await` loop closes the socket.
   * Never retried: the message starts work. */
  async *requestChannel<T>(channel: ChannelSpec, frames: readonly string[], fields: Record<string, unknown>, options: ChannelOptions = {}): AsyncGenerator<T, void, undefined> {
    const wanted = new Set(frames);
    const finals = new Set(channel.final);
    if (this.mocked) {
      for (const frame of channel.mockFrames) if (wanted.has(String((frame as { type?: unknown }).type))) yield frame as T;
      return;
    }
    const message: Record<string, unknown> = { type: channel.messageType };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) message[k] = v;
    let url = this.baseURL.replace(/^http/, 'ws') + channel.path;
    const headers: Record<string, string> = { 'user-agent': `${this.spec.sdkName}/${this.spec.version}` };
    if (this.accessToken) headers['authorization'] = `Bearer ${this.accessToken}`;
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    Object.assign(headers, this.defaultHeaders);
    const [Impl, takesHeaders] = await webSocketConstructor(this.webSocketImpl);
    const credential = this.accessToken ?? this.apiKey;
    if (!takesHeaders && credential && channel.tokenQuery) {
      url += `${url.includes('?') ? '&' : '?'}${channel.tokenQuery}=${encodeURIComponent(credential)}`;
    }
    const shownURL = url.replace(/([?&](?:token|key)=)[^&]*/g, `$1${REDACTED}`);
    this.log({ kind: 'request', method: 'GET', url: shownURL, attempt: 0, headers: redactHeaders(headers), body: redactBody(message) });
    const started = Date.now();
    const socket = takesHeaders ? new Impl(url, { headers, maxPayload: 16 * 1024 * 1024 }) : new Impl(url);
    const queue = new FrameQueue();
    let refusal: Promise<Error> | null = null;
    const onUpgradeRefused = (socket as unknown as { on?: (event: string, listener: (...args: any[]) => void) => void }).on;
    if (takesHeaders && typeof onUpgradeRefused === 'function') {
      // `ws` reports a refused handshake's status and body here (the WHATWG API cannot).
      onUpgradeRefused.call(socket, 'unexpected-response', (request: { destroy(): void }, response: AsyncIterable<Uint8Array> & { statusCode: number; headers: Record<string, string | string[]> }) => {
        refusal = readRefusal(response, this.spec, channel.name, shownURL, started).finally(() => request.destroy());
        queue.fail(null);
      });
    }
    socket.addEventListener('open', () => {
      this.log({ kind: 'response', method: 'GET', url: shownURL, attempt: 0, status: 101, elapsedMs: Date.now() - started });
      socket.send(JSON.stringify(message));
    });
    socket.addEventListener('message', (event: { data: unknown }) => queue.push(typeof event.data === 'string' ? event.data : String(event.data)));
    socket.addEventListener('error', (event: { error?: unknown; message?: string }) => queue.fail(event.error ?? new Error(event.message ?? 'WebSocket error')));
    socket.addEventListener('close', (event: { code?: number; reason?: string }) => queue.fail(new Error(`closed (${event.code ?? 'no code'}${event.reason ? `: ${event.reason}` : ''})`)));
    const abort = (): void => queue.fail(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', abort);
    try {
      for (;;) {
        const next = await queue.next();
        if ('error' in next) {
          if (refusal) throw await refusal;
          if (options.signal?.aborted) throw options.signal.reason;
          this.log({ kind: 'error', method: 'GET', url: shownURL, attempt: 0, error: String(next.error) });
          throw new APIConnectionError(`${shownURL}: the connection closed before a final frame (${connectionCause(next.error)})`, { cause: next.error });
        }
        let frame: { type?: unknown };
        try {
          frame = JSON.parse(next.text) as { type?: unknown };
        } catch (err) {
          throw new APIResponseValidationError('a frame is not JSON', { cause: err });
        }
        if (frame === null || typeof frame !== 'object') throw new APIResponseValidationError('a frame is not an object');
        const type = String(frame.type);
        if (wanted.has(type)) yield frame as T;
        if (finals.has(type)) return;
      }
    } finally {
      options.signal?.removeEventListener('abort', abort);
      if (socket.readyState <= 1) socket.close(1000);
    }
  }

  /** Calls an offset-paginated operation. */
  requestPage<T>(operation: string, pagination: Pagination, args: RequestArgs = {}, options: RequestOptions = {}): APIPromise<OffsetPage<T>> {
    const op = this.spec.operations[operation];
    if (!op) throw new Error(`unknown operation ${operation}`);
    return new APIPromise(async () => {
      const raw = await this.send(op, args, options);
      const data = this.result(op, raw) as Record<string, unknown> | null;
      const items = data?.[pagination.items];
      const numbers = [pagination.total, pagination.limit, pagination.offset].map((k) => data?.[k]);
      if (!Array.isArray(items) || numbers.some((n) => typeof n !== 'number')) {
        throw new APIResponseValidationError('response is not a page');
      }
      const [total, limit, offset] = numbers as [number, number, number];
      const next = (nextOffset: number): Promise<OffsetPage<T>> =>
        this.requestPage<T>(operation, pagination, { ...args, query: { ...args.query, [pagination.offset]: nextOffset, [pagination.limit]: limit } }, options).then((p) => p);
      const page = new OffsetPage<T>(items as T[], total, limit, offset, raw, next);
      return { data: page, response: raw, requestId: raw.requestId };
    });
  }
}

/** Frames as they arrive, then the end: what turns socket events into an async iterator. */
class FrameQueue {
  private readonly items: ({ text: string } | { error: unknown })[] = [];
  private waiting: ((item: { text: string } | { error: unknown }) => void) | null = null;
  private ended = false;

  push(text: string): void {
    if (!this.ended) this.deliver({ text });
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.deliver({ error });
  }

  private deliver(item: { text: string } | { error: unknown }): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = null;
      waiting(item);
    } else {
      this.items.push(item);
    }
  }

  next(): Promise<{ text: string } | { error: unknown }> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/** The implementation to use, and whether it takes `{ headers }`: the given one, `ws` on
 * Node when it is installed, else the global `WebSocket`. */
async function webSocketConstructor(given: WebSocketConstructor | null): Promise<[WebSocketConstructor, boolean]> {
  if (given) return [given, given !== (globalThis as { WebSocket?: unknown }).WebSocket];
  if (isNode()) {
    try {
      const name = 'ws';
      const ws = (await import(name)) as { default?: WebSocketConstructor; WebSocket?: WebSocketConstructor };
      const found = ws.WebSocket ?? ws.default;
      if (found) return [found, true];
    } catch {
      // not installed: the global WebSocket below, if this Node has one
    }
  }
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return [global, false];
  throw new Error('no WebSocket implementation: install the `ws` package (npm install ws) or pass `WebSocket` in the client options');
}

async function readRefusal(response: AsyncIterable<Uint8Array> & { statusCode: number; headers: Record<string, string | string[]> }, spec: ApiSpec, operation: string, url: string, started: number): Promise<Error> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of response) chunks.push(chunk);
  } catch {
    // the body is best effort: the status alone still types the error
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(response.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  const text = new TextDecoder().decode(concat(chunks));
  const raw: RawResponse = { status: response.statusCode, headers, method: 'GET', url, text, elapsedMs: Date.now() - started, retries: 0, requestId: headers.get('x-request-id') };
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the text stands
  }
  return statusError(spec, operation, raw, body);
}

/** The typed error for an error response, from the dialect's error body. */
function statusError(spec: ApiSpec, operation: string, raw: RawResponse, body: unknown): APIStatusError {
  const code = pointer(body, spec.errorCode);
  const message = pointer(body, spec.errorMessage);
  const details = pointer(body, spec.errorDetails);
  let text = typeof message === 'string' && message ? message : `HTTP ${raw.status}`;
  if (typeof details === 'string' && details && details !== text) text = `${text}: ${details}`;
  return makeStatusError(operation, text, raw, body, typeof code === 'string' ? code : null, details);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export { APIStatusError };
