// bench/lib/placement.ts against the real kernel: a child started through runChildCase's `wrap` with
// onCpu() has every thread on that CPU, pinProcess() moves every thread of a running process, and
// cpusOf() reads back what the kernel allows (the placement a bench records in each result line).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChildCase } from '../../bench/lib/child-case.js';
import { clientCpu, cpusOf, onCpu, pinMode, pinProcess, SERVER_CPU } from '../../bench/lib/placement.js';

const twoCpus = cpus().length >= 2;

void describe('bench placement', () => {
  void it('reads the modes: cross by default on 2+ CPUs, the client CPU of each, and refuses others', () => {
    assert.equal(pinMode(undefined), twoCpus ? 'cross' : 'off');
    assert.equal(pinMode('same'), 'same');
    assert.throws(() => pinMode('both'), /expected cross, same or off/);
    assert.equal(clientCpu('cross'), 0);
    assert.equal(clientCpu('same'), SERVER_CPU);
    assert.equal(clientCpu('off'), undefined);
    assert.deepEqual(onCpu(undefined), []);
  });

  void it('starts a child with every thread on the CPU asked for, as the child reads it back', { skip: !twoCpus && 'one CPU' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-placement-'));
    try {
      const script = join(dir, 'where.mjs');
      const lib = new URL('../../bench/lib/placement.js', import.meta.url).href;
      // A worker thread first: threads the child starts later run where its main thread may.
      await writeFile(script, `import { cpusOf } from ${JSON.stringify(lib)}; import { Worker } from 'node:worker_threads';
        const w = new Worker('setInterval(() => {}, 1000)', { eval: true }); await new Promise((r) => w.once('online', r));
        console.log(JSON.stringify({ cpus: cpusOf() })); await w.terminate();`);
      const on0 = await runChildCase<{ cpus: string }>(script, [], { wrap: onCpu(0), timeoutMs: 30_000 });
      assert.equal(on0.cpus, '0');
      const free = await runChildCase<{ cpus: string }>(script, [], { timeoutMs: 30_000 });
      assert.notEqual(free.cpus, '0', 'without wrap the child keeps the parent\'s CPUs');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('moves every thread of a running process and reads it back', { skip: !twoCpus && 'one CPU' }, async () => {
    const child = spawn(process.execPath, ['-e', "new (require('node:worker_threads').Worker)('setInterval(() => {}, 1000)', { eval: true }); setInterval(() => {}, 1000); console.log('up')"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout, 'data');
      assert.equal(pinProcess(child.pid!, SERVER_CPU), true);
      assert.equal(cpusOf(child.pid!), String(SERVER_CPU));
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    assert.equal(cpusOf(child.pid!), 'unknown', 'a process that is gone');
  });
});
