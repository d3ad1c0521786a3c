// State that a full or damaged disk cannot corrupt (issue 9, item 3), against the real vdsmd with its
// state_dir on a small tmpfs this test mounts (root only) and fills: a VM.destroy that cannot be
// recorded fails with a vdsm error and leaves the VM running and listed; VM.create likewise creates
// nothing; a restart with the disk still full recovers instead of crash-looping; a truncated vms.json is
// moved aside with an error line and the host becomes ready from what libvirt runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fixtureDomains, writeNodeXml } from '../../src/libvirt/fixture.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

const run = promisify(execFile);
const skip = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : undefined;
const FIXTURE = { domains: 2, namePrefix: 'disk' } as const;
const NEW_VM = 'b0e1c0de-0000-4000-8000-0000000000d1';
const SECOND_VM = 'b0e1c0de-0000-4000-8000-0000000000d2';
type Stats = Record<string, unknown>;

function vmXml(uuid: string, name: string): string {
  return `<domain type="test"><name>${name}</name><uuid>${uuid}</uuid><memory unit="KiB">524288</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os><devices/></domain>`;
}

/** Fill the file system until it says ENOSPC. */
async function fill(dir: string): Promise<void> {
  const chunk = Buffer.alloc(16 * 1024, 1);
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(dir, `filler-${i}`), chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
}

async function unfill(dir: string): Promise<void> {
  for (const f of await readdir(dir)) if (f.startsWith('filler-')) await rm(join(dir, f));
}

void describe('a full or damaged state directory', { skip: skip ?? false, timeout: 120_000 }, () => {
  let dir: string;
  let state: string;
  let uri: string;
  let mounted = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-fulldisk-'));
    state = join(dir, 'state');
    await mkdir(state);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'vdsm-test-state', state]);
    mounted = true;
    uri = await writeNodeXml(dir, FIXTURE);
  });
  after(async () => {
    if (mounted) await run('umount', ['--lazy', state]);
    await rm(dir, { recursive: true, force: true });
  });

  const start = (): Promise<AgentProcess> => AgentProcess.start({
    stateDir: state,
    args: ['--set', `libvirt.uri=${uri}`, '--set', `vars.run_dir=${join(dir, 'run')}`, '--set', 'vars.guest_wait_timeout=0'],
  });

  void it('destroy and create that cannot be recorded do not happen; a restart on the full disk recovers', async () => {
    const agents: AgentProcess[] = [];
    try {
      await destroyAndRestart(agents);
    } finally {
      for (const a of agents) await a.kill();
      await unfill(state);
    }
  });

  async function destroyAndRestart(agents: AgentProcess[]): Promise<void> {
    const agent = await start();
    agents.push(agent);
    let engine = await EngineClient.connect({ port: agent.port });
    try {
      await agent.whenReady();
      await engine.call('VM.create', { vmID: NEW_VM, vmParams: { xml: vmXml(NEW_VM, 'disk-new') } });
      await engine.waitForEvent(isVmStatus(NEW_VM, 'Up'));
      await fill(state);

      const destroy = await engine.request('VM.destroy', { vmID: NEW_VM });
      assert.equal(destroy.error?.code, 100, JSON.stringify(destroy.raw));
      assert.match(String(destroy.error?.message), /state directory.*nothing was changed.*ENOSPC|ENOSPC/s);
      const stats = await engine.call<Stats[]>('Host.getAllVmStats');
      assert.equal(stats.find((v) => v['vmId'] === NEW_VM)?.['status'], 'Up', 'the VM is still there and Up');
      await engine.call('VM.pause', { vmID: NEW_VM });  // libvirt still runs it
      await engine.call('VM.cont', { vmID: NEW_VM });

      const create = await engine.request('VM.create', { vmID: SECOND_VM, vmParams: { xml: vmXml(SECOND_VM, 'disk-second') } });
      assert.equal(create.error?.code, 100, JSON.stringify(create.raw));
      assert.ok(!(await engine.call<Stats[]>('Host.getAllVmStats')).some((v) => v['vmId'] === SECOND_VM), 'no half-created VM');
    } finally {
      engine.close();
    }

    // The disk stays full; the agent dies and is started again: recovery must not crash on it.
    await agent.kill();
    const second = await start();
    agents.push(second);
    engine = await EngineClient.connect({ port: second.port });
    try {
      await second.whenReady();
      const stats = await engine.call<Stats[]>('Host.getAllVmStats');
      const running = fixtureDomains(FIXTURE).map((d) => d.uuid);
      for (const id of running) assert.equal(stats.find((v) => v['vmId'] === id)?.['status'], 'Up');
      // The created VM is recorded (its destroy never happened), but a new test-driver instance no
      // longer runs it: it is reported Down, as a VM that stopped while the agent was down.
      assert.equal(stats.find((v) => v['vmId'] === NEW_VM)?.['status'], 'Down');
      await second.waitForLog((l) => l['msg'] === 'could not record a recovered VM; every later write retries it');
      assert.equal(second.lines.filter((l) => l['stderr'] !== undefined).length, 0, second.tail());
    } finally {
      engine.close();
    }
  }

  void it('a truncated vms.json is moved aside with an error line and the host becomes ready', async () => {
    const file = join(state, 'vms.json');
    const whole = await readFile(file, 'utf8');
    await writeFile(file, whole.slice(0, Math.floor(whole.length / 2)));
    const agent = await start();
    const engine = await EngineClient.connect({ port: agent.port });
    try {
      await agent.whenReady();
      const line = await agent.waitForLog((l) => l['msg'] === 'VM records file unreadable; moved aside, recovering from what libvirt runs');
      assert.equal(line['level'], 50);
      assert.ok((await readdir(state)).some((f) => f.startsWith('vms.json.unreadable-')));
      const stats = await engine.call<Stats[]>('Host.getAllVmStats');
      assert.equal(stats.length, FIXTURE.domains, 'the VMs libvirt runs');
    } finally {
      engine.close();
      await agent.kill();
    }
  });
});

