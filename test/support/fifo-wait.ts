// A real hang for tests: a storage file replaced by a FIFO nobody writes blocks whoever opens it.
import { readdir, readFile } from 'node:fs/promises';

/**
 * Resolves once a thread of process `pid` is blocked opening a FIFO (its wchan is fifo_open, or
 * wait_for_partner on newer kernels). Probing the FIFO itself would not do: opening it for writing lets
 * the blocked reader go on, with nothing to read.
 */
export async function blockedOnFifo(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const wchan = await readFile(`/proc/${pid}/task/${tid}/wchan`, 'utf8').catch(() => '');
      if (wchan === 'fifo_open' || wchan === 'wait_for_partner') return;
    }
    if (Date.now() > deadline) throw new Error(`no thread of ${pid} blocked opening a FIFO in ${timeoutMs} ms`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
