// Operations used by tests and benches to model healthy, failing, crashing and stuck calls.
import { loadNativeAddon } from '../../src/native.js';
import { Errors, vdsmError, type ErrorName } from '../../src/errors.js';
import type { AreaOps } from '../../src/contracts/operations.js';

interface SleepAddon { sleepMs(ms: number): void }
let addon: SleepAddon | undefined;
const sleeper = (): SleepAddon => (addon ??= loadNativeAddon<SleepAddon>('vdsm_sleep'));

export const ops: AreaOps<'test'> = {
  /** Returns its arguments. */
  'test.echo': (args) => args,

  /** Blocks the thread in nanosleep(2) for args.ms: a stuck native call that terminate() cannot cut. */
  'test.sleepNative': (args) => {
    sleeper().sleepMs(args.ms);
    return args.value ?? args.ms;
  },

  /** Kills its worker: process.exit in the thread ('exit', default) or an uncaught exception ('uncaught'). */
  'test.crash': (args) => {
    if (args?.mode === 'uncaught') {
      setImmediate(() => {
        throw new Error('test.crash: uncaught exception');
      });
      return new Promise(() => undefined);
    }
    process.exit(3);
  },

  /** Throws a catalogued error (args.code names an Errors entry) or a plain Error. */
  'test.throw': (args) => {
    if (args?.error !== undefined && args.error in Errors) throw vdsmError(Errors[args.error as ErrorName], args.message);
    throw new Error(args?.message ?? 'test.throw');
  },

  /** Spins the CPU in JavaScript for args.ms (terminate() stops this within milliseconds). */
  'test.busy': (args) => {
    const end = performance.now() + args.ms;
    let n = 0;
    while (performance.now() < end) n++;
    return n;
  },

  /** Blocks the thread until the test opens the gate (see contracts); no timer involved. */
  'test.block': (args) => {
    const gate = new Int32Array(args.gate);
    while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0);
    return Atomics.load(gate, 0);
  },

  /** Where the task ran: ids and the kernel thread id; logs one line through ctx.log. */
  'test.whoami': (_args, ctx) => {
    ctx.log.info('whoami');
    return { workerId: ctx.workerId, taskId: ctx.taskId, workerData: ctx.workerData };
  },
};
