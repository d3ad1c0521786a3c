// An in-memory transport and broker around StompSession, so session behaviour can be tested without
// sockets (the real-socket paths are covered by the peer tests).
import { StompBroker } from '../../src/rpc/stomp-broker.js';
import { outFrameBuffers, type OutFrame } from '../../src/rpc/stomp-frame.js';
import { StompSession, type RequestContext, type StompSessionOptions, type StompTransport } from '../../src/rpc/stomp-session.js';
import { ManualTime } from '../support/manual-time.js';
import { silentLogger } from './silent-log.js';

export class MemoryTransport implements StompTransport {
  readonly writes: Buffer[] = [];
  pendingBytes = 0;
  ended = false;
  destroyed = false;
  pauseInput?: () => void;
  resumeInput?: () => void;
  write(frame: OutFrame): void {
    const bytes = outFrameBuffers(frame);
    this.writes.push(Array.isArray(bytes) ? Buffer.concat(bytes) : bytes);
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** Everything written so far as text, then forgotten. */
  take(): string[] {
    const out = this.writes.map((b) => b.toString('utf8'));
    this.writes.length = 0;
    return out;
  }
}

export interface Harness {
  time: ManualTime;
  broker: StompBroker;
  requests: { body: string; ctx: RequestContext; reply: (t: string) => void }[];
  open(opts?: Partial<StompSessionOptions>): { session: StompSession; transport: MemoryTransport; send(text: string): void };
}

export function harness(): Harness {
  const time = new ManualTime();
  const broker = new StompBroker();
  const requests: Harness['requests'] = [];
  let id = 1;
  return {
    time,
    broker,
    requests,
    open(opts = {}) {
      const transport = new MemoryTransport();
      const session = new StompSession({
        connectionId: id++,
        clientAddress: '127.0.0.1',
        transport,
        broker,
        log: silentLogger(),
        clock: time,
        timers: time,
        onRequest: (body, ctx, reply) => requests.push({ body: body.toString('utf8'), ctx, reply }),
        ...opts,
      });
      return { session, transport, send: (text: string) => session.receive(Buffer.from(text)) };
    },
  };
}
