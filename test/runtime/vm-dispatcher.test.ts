// VmDispatcher skip rules: not required -> silent, not runnable or queue full -> skipped and logged
// together, a throwing op constructor is logged and the others still run. The fake dispatcher stands
// in for the Executor only to make it always full; the first test uses the real Executor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, vdsmError } from '../../src/errors.js';
import type { Dispatcher } from '../../src/contracts/dispatcher.js';
import { VmDispatcher, type VmOp } from '../../src/runtime/vm-dispatcher.js';
import { captureLog } from './capture-log.js';
import { harness } from './executor-harness.js';

const vms = ['a', 'b', 'c', 'd', 'e'];

void test('visits each runnable VM once; skips per the rules; logs the skipped ones together', async (t) => {
  const h = harness({ workersCount: 2, maxWorkers: 3, spares: 0 });
  t.after(() => h.close());
  h.ex.start();
  const { log, lines } = captureLog();
  const results: unknown[] = [];
  const vd = new VmDispatcher<string>({
    name: 'UpdateVolumes', getVms: () => vms, vmId: (v) => v, executor: h.ex, timeoutMs: 1000, log,
    create: (vm): VmOp => {
      if (vm === 'b') throw new Error('cannot build');
      return {
        get required(): boolean {
          if (vm === 'c') throw new Error('required check failed');
          return vm !== 'd';
        },
        runnable: vm !== 'e', op: 'test.echo', args: vm, onResult: (r) => results.push(r),
      };
    },
  });
  const res = vd.dispatch();
  assert.deepEqual(res.dispatched, ['a']);
  assert.deepEqual(res.skipped, ['e']);
  await res.done;
  assert.deepEqual(results, ['a']);
  assert.ok(lines.some((l) => l.msg === 'Operation UpdateVolumes failed for VM b'));
  assert.ok(lines.some((l) => l.msg === 'Operation UpdateVolumes failed for VM c'));
  assert.ok(lines.some((l) => l.msg === 'could not run UpdateVolumes on e'));
});

void test('an Executor that is always full: every VM is reported skipped, not just the first', () => {
  const full: Dispatcher = {
    dispatch() {
      throw vdsmError(Errors.RESOURCE_EXHAUSTED, { reason: 'Too many tasks', resource: 'periodic', current_tasks: 400 });
    },
  };
  const { log, lines } = captureLog();
  const vd = new VmDispatcher<string>({
    name: 'BlockjobMonitor', getVms: () => vms, vmId: (v) => v, executor: full, timeoutMs: 100, log,
    create: () => ({ required: true, runnable: true, op: 'x' }),
  });
  const res = vd.dispatch();
  assert.deepEqual(res.skipped, vms);
  assert.deepEqual(res.dispatched, []);
  assert.equal(lines.filter((l) => l.msg.startsWith('could not run BlockjobMonitor')).length, 1);
});
