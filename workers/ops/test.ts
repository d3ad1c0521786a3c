// Operations used by tests and benches to model healthy, failing, crashing and stuck calls.
import { loadNativeAddon } from '../../src/native.js';
import { Errors, vdsmError, type ErrorName } from '../../src/errors.js';
import type { AreaOps, OpContext } from '../../src/contracts/operations.js';
import { runQgaTask, type QgaApi } from '../guest/qga-runner.js';
import { offloadedCall, type AsyncEntry } from '../offloaded-call.js';

interface SleepAddon extends AsyncEntry {
  sleepMs(ms: number): void;
  sleepMsOffloaded(ms: number): void;
  waitGate(id: number): void;
  waitGateOffloaded(id: number): void;
}
let addon: SleepAddon | undefined;
const sleeper = (): SleepAddon => (addon ??= loadNativeAddon<SleepAddon>('vdsm_sleep'));

/** A vdsm_sleep call through the asynchronous entry, parking the task: the path libvirt ops take. */
const offloaded = (ctx: OpContext, call: (s: SleepAddon) => void): Promise<void> =>
  offloadedCall('vdsm_sleep', sleeper(), () => call(sleeper()), ctx.park, ctx);

/** A fake QEMU guest agent behind a fake libvirt: canned answers, or a hang for the whole command timeout. */
function fakeAgentApi(uuid: string, latencyMs: number): QgaApi {
  let timeoutS = 5;
  const call = <T>(value: () => T): T => {
    if (uuid.startsWith('hung')) {
      sleeper().sleepMs(timeoutS * 1000);
      throw Object.assign(new Error('Guest agent is not responding: Guest agent not available for now'), { code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE', virCode: 86 });
    }
    if (latencyMs > 0) sleeper().sleepMs(latencyMs);
    return value();
  };
  const commands = ['guest-info', 'guest-get-vcpus', 'guest-network-get-interfaces', 'guest-get-users', 'guest-get-osinfo', 'guest-get-timezone', 'guest-get-host-name', 'guest-get-fsinfo', 'guest-get-disks'];
  return {
    setResponseTimeout: (s) => { if (s > 0) timeoutS = s; },
    command: () => call(() => JSON.stringify({ return: { version: '7.2.22', supported_commands: commands.map((name) => ({ name, enabled: true })) } })),
    vcpus: () => call(() => ({ vcpus: '0-1', online: '0-1', offlinable: '1' })),
    guestInfo: () => call(() => ({
      'user.count': 1, 'user.0.name': 'alice', hostname: `vm-${uuid.slice(0, 8)}`,
      'os.id': 'fedora', 'os.name': 'Fedora Linux', 'os.version-id': '40', 'os.machine': 'x86_64', 'os.kernel-release': '6.8.5-301.fc40.x86_64', 'os.variant': 'Server',
      'timezone.name': 'UTC', 'timezone.offset': 0,
      'fs.count': 1, 'fs.0.mountpoint': '/', 'fs.0.fstype': 'xfs', 'fs.0.total-bytes': 21474836480, 'fs.0.used-bytes': 4294967296, 'fs.0.disk.count': 0,
      'disk.count': 1, 'disk.0.name': '/dev/vda', 'disk.0.serial': uuid.slice(0, 20),
      'if.count': 2, 'if.0.name': 'lo', 'if.0.hwaddr': '00:00:00:00:00:00', 'if.0.addr.count': 1, 'if.0.addr.0.type': 'ipv4', 'if.0.addr.0.addr': '127.0.0.1',
      'if.1.name': 'eth0', 'if.1.hwaddr': '52:54:00:12:34:56', 'if.1.addr.count': 1, 'if.1.addr.0.type': 'ipv4', 'if.1.addr.0.addr': '10.1.2.3',
    })),
  };
}

/** One gate wait: through the asynchronous entry, offloaded but waited for, or synchronous. */
async function gateStep(step: { gate: number; offloaded: boolean | 'sync' }, ctx: OpContext): Promise<void> {
  if (step.offloaded === 'sync') sleeper().waitGateOffloaded(step.gate);
  else if (step.offloaded) await offloaded(ctx, (s) => s.waitGateOffloaded(step.gate));
  else sleeper().waitGate(step.gate);
}

export const ops: AreaOps<'test'> = {
  /** A poller task against a fake agent (see src/contracts/test-ops.ts). */
  'test.qgaPoll': async (args, ctx) => {
    const out = [];
    for (const t of args.tasks) out.push(await runQgaTask(t, fakeAgentApi(t.vmId, Number((ctx.workerData as { qgaLatencyMs?: number } | undefined)?.qgaLatencyMs ?? 0))));
    return out;
  },

  /** Returns its arguments. */
  'test.echo': (args) => args,

  /** Blocks the thread in nanosleep(2) for args.ms: a stuck native call that terminate() cannot cut. */
  'test.sleepNative': (args) => {
    sleeper().sleepMs(args.ms);
    return args.value ?? args.ms;
  },

  /**
   * A hung libvirt call: nanosleep(2) for args.ms on a native call thread, awaited through the
   * asynchronous entry exactly as workers/ops/libvirt.ts awaits every libvirt call (the task parks).
   */
  'test.sleepOffloaded': async (args, ctx) => {
    await offloaded(ctx, (s) => s.sleepMsOffloaded(args.ms));
    return args.value ?? args.ms;
  },

  /**
   * Blocks in a native call until the test calls openGate(args.gate): offloaded (the asynchronous
   * entry, the task parks, as libvirt ops do), offloaded but waited for synchronously
   * (args.offloaded === 'sync': the JS thread waits on its call thread, as the main thread does), or
   * synchronous (the call blocks the JS thread itself).
   */
  'test.gateNative': async (args, ctx) => {
    await gateStep(args, ctx);
    return args.gate;
  },

  /** test.gateNative's steps in order, in one task. */
  'test.gateSequence': async (args, ctx) => {
    for (const step of args.steps) await gateStep(step, ctx);
    return args.steps.length;
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
