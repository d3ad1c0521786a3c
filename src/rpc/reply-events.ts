// When a reply left: the agent's own share of a call's latency, from the moment its request frame was
// parsed to the moment the last byte of its reply frame was written to the socket (handed to the
// kernel), without the client's work or the network. Published on `vdsm:rpc:reply` only while someone
// subscribes (a bench, a debug session); with no subscriber nothing is timed or kept.
import { channel } from 'node:diagnostics_channel';
import type { ChunkedWriter } from './chunked-writer.js';
import type { StompSession } from './stomp-session.js';

export const rpcReplyChannel = channel('vdsm:rpc:reply');

export interface ReplyEvent {
  connectionId: number;
  /** Bytes of the reply body (the JSON-RPC response). */
  bytes: number;
  /** performance.now() when the request frame was parsed. */
  receivedAt: number;
  /** ... when the encoded reply was queued for the connection (dispatch and encoding done). */
  queuedAt: number;
  /** ... when its last byte was written to the socket. */
  writtenAt: number;
  /**
   * The reply waited in the session's backlog (the peer was far behind on reading): writtenAt is then
   * when the output queued before it was written, earlier than its own last byte.
   */
  backlogged: boolean;
}

/** What a request needs to report its reply (taken only when the channel has subscribers). */
export interface ReplyTiming {
  receivedAt: number;
  /** The requesting connection's output. */
  output: ChunkedWriter;
  session: StompSession;
}

/** After the reply was queued: publish once everything queued so far on the connection was written. */
export function publishReplyTiming(t: ReplyTiming, connectionId: number, bytes: number): void {
  const queuedAt = performance.now();
  const backlogged = Number(t.session.state()['backlogBytes'] ?? 0) > 0;
  t.output.whenWritten(() => {
    rpcReplyChannel.publish({ connectionId, bytes, receivedAt: t.receivedAt, queuedAt, writtenAt: performance.now(), backlogged } satisfies ReplyEvent);
  });
}
