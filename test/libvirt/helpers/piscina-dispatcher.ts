// A Dispatcher over a plain Piscina pool running fixtures/ops-worker.js (the libvirt operations plus
// test-only ones that subscribe to events in the worker): named ops, plain args, errors keep `code`.
import { Piscina } from 'piscina';
import type { Dispatcher } from '../../../src/contracts/dispatcher.js';
import type { Reply, Task } from '../fixtures/ops-worker.js';

export class PiscinaDispatcher implements Dispatcher {
  readonly pool: Piscina;

  constructor(threads: number) {
    this.pool = new Piscina({
      filename: new URL('../fixtures/ops-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
    });
  }

  async dispatch<T = unknown>(op: string, args?: unknown): Promise<T> {
    const reply = (await this.pool.run({ op, args } satisfies Task)) as Reply;
    if (reply.ok) return reply.value as T;
    throw Object.assign(new Error(reply.error.message), reply.error);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
