// JSON-RPC 2.0 dispatch over a method table: single requests, batches (always an array reply),
// notifications (run, never answered), vdsm's readiness gate (99) and its error codes and message style.
// Pathological input is refused before it costs anything: JSON nested deeper than MAX_JSON_DEPTH gets
// -32700, a batch larger than MAX_BATCH -32600, each with a message; error messages quote at most a
// bounded rendering of the request. Runtime-free: a message text in, response objects (or text) out.
import { channel } from 'node:diagnostics_channel';
import { Errors, errorSpec, pyRepr, pyReprBounded } from '../errors.js';
import type { Logger } from '../observability/logging.js';
import { isLegacyResponse, type MethodContext, type MethodSpec, type MethodTable } from '../api/method-table.js';

/** Deepest nesting of arrays and objects accepted in a message (vdsm's requests nest a handful deep). */
export const MAX_JSON_DEPTH = 64;
/** Most requests in one batch. */
export const MAX_BATCH = 1000;
/** Characters of a request quoted in an error message. */
const REPR_CHARS = 300;

/** Published once per answered or executed call; metrics and debug tracing subscribe. */
export const rpcCallChannel = channel('vdsm:rpc:call');

/** Outcome labels (bounded set, used as a metrics label). */
export type CallOutcome = 'ok' | 'error' | 'not_found' | 'invalid_params' | 'invalid_request' | 'not_ready' | 'exhausted' | 'internal';

export interface CallRecord {
  method: string;
  outcome: CallOutcome;
  code: number;
  durationMs: number;
  notification: boolean;
}

export interface JsonRpcServerOptions {
  methods: MethodTable;
  /** False while vdsm would answer 99 (recovery/initialisation). */
  isReady?: () => boolean;
  log: Logger;
  /** Called for every call (metrics). */
  onCall?: (record: CallRecord) => void;
  /** Calls slower than this are logged at info, as vdsm does. */
  slowCallMs?: number;
  now?: () => number;
  /** Lets the event loop run between slices of a batch (default: setImmediate). */
  yieldToLoop?: () => Promise<void>;
}

/** Work on a batch before letting the event loop run. */
const BATCH_SLICE_MS = 2;

type Id = string | number | null;
/** What respond() answers: a response, a batch's responses, or nothing (notifications). */
export type Reply = object | object[] | undefined;
/** One call being answered. */
interface Call {
  method: string;
  id: Id;
  notification: boolean;
  start: number;
  flowId: string | undefined;
}
interface RpcError {
  code: number;
  message: string;
}

/** Map anything a handler threw to a JSON-RPC error with an integer code and vdsm's message style. */
export function toRpcError(err: unknown): RpcError {
  if (typeof err === 'object' && err !== null) {
    const e = err as { vdsmCode?: unknown; code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (typeof e.vdsmCode === 'number' && Number.isInteger(e.vdsmCode)) return { code: e.vdsmCode, message };
    // Errors that crossed a worker boundary keep only their string code.
    const known = errorSpec(e.code);
    if (known) return { code: known.vdsmCode, message };
    return { code: Errors.INTERNAL.vdsmCode, message: `${Errors.INTERNAL.message}: ${pyRepr({ reason: message })}` };
  }
  return { code: Errors.INTERNAL.vdsmCode, message: `${Errors.INTERNAL.message}: ${pyRepr({ reason: String(err) })}` };
}

function outcomeOf(code: number): CallOutcome {
  if (code === Errors.METHOD_NOT_FOUND.vdsmCode) return 'not_found';
  if (code === Errors.INVALID_PARAMS.vdsmCode) return 'invalid_params';
  if (code === Errors.INVALID_REQUEST.vdsmCode || code === Errors.PARSE.vdsmCode) return 'invalid_request';
  if (code === Errors.RECOVERY.vdsmCode) return 'not_ready';
  if (code === Errors.RESOURCE_EXHAUSTED.vdsmCode) return 'exhausted';
  if (code === Errors.INTERNAL.vdsmCode) return 'internal';
  return 'error';
}

export class JsonRpcServer {
  #o: JsonRpcServerOptions;
  #isReady: () => boolean;
  #now: () => number;
  #slowMs: number;
  #inFlight = 0;
  #handled = 0;
  #yield: () => Promise<void>;

  constructor(opts: JsonRpcServerOptions) {
    this.#o = opts;
    this.#isReady = opts.isReady ?? (() => true);
    this.#now = opts.now ?? (() => performance.now());
    this.#slowMs = opts.slowCallMs ?? 1000;
    this.#yield = opts.yieldToLoop ?? (() => new Promise((resolve) => setImmediate(resolve)));
  }

  state(): { inFlight: number; handled: number; methods: number } {
    return { inFlight: this.#inFlight, handled: this.#handled, methods: this.#o.methods.size };
  }

  /**
   * Handle one message body. Resolves to the response text, or undefined when nothing must be sent
   * (a notification, or a batch made only of notifications). Never rejects.
   */
  async handle(text: string, ctx: MethodContext): Promise<string | undefined> {
    const reply = await this.respond(text, ctx);
    return reply === undefined ? undefined : JSON.stringify(reply);
  }

  /**
   * handle() without the final encoding: the response object, the batch's array, or undefined. A single
   * request whose handler answers synchronously is answered synchronously (no promise, no microtask hop:
   * the small verbs' reply leaves in the same turn as the request arrived); otherwise a promise.
   */
  respond(text: string, ctx: MethodContext): Reply | Promise<Reply> {
    // The engine's usual request, in the exact text it sends: read without JSON.parse (same object).
    const plain = plainRequest(text);
    if (plain !== undefined) return this.#one(plain, ctx);
    const scan = scanJson(text, MAX_JSON_DEPTH, MAX_BATCH);
    if (scan === 'too-deep') return errorResponse(null, { code: Errors.PARSE.vdsmCode, message: `${Errors.PARSE.message} The message nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels.` });
    if (scan === 'batch-too-large') return errorResponse(null, invalid(`<batch of more than ${MAX_BATCH} requests>`, `a batch may hold at most ${MAX_BATCH} requests`));
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return errorResponse(null, { code: Errors.PARSE.vdsmCode, message: Errors.PARSE.message });
    }
    if (Array.isArray(msg)) return this.#batch(msg, ctx);
    return this.#one(msg, ctx);
  }

  async #batch(msg: unknown[], ctx: MethodContext): Promise<Reply> {
    if (msg.length === 0) return errorResponse(null, invalid(msg, 'request batch is empty'));
    // Started in slices: the handlers' synchronous parts of a 1000-request batch would hold the loop.
    const started: (object | undefined | Promise<object | undefined>)[] = [];
    let slice = this.#now();
    for (const m of msg) {
      started.push(this.#one(m, ctx));
      if (this.#now() - slice >= BATCH_SLICE_MS) {
        await this.#yield();
        slice = this.#now();
      }
    }
    const replies = await Promise.all(started);
    const out = replies.filter((r): r is object => r !== undefined);
    return out.length === 0 ? undefined : out;
  }

  #one(req: unknown, ctx: MethodContext): object | undefined | Promise<object | undefined> {
    if (typeof req !== 'object' || req === null || Array.isArray(req)) return errorResponse(null, invalid(req, 'request is not an object'));
    const r = req as { jsonrpc?: unknown; method?: unknown; params?: unknown; id?: unknown };
    const isNotification = !('id' in r);
    // Echo the id whenever it is readable (vdsm sends null; JSON-RPC 2.0 wants the id when known).
    const id: Id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : null;
    if (!isNotification && r.id !== null && id === null) return errorResponse(null, invalid(req, 'wrong id type'));
    if (r.jsonrpc !== '2.0') return errorResponse(id, invalid(req, 'Wrong protocol version'));
    if (typeof r.method !== 'string') return errorResponse(id, invalid(req, 'missing method header in method'));
    if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null)) return errorResponse(id, invalid(req, 'wrong params type'));
    const call: Call = { method: r.method, id, notification: isNotification, start: this.#now(), flowId: ctx.flowId };
    if (!this.#isReady()) return this.#finish(call, { code: Errors.RECOVERY.vdsmCode, message: Errors.RECOVERY.message });
    const spec = this.#o.methods.get(call.method);
    if (!spec) {
      return this.#finish(call, { code: Errors.METHOD_NOT_FOUND.vdsmCode, message: `${Errors.METHOD_NOT_FOUND.message}: {'method': ${pyReprBounded(call.method, REPR_CHARS)}}` });
    }
    const bound = this.#o.methods.bind(spec, r.params);
    if (!bound.ok) return this.#finish(call, bound.error);
    this.#inFlight++;
    let raw: unknown;
    try {
      raw = spec.handler(bound.params, ctx);
    } catch (err) {
      this.#inFlight--;
      return this.#failed(call, err);
    }
    if (isThenable(raw)) {
      return Promise.resolve(raw).then(
        (v) => {
          this.#inFlight--;
          return this.#succeeded(call, spec, v);
        },
        (err: unknown) => {
          this.#inFlight--;
          return this.#failed(call, err);
        },
      );
    }
    this.#inFlight--;
    return this.#succeeded(call, spec, raw);
  }

  /** A handler's value: vdsm's legacy status convention unwrapped, null/undefined answered as true. */
  #succeeded(call: Call, spec: MethodSpec, raw: unknown): object | undefined {
    try {
      if (isLegacyResponse(raw)) {
        if (raw.status.code !== 0) return this.#finish(call, { code: raw.status.code, message: raw.status.message });
        raw = spec.resultKey !== undefined ? raw[spec.resultKey] : true;
      }
    } catch (err) {
      return this.#failed(call, err);
    }
    const result = raw === undefined || raw === null ? true : raw;
    this.#record(call.method, 0, call.start, call.notification);
    return call.notification ? undefined : { jsonrpc: '2.0', id: call.id, result };
  }

  #failed(call: Call, err: unknown): object | undefined {
    const e = toRpcError(err);
    if (e.code === Errors.INTERNAL.vdsmCode) this.#o.log.error({ err, method: call.method, flowId: call.flowId }, 'unexpected error in API method');
    else this.#o.log.debug({ method: call.method, code: e.code, flowId: call.flowId }, e.message);
    return this.#finish(call, e);
  }

  /** Record a call that ended in an error and answer it (notifications get nothing). */
  #finish(call: Call, err: RpcError): object | undefined {
    this.#record(call.method, err.code, call.start, call.notification);
    return call.notification ? undefined : errorResponse(call.id, err);
  }

  #record(method: string, code: number, start: number, notification: boolean): void {
    this.#handled++;
    const durationMs = this.#now() - start;
    if (durationMs >= this.#slowMs) this.#o.log.info({ method, durationMs: Math.round(durationMs) }, 'slow API call');
    else if (this.#o.log.isLevelEnabled('debug')) this.#o.log.debug({ method, code, durationMs: Math.round(durationMs * 1000) / 1000, notification }, code === 0 ? 'RPC call succeeded' : 'RPC call failed');
    if (!this.#o.onCall && !rpcCallChannel.hasSubscribers) return;
    const known = this.#o.methods.has(method);
    const rec: CallRecord = { method: known ? method : '<unknown>', outcome: code === 0 ? 'ok' : outcomeOf(code), code, durationMs, notification };
    this.#o.onCall?.(rec);
    if (rpcCallChannel.hasSubscribers) rpcCallChannel.publish(rec);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function errorResponse(id: Id, error: RpcError): object {
  return { jsonrpc: '2.0', id, error };
}

function invalid(request: unknown, reason: string): RpcError {
  return { code: Errors.INVALID_REQUEST.vdsmCode, message: `${Errors.INVALID_REQUEST.message}: {'request': ${pyReprBounded(request, REPR_CHARS)}, 'reason': ${pyRepr(reason)}}` };
}

/** What scanJson() finds wrong with a message before JSON.parse would pay for it. */
export type JsonScan = 'too-deep' | 'batch-too-large' | undefined;

/**
 * One linear pass over the JSON text, stopping at the first problem: arrays/objects nested deeper than
 * `maxDepth` (brackets inside strings do not count), or a top-level array (a batch) with more than
 * `maxBatch` elements. JSON.parse of 100,000 nested arrays alone costs a second and rendering such a
 * value overflows the stack; parsing a batch of 100,000 requests (~5 MB) holds the loop for tens of
 * milliseconds only to refuse it.
 */
export function scanJson(text: string, maxDepth: number, maxBatch: number): JsonScan {
  if (text.length <= 2 * maxDepth && text.length <= 2 * maxBatch) return undefined;
  let start = 0;
  while (start < text.length && (text.charCodeAt(start) <= 0x20)) start++;
  const batch = text.charCodeAt(start) === 0x5b;
  let depth = 0;
  let commas = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;  // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return 'too-deep';
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c && depth === 1 && batch && ++commas >= maxBatch) return 'batch-too-large';
  }
  return undefined;
}

/** A request as plainRequest() reads it: what JSON.parse gives for that text. */
export interface PlainRequest {
  jsonrpc: '2.0';
  method: string;
  params: Record<string, never>;
  id: string | number;
}

const PLAIN_HEAD = '{"jsonrpc":"2.0","method":"';
const PLAIN_PARAMS = '","params":{},"id":';

/**
 * The request the engine (and vdsm's clients) send for a verb without arguments, read without
 * JSON.parse: exactly `{"jsonrpc":"2.0","method":"M","params":{},"id":ID}` with no whitespace, M and a
 * string ID free of escapes and control characters, or ID a non-negative integer of at most 15 digits.
 * Returns the object JSON.parse would give for the text, or undefined for anything else (which takes the
 * general path: whitespace, other key orders, parameters, escapes, a missing id, a notification).
 */
export function plainRequest(text: string): PlainRequest | undefined {
  const n = text.length;
  if (n > 512 || !text.startsWith(PLAIN_HEAD)) return undefined;
  const mEnd = plainStringEnd(text, PLAIN_HEAD.length);
  if (mEnd <= PLAIN_HEAD.length || !text.startsWith(PLAIN_PARAMS, mEnd)) return undefined;
  const idAt = mEnd + PLAIN_PARAMS.length;
  if (text.charCodeAt(n - 1) !== 0x7d) return undefined;
  let id: string | number;
  if (text.charCodeAt(idAt) === 0x22) {
    const idEnd = plainStringEnd(text, idAt + 1);
    if (idEnd !== n - 2) return undefined;
    id = text.slice(idAt + 1, idEnd);
  } else {
    const digits = n - 1 - idAt;
    if (digits < 1 || digits > 15 || (digits > 1 && text.charCodeAt(idAt) === 0x30)) return undefined;
    for (let i = idAt; i < n - 1; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return undefined;
    }
    id = Number(text.slice(idAt, n - 1));
  }
  return { jsonrpc: '2.0', method: text.slice(PLAIN_HEAD.length, mEnd), params: {}, id };
}

/** Index of the quote closing a JSON string whose text starts at `from`; -1 if it holds an escape or a control character. */
function plainStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c === 0x5c || c < 0x20) return -1;
  }
  return -1;
}
