// The task state machine as vdsm defines it (task.py State): every allowed transition passes, every
// other one is refused with 441, and the deprecated API view maps each state as vdsm does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEPRECATED_STATE, MOVE_TO, TaskState, canAbort, canAbortRecovery, checkMove, deprecatedResult, isDone, isRecovering,
  type TaskStateName,
} from '../../src/storage/task/task-state.js';

const ALL = Object.values(TaskState) as TaskStateName[];

void describe('task states', () => {
  void it('allows exactly vdsm\'s transitions (15 x 15 pairs)', () => {
    const allowed: Record<string, string[]> = {
      preparing: ['init', 'blocked'],
      blocked: ['preparing'],
      acquiring: ['preparing', 'acquiring'],
      queued: ['acquiring', 'running'],
      running: ['queued'],
      finished: ['running', 'preparing'],
      aborting: ['preparing', 'blocked', 'acquiring', 'queued', 'running'],
      waitrecover: ['aborting'],
      racquiring: ['aborting', 'finished', 'racquiring', 'waitrecover'],
      recovering: ['racquiring'],
      raborting: ['racquiring', 'recovering', 'waitrecover'],
      recovered: ['recovering'],
      failed: ['recovering', 'aborting', 'raborting'],
    };
    let checked = 0;
    for (const to of ALL) {
      for (const from of ALL) {
        const ok = (allowed[to] ?? []).includes(from);
        if (ok) assert.doesNotThrow(() => checkMove(from, to), `${from} -> ${to}`);
        else assert.throws(() => checkMove(from, to), (e: { vdsmCode?: number; message: string }) => e.vdsmCode === 441 && e.message === `cannot move task to requested state: ('from ${from} to ${to}',)`, `${from} -> ${to}`);
        checked++;
      }
    }
    assert.equal(checked, 225);
    // force skips the check (vdsm's moveto(force=True), used by recover()).
    assert.doesNotThrow(() => checkMove('recovering', 'racquiring', true));
    assert.deepEqual(Object.keys(MOVE_TO).sort(), [...ALL].sort());
  });

  void it('classifies done, recovering and abortable states', () => {
    assert.deepEqual(ALL.filter(isDone), ['finished', 'recovered', 'failed']);
    assert.deepEqual(ALL.filter(isRecovering), ['recovering', 'racquiring']);
    assert.deepEqual(ALL.filter(canAbort), ['preparing', 'blocked', 'acquiring', 'queued', 'running']);
    assert.deepEqual(ALL.filter(canAbortRecovery), ['waitrecover', 'recovering', 'racquiring']);
  });

  void it('maps every state to vdsm\'s taskState / taskResult words', () => {
    const view = Object.fromEntries(ALL.map((s) => [s, `${DEPRECATED_STATE[s]}/${deprecatedResult(s)}`]));
    assert.deepEqual(view, {
      unknown: 'unknown/', init: 'init/', preparing: 'running/', blocked: 'running/', acquiring: 'running/',
      queued: 'running/', running: 'running/', finished: 'finished/success', aborting: 'aborting/',
      waitrecover: 'cleaning/', recovering: 'cleaning/', racquiring: 'cleaning/', raborting: 'aborting/',
      recovered: 'finished/cleanSuccess', failed: 'finished/cleanFailure',
    });
  });
});
