// fast-check generators for hostile STOMP input, shared by the property tests and the long fuzz run
// (bench/rpc-fuzz.ts): random bytes, well-formed frames, and well-formed frames with mutations.
import fc from 'fast-check';
import { encodeFrame } from '../../src/rpc/stomp-frame.js';

const COMMANDS = ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'DISCONNECT', 'ACK', 'NACK', 'BEGIN', 'BOGUS', 'MESSAGE', 'connect', ''];
const HEADER_NAMES = ['destination', 'id', 'receipt', 'reply-to', 'content-length', 'accept-version', 'heart-beat', 'ack', 'ovirtCorrelationId', 'x'];
const DESTINATIONS = ['jms.topic.vdsm_requests', 'jms.topic.vdsm_responses', 'jms.queue.events', 'jms.topic.vdsm_requests.x', 'a.b', ''];

/** JSON-RPC-ish bodies: valid calls, wrong types, notifications, batches, junk. */
export const rpcBody = fc.oneof(
  fc.record({ jsonrpc: fc.constant('2.0'), method: fc.constantFrom('Host.ping2', 'Host.echo', 'Host.setLogLevel', 'Host.nope', 'x'), params: fc.oneof(fc.object(), fc.array(fc.jsonValue()), fc.jsonValue()), id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.array(fc.record({ jsonrpc: fc.constant('2.0'), method: fc.constantFrom('Host.ping2', 'Host.echo'), params: fc.object(), id: fc.string() }, { requiredKeys: ['jsonrpc', 'method'] }), { maxLength: 5 }).map((a) => JSON.stringify(a)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
);

export const header = fc.tuple(fc.oneof(fc.constantFrom(...HEADER_NAMES), fc.string({ maxLength: 10 })), fc.oneof(fc.constantFrom(...DESTINATIONS, '1.2', '0,1000', '1000,0', '5', '-1', 'abc'), fc.string({ maxLength: 20 })));

/** A syntactically valid frame (as the encoder would write it). */
export const validFrame = fc
  .tuple(fc.constantFrom(...COMMANDS.filter((c) => c !== '')), fc.array(header, { maxLength: 6 }), fc.oneof(rpcBody, fc.constant('')))
  .map(([command, headers, body]) => encodeFrame(command, headers.filter(([k]) => k !== '' && k !== 'content-length'), body));

/** A valid frame with bytes flipped, cut, duplicated or inserted. */
export const mutatedFrame = fc
  .tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'insert', 'dup')), { maxLength: 4 }))
  .map(([frame, muts]) => {
    let b = Buffer.from(frame);
    for (const [pos, byte, kind] of muts) {
      const i = b.length === 0 ? 0 : pos % b.length;
      if (kind === 'flip') b[i] = byte;
      else if (kind === 'cut') b = b.subarray(0, i);
      else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      else b = Buffer.concat([b, b.subarray(i)]);
    }
    return b;
  });

/** Anything: random bytes, valid frames, mutated frames, heart-beats, in a sequence. */
export const hostileStream = fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), validFrame, mutatedFrame, fc.constant(Buffer.from('\n'))), { maxLength: 12 });

/** Split a buffer into random chunk sizes, so frame boundaries fall anywhere. */
export function chunked(buf: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < buf.length) {
    const n = Math.max(1, sizes.length ? sizes[i++ % sizes.length]! : buf.length);
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}
