// The envelope of a JSON-RPC response read from its first and last bytes, without parsing its result:
// for a caller that only needs to know that the answer to its call id is a result (not an error) and how
// big it is (the RPC bench's "check" load generator: it measures the server, and parsing an 82 KB result
// costs the generator ~300 µs per reply, more than the server's whole side). Runtime-free.
//
// Two forms are recognised, both without white space, as vdsm-node and JSON.stringify write a response:
//
//   {"jsonrpc":"2.0","id":<id>,"result":<anything>}      (vdsm-node: the envelope before the result)
//   {"jsonrpc":"2.0","result":<anything>,"id":<id>}      (the id after it)
//
// where <id> is a JSON string without escapes. In valid JSON the first member after the opening brace and
// the last before the closing brace are the object's own members, never a nested one, so for a valid body
// each form says exactly what the envelope holds. The bytes in between are not looked at: a body that
// matches but is not valid JSON passes, and so does one that has an "error" member after its "result"
// (not a valid JSON-RPC response either); the full-parse generator checks both. Anything else (an error, a
// batch, a notification, white space, an id with escapes or a number) is undefined: parse it.

const HEAD = Buffer.from('{"jsonrpc":"2.0",');
const ID = Buffer.from('"id":"');
const RESULT_AFTER_ID = Buffer.from('","result":');
const RESULT = Buffer.from('"result":');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE = 0x7d;
const COMMA = 0x2c;

/** A response recognised by its envelope alone. */
export interface PeekedResult {
  /** The call id (a JSON string without escapes, unquoted). */
  id: string;
}

function startsAt(body: Buffer, at: number, what: Buffer): boolean {
  if (at < 0 || at + what.length > body.length) return false;
  for (let i = 0; i < what.length; i++) if (body[at + i] !== what[i]) return false;
  return true;
}

/**
 * The id of a response whose envelope says "result" in one of the two forms above, else undefined.
 * Reads at most the head and tail envelope bytes and the id.
 */
export function peekResult(body: Buffer): PeekedResult | undefined {
  const n = body.length;
  if (n < HEAD.length + RESULT.length + ID.length + 4 || body[n - 1] !== CLOSE || !startsAt(body, 0, HEAD)) return undefined;
  const after = HEAD.length;
  if (startsAt(body, after, ID)) {
    // {"jsonrpc":"2.0","id":"N","result":...}: the id runs to the next quote (no escapes allowed in it).
    const from = after + ID.length;
    for (let i = from; i < n && i < from + MAX_ID_BYTES; i++) {
      const b = body[i];
      if (b === BACKSLASH) return undefined;
      if (b === QUOTE) {
        // The result's value must follow and leave room for at least one byte before the closing brace.
        if (!startsAt(body, i, RESULT_AFTER_ID) || i + RESULT_AFTER_ID.length >= n - 1) return undefined;
        return { id: body.toString('latin1', from, i) };
      }
    }
    return undefined;
  }
  if (startsAt(body, after, RESULT)) {
    // {"jsonrpc":"2.0","result":...,"id":"N"}: the id is the last member, read backwards from the brace.
    if (body[n - 2] !== QUOTE) return undefined;
    const to = n - 2;
    for (let i = to - 1; i > after + RESULT.length && i >= to - MAX_ID_BYTES; i--) {
      const b = body[i];
      if (b === BACKSLASH) return undefined;
      if (b === QUOTE) {
        // `,"id":"` ends at i; the member must start with a comma (the end of the result's value).
        const at = i + 1 - ID.length;
        if (!startsAt(body, at, ID) || body[at - 1] !== COMMA || at - 1 <= after + RESULT.length) return undefined;
        return { id: body.toString('latin1', i + 1, to) };
      }
    }
    return undefined;
  }
  return undefined;
}

/** Longest id read (vdsm's and the engine's ids are UUIDs; this client's are counters). */
const MAX_ID_BYTES = 128;
