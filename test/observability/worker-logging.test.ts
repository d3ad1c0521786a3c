// Executor workers log with their worker id and the task id bound, and, under systemd, with journald's
// priority prefix like the main thread.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const FIXTURE = fileURLToPath(new URL('../fixtures/executor-log-run.js', import.meta.url));

function run(env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [FIXTURE], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
  });
}

function whoamiLine(stdout: string): { prefix: string; line: Record<string, unknown> } {
  const raw = stdout.split('\n').find((l) => l.includes('"msg":"whoami"'));
  assert.ok(raw, `the worker's log line is on stdout:\n${stdout}`);
  const at = raw.indexOf('{');
  return { prefix: raw.slice(0, at), line: JSON.parse(raw.slice(at)) as Record<string, unknown> };
}

void it('a worker log line carries the worker id and the task id of the operation that wrote it', async () => {
  const { stdout, stderr } = await run({ JOURNAL_STREAM: '' });
  const who = JSON.parse(stderr.trim().split('\n').pop()!) as { workerId: number; taskId: number };
  const { prefix, line } = whoamiLine(stdout);
  assert.equal(prefix, '');
  assert.equal(line['workerId'], who.workerId);
  assert.equal(line['taskId'], who.taskId);
  assert.equal(line['executor'], 'logtest');
  assert.equal(typeof line['time'], 'number');
});

void it('under journald a worker line has the <6> priority prefix and no time', async () => {
  const { stdout } = await run({ JOURNAL_STREAM: '8:1234' });
  const { prefix, line } = whoamiLine(stdout);
  assert.equal(prefix, '<6>');
  assert.equal(line['time'], undefined);
  assert.equal(typeof line['workerId'], 'number');
});
