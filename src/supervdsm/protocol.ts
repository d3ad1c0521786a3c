// The supervdsm messages and their msgpack codec: what the helper and vdsmd say to each other over the
// socket, with the checks that turn any decoded value into a known message or a precise reason.
// Runtime-free: bytes in, typed messages out (the frame layer is frame-decoder.ts).
//
//   helper -> client, once per connection:  {type: 'hello', version, pid, server, methods}
//   client -> helper:                        {type: 'call', id, method, args, timeoutMs}
//   helper -> client:                        {type: 'result', id, value} | {type: 'error', id, error}
//
// `id` is the client's (1 .. 2^32-1), unique among its calls in flight; an error about the
// connection itself (a bad frame, a refused peer) carries id 0. Errors carry a stable code from
// src/errors.ts: classes do not survive the socket, codes do.
import { Packr, Unpackr, type Options } from 'msgpackr';
import { encodeFrame, MAX_FRAME_BYTES } from './frame-decoder.js';

export const PROTOCOL_VERSION = 1;
/** Largest call id; ids wrap to 1 after it. */
export const MAX_CALL_ID = 0xffff_ffff;
/** Nesting depth accepted in args and results; real arguments are two or three levels deep. */
export const MAX_DEPTH = 32;
/** Longest method name. */
export const MAX_METHOD_BYTES = 64;
/** Longest deadline a call may ask for (one hour). */
export const MAX_TIMEOUT_MS = 3_600_000;

export interface WireError {
  code: string;
  message: string;
  context?: Record<string, unknown>;
}

export interface HelloMessage {
  type: 'hello';
  version: number;
  pid: number;
  server: string;
  methods: string[];
}

export interface CallMessage {
  type: 'call';
  id: number;
  method: string;
  args: Record<string, unknown>;
  /** The caller's deadline, ms from when the helper reads the call. */
  timeoutMs: number;
}

export interface ResultMessage {
  type: 'result';
  id: number;
  value: unknown;
}

export interface ErrorMessage {
  type: 'error';
  id: number;
  error: WireError;
}

export type ServerMessage = HelloMessage | ResultMessage | ErrorMessage;
export type ClientMessage = CallMessage;

/** A decoded value that is not a valid message: why, and the call id when one could be read. */
export interface Rejection {
  reason: string;
  id: number;
}

export type Parsed<T> = { ok: true; message: T } | { ok: false; rejection: Rejection };

/** msgpack in and out. One codec per connection end; cheap to make. */
export class MessageCodec {
  readonly maxFrameBytes: number;
  // skipValues (drop undefined object members, as JSON does) is a msgpackr option its typings lack.
  #packr = new Packr({ useRecords: false, moreTypes: false, skipValues: [undefined], encodeUndefinedAsNil: true } as Options);
  #unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** A whole frame (length prefix included). Throws RangeError when the message is too large. */
  encode(message: ServerMessage | ClientMessage): Buffer {
    return encodeFrame(this.#packr.pack(message), this.maxFrameBytes);
  }

  /** The value in one frame body. Throws on anything that is not exactly one msgpack value. */
  decode(body: Buffer): unknown {
    return this.#unpackr.unpack(body);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Why `value` is not plain data (null, booleans, finite numbers, strings, arrays and plain objects,
 * at most MAX_DEPTH deep), or undefined when it is. msgpack extensions (dates, errors, buffers, maps)
 * are refused: no function takes them, and a refused type is one less parser to trust.
 */
export function plainDataProblem(value: unknown, path = 'args', depth = 0): string | undefined {
  if (depth > MAX_DEPTH) return `${path}: nested deeper than ${MAX_DEPTH} levels`;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path}: ${value} is not a finite number`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = plainDataProblem(value[i], `${path}[${i}]`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = plainDataProblem(v, `${path}.${k}`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  const kind = value === undefined ? 'undefined' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  return `${path}: ${kind} is not plain data`;
}

function validId(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_CALL_ID;
}

/** A decoded value from a client: a call, or why not (with its id when the id itself was fine). */
export function parseCall(value: unknown): Parsed<CallMessage> {
  const reject = (reason: string, id = 0): Parsed<CallMessage> => ({ ok: false, rejection: { reason, id } });
  if (!isRecord(value)) return reject('a message must be a map');
  const id = validId(value['id']) ? value['id'] : 0;
  if (value['type'] !== 'call') return reject(`unknown message type ${JSON.stringify(value['type'])} (clients send 'call')`, id);
  if (id === 0) return reject(`id must be an integer in 1..${MAX_CALL_ID}`);
  const method = value['method'];
  if (typeof method !== 'string' || method.length === 0 || Buffer.byteLength(method) > MAX_METHOD_BYTES) {
    return reject(`method must be a non-empty string of at most ${MAX_METHOD_BYTES} bytes`, id);
  }
  const args = value['args'] ?? {};
  if (!isRecord(args)) return reject('args must be a map of named arguments', id);
  const argsProblem = plainDataProblem(args);
  if (argsProblem !== undefined) return reject(argsProblem, id);
  const timeoutMs = value['timeoutMs'];
  if (!Number.isInteger(timeoutMs) || (timeoutMs as number) < 1 || (timeoutMs as number) > MAX_TIMEOUT_MS) {
    return reject(`timeoutMs must be an integer in 1..${MAX_TIMEOUT_MS}`, id);
  }
  for (const key of Object.keys(value)) {
    if (!['type', 'id', 'method', 'args', 'timeoutMs'].includes(key)) return reject(`unknown field ${JSON.stringify(key)} in a call`, id);
  }
  return { ok: true, message: { type: 'call', id, method, args, timeoutMs: timeoutMs as number } };
}

function parseWireError(v: unknown): WireError | undefined {
  if (!isRecord(v) || typeof v['code'] !== 'string' || typeof v['message'] !== 'string') return undefined;
  const context = v['context'];
  return { code: v['code'], message: v['message'], ...(isRecord(context) ? { context } : {}) };
}

/** A decoded value from the helper: hello, result or error, or why not. */
export function parseServerMessage(value: unknown): Parsed<ServerMessage> {
  const reject = (reason: string, id = 0): Parsed<ServerMessage> => ({ ok: false, rejection: { reason, id } });
  if (!isRecord(value)) return reject('a message must be a map');
  switch (value['type']) {
    case 'hello': {
      const { version, pid, server, methods } = value;
      if (!Number.isInteger(version) || !Number.isInteger(pid) || typeof server !== 'string' || !Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) {
        return reject('hello needs version, pid, server and methods');
      }
      return { ok: true, message: { type: 'hello', version: version as number, pid: pid as number, server, methods: methods as string[] } };
    }
    case 'result':
      if (!validId(value['id'])) return reject('result without a valid id');
      return { ok: true, message: { type: 'result', id: value['id'], value: value['value'] ?? null } };
    case 'error': {
      const id = value['id'];
      if (!(id === 0 || validId(id))) return reject('error without a valid id');
      const error = parseWireError(value['error']);
      if (error === undefined) return reject('error without {code, message}', id as number);
      return { ok: true, message: { type: 'error', id: id as number, error } };
    }
    default:
      return reject(`unknown message type ${JSON.stringify(value['type'])}`, validId(value['id']) ? value['id'] : 0);
  }
}

/** Plain data of any thrown value, for an error message (keeps a string `code` and a `context` map). */
export function toWireError(err: unknown, fallbackCode: string): WireError {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown; context?: unknown };
    const code = typeof e.code === 'string' && e.code.startsWith('ERR_') ? e.code : fallbackCode;
    const message = typeof e.message === 'string' ? e.message : String(err);
    const context = isRecord(e.context) && plainDataProblem(e.context) === undefined ? e.context : undefined;
    return { code, message, ...(context ? { context } : {}) };
  }
  return { code: fallbackCode, message: String(err) };
}
