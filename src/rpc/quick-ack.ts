// Immediate ACKs on accepted engine connections (TCP_QUICKACK after a read that is not answered at once).
//
// Why: clients that leave Nagle's algorithm on (the npm stompit client, stomp.py, the engine's Java NIO
// client) write a frame the server does not answer (SUBSCRIBE, or a SEND header before its body) and then
// the next frame. Nagle holds that next frame until the first is acknowledged, and Linux delays the ACK of
// data the server does not answer for up to 40 ms: the first request on a fresh connection took 44-50 ms
// instead of 0.5 ms. TCP_NODELAY on our side (set since wave 1) cannot help; it governs our writes, not the
// peer's. TCP_QUICKACK makes the kernel send the held-back ACK at once and leave delayed-ACK mode; it is
// not sticky, so it is set again after each such read.
//
// Only when the ACK is owed: an answer written after a read carries the ACK of what was read, so the
// call is made once the chunk's 'data' callbacks have run (by a listener after the protocol handler's,
// or before it is attached by a microtask queued by the first of them) and
// only if nothing was written to the peer since that read: a frame nobody answers (SUBSCRIBE, a SEND's
// head before its body), a request whose verb is still running. A request answered synchronously (ping2
// and the other small verbs, see rpc-server.ts) costs neither the setsockopt(2) nor a separate ACK
// segment. Measured in bench/first-request.ts (the first request) and bench/rpc.ts (the steady state).
import type { Socket } from 'node:net';
import { tcpQuickAck } from '../native-sys.js';

export type QuickAckFn = (fd: number) => boolean;

/** native/sys's tcpQuickAck, or undefined where the addon cannot be loaded (the caller logs it). */
export function loadQuickAck(): QuickAckFn | undefined {
  try {
    tcpQuickAck(0x7fffffff); // loads the addon; a descriptor that is not open just answers false
    return tcpQuickAck;
  } catch {
    return undefined;
  }
}

/** The kernel descriptor of a TCP or TLS socket (libuv handle), when Node exposes one. */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * A number that grows whenever anything is written to `socket`: the bytes it handed to its handle plus
 * what it buffers. socket.bytesWritten says the same but copies the write buffer's list on every read;
 * this reads two counters (Node's own, falling back to bytesWritten where it has no such field).
 */
function writtenCounter(socket: Socket): () => number {
  const s = socket as unknown as { _bytesDispatched?: unknown };
  if (typeof s._bytesDispatched !== 'number') return () => socket.bytesWritten;
  return () => (s._bytesDispatched as number) + socket.writableLength;
}

/** What armQuickAck returns for an armed socket. */
export interface QuickAckArm {
  /**
   * The protocol handler's 'data' listeners are attached: from the next chunk on, the check runs in a
   * listener after them, in the same 'data' emit, instead of in a microtask queued per chunk (a small
   * request answered at once then costs no microtask at all).
   */
  handlersAttached(): void;
  /**
   * The protocol handler's one 'data' listener, made to settle each chunk itself right after handling
   * it; it then replaces the listeners armQuickAck added (one listener per chunk: no second and third
   * call, no copy of the listener list per emit). Attach the returned function instead of `listener`.
   */
  around(listener: (chunk: Buffer) => void): (chunk: Buffer) => void;
}

/**
 * Acknowledge every chunk `socket` receives that is not answered while it is handled. For a TLS socket
 * pass the TLS socket: its 'data' events follow the reads of the underlying descriptor, which it shares,
 * and its writes go out through that descriptor. Returns undefined when the socket has no descriptor (a
 * pipe, a socket already closed) or the option is refused (not TCP).
 */
export function armQuickAck(socket: Socket, quickAck: QuickAckFn): QuickAckArm | undefined {
  const fd = socketFd(socket);
  if (fd === undefined || !quickAck(fd)) return undefined;
  let queued = false;
  let after = false;
  /** written() at the last read. */
  let writtenAtRead = 0;
  const written = writtenCounter(socket);
  const check = (): void => {
    // The descriptor can be gone by now; a failed call is harmless.
    if (!socket.destroyed && written() === writtenAtRead) quickAck(fd);
  };
  const settle = (): void => {
    queued = false;
    check();
  };
  const before = (): void => {
    writtenAtRead = written();
    if (queued || after) return;
    queued = true;
    queueMicrotask(settle);
  };
  socket.prependListener('data', before);
  return {
    around(listener: (chunk: Buffer) => void): (chunk: Buffer) => void {
      socket.off('data', before);
      after = true;
      return (chunk: Buffer): void => {
        writtenAtRead = written();
        listener(chunk);
        // A chunk that arrived before (its microtask still pending) is settled there.
        if (!queued) check();
      };
    },
    handlersAttached(): void {
      if (after) return;
      after = true;
      socket.on('data', () => {
        // A chunk that arrived before (its microtask still pending) is settled there.
        if (!queued) check();
      });
    },
  };
}
