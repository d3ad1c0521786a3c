// The native gates of the vdsm_sleep addon as the Executor tests use them: a task blocks in a native
// wait (synchronous or offloaded) until its test opens the gate. Gate numbers start at a random point so
// that test files running at once never share one.
import { loadNativeAddon } from '../../src/native.js';
import type { ExecutorOptions } from '../../src/runtime/executor/executor.js';
import { harness, type Harness } from './executor-harness.js';

export interface GateAddon {
  openGate(id: number): void;
  gateWaiters(id: number): number;
  waitGateOffloaded(id: number): void;
  abandonNativeCall(tid: number, onDone?: (id: number) => void): number;
}

export const gates = loadNativeAddon<GateAddon>('vdsm_sleep');

let next = Math.floor(Math.random() * 1e9);

/** A gate number no other test uses. */
export function newGate(): number {
  return next++;
}

/**
 * An Executor harness with `count` gates of its own: after the test its gates are opened (nothing stays
 * blocked in a native wait) and the harness is closed.
 */
export function gatedHarness(t: { after(fn: () => Promise<void>): void }, opts: Partial<ExecutorOptions>, count: number): { h: Harness; gates: number[] } {
  const h = harness(opts);
  const ids = Array.from({ length: count }, newGate);
  t.after(async () => {
    for (const g of ids) gates.openGate(g);
    await h.close();
  });
  return { h, gates: ids };
}
