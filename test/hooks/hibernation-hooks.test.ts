// before_vm_hibernate / after_vm_hibernate around a hibernation: real hook scripts (child processes, a
// hooks directory this test makes) through the real VmHooks, the hibernation's libvirt and storage
// scripted as in test/services/hibernation.test.ts. A failed before script (exit 1 is enough, as vdsm)
// stops the hibernation before the VM is paused; a passing one lets it save, and after_vm_hibernate runs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { VmHookPoint, VmHookSubject } from '../../src/hooks/vm-hooks.js';
import { Hibernation, type MemoryVolumeStorage } from '../../src/services/migration/hibernation.js';
import type { MigratingVm, MigrationGuest, MigrationLibvirt, MigrationVms, ShortOp } from '../../src/services/migration/migration-ports.js';
import { MigrationSlots } from '../../src/services/migration/slots.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { parseHibernationHandle } from '../../src/virt/migration/hibernation-volumes.js';
import { VmStateMachine, VmStatus, type VmStatusChange } from '../../src/virt/vm-state.js';
import { vmHooksWith } from '../support/hook-scripts.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '6f1f0000-0000-4000-8000-0000000019f7';
const XML = `<domain type="qemu"><name>hib</name><uuid>${UUID}</uuid><memory unit="KiB">131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`;
const HANDLE = [1, 2, 3, 4, 5, 6].map((n) => `5a7e0000-0000-4000-8000-00000000000${n}`).join(',');
const silent = pino({ level: 'silent' });

void describe('hibernation hook points (real scripts)', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'vdsm-hib-hooks-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  async function setup(name: string, scripts: Record<string, string>) {
    const hooks = await vmHooksWith(join(root, name), scripts);
    const time = new ManualTime(1000);
    const changes: VmStatusChange[] = [];
    const vm: MigratingVm = {
      vmId: UUID, xml: XML, domain: parseDomainXml(XML), guest: undefined,
      state: new VmStateMachine(UUID, { clock: time, timers: time, initial: VmStatus.UP, onStatusChange: (c) => changes.push(c) }),
    };
    // The hook points as VmManager offers them; the not-awaited after_* runs are kept to be waited for.
    const pending: Promise<unknown>[] = [];
    const vms = {
      get: () => vm, report: () => ({ vmId: UUID, elapsedTime: '1' }), liveXml: () => Promise.resolve(XML),
      runFailingHook: (point: VmHookPoint, s: VmHookSubject) => hooks.run(point, s),
      runHook: (point: VmHookPoint, s: VmHookSubject) => {
        const p = hooks.run(point, s).then(() => undefined);
        pending.push(p);
        return p;
      },
    } as unknown as MigrationVms;
    const steps: string[] = [];
    const libvirt: MigrationLibvirt = {
      call: <K extends ShortOp>(op: K): Promise<never> => { steps.push(op); return Promise.resolve(null) as Promise<never>; },
      migrate: () => Promise.reject(new Error('not a live migration')),
      save: (a) => { steps.push(`save ${a.path}`); return Promise.resolve(null); },
      restore: () => Promise.reject(new Error('not a restore')),
      saveImageXml: () => Promise.reject(new Error('not a restore')),
      onEvent: () => () => undefined,
    };
    const storage: MemoryVolumeStorage = {
      prepare: (v) => Promise.resolve(`/vol/${v.volumeID}`),
      teardown: () => Promise.resolve(),
      write: () => Promise.resolve(),
      read: () => Promise.reject(new Error('not read here')),
    };
    const guest: MigrationGuest = {
      ovirtResponsive: () => false, desktopLock: () => Promise.resolve(true), sessionLocked: () => Promise.resolve(true),
      lifecycleEvent: () => Promise.resolve(true),
    };
    const hib = new Hibernation({
      vm, vms, libvirt, storage, guest, slots: new MigrationSlots('outgoing', 2), volumes: parseHibernationHandle(HANDLE), guestEventWaitMs: 10_000, desktopLockWaitMs: 30_000,
      clock: time, timers: time, log: silent, publish: () => undefined,
    });
    return { hib, steps, changes, pending };
  }

  void it('a before_vm_hibernate script exiting 1 fails the hibernation before the VM is paused; the VM stays Up', async () => {
    const seen = join(root, 'seen-fail');
    const h = await setup('fail', { before_vm_hibernate: `echo "$vmId" > ${seen}; grep -c '<name>hib</name>' "$_hook_domxml" >> ${seen}; echo "no hibernation today" >&2; exit 1` });
    await h.hib.done;
    assert.equal(h.hib.phase, 'failed');
    assert.deepEqual((await readFile(seen, 'utf8')).trim().split('\n'), [UUID, '1'], 'the script got vmId and the live XML');
    assert.ok(!h.steps.includes('libvirt.suspend'), 'never paused');
    assert.ok(!h.steps.some((s) => s.startsWith('save')), 'never saved');
    assert.deepEqual(h.changes.map((c) => c.to), [VmStatus.SAVING_STATE, VmStatus.UP]);
  });

  void it('a passing before_vm_hibernate lets the save happen, and after_vm_hibernate runs once the VM is Down', async () => {
    const seen = join(root, 'seen-ok');
    const h = await setup('ok', { before_vm_hibernate: `echo before >> ${seen}`, after_vm_hibernate: `echo "after $vmId" >> ${seen}` });
    await h.hib.done;
    await Promise.all(h.pending);
    assert.equal(h.hib.phase, 'succeeded');
    assert.ok(h.steps.some((s) => s.startsWith('save')));
    assert.deepEqual((await readFile(seen, 'utf8')).trim().split('\n'), ['before', `after ${UUID}`]);
    assert.deepEqual(h.changes.map((c) => c.to), [VmStatus.SAVING_STATE, VmStatus.DOWN]);
  });
});
