// The return from hibernation (VM.create with hiberVolHandle) and its hook points, with real scripts
// through the real VmHooks and VmManager; libvirt is a stand-in dispatcher and the memory volume's
// restore a recorder (test/e2e/hibernation.test.ts runs the real restore). As vdsm: before_vm_start
// (its XML unused) and before_vm_dehibernate (FROM_SNAPSHOT=False) run first and a failed script fails
// the restore, libvirt never asked; after a restore, after_vm_dehibernate runs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { VmHookPoint, VmHookSubject } from '../../src/hooks/vm-hooks.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { VmManager } from '../../src/services/vm-manager.js';
import { VmRecordStore } from '../../src/services/vm-records.js';
import { StatsCache } from '../../src/virt/stats-cache.js';
import { VmStatus, type VmStatusChange } from '../../src/virt/vm-state.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { vmHooksWith } from '../support/hook-scripts.js';
import { ManualTime } from '../support/manual-time.js';

const UUID = '6f1f0000-0000-4000-8000-0000000019f8';
const XML = `<domain type="test"><name>back</name><uuid>${UUID}</uuid><memory unit="KiB">131072</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>`;
const HANDLE = [1, 2, 3, 4, 5, 6].map((n) => `5a7e0000-0000-4000-8000-00000000000${n}`).join(',');
const silent = pino({ level: 'silent' });

void describe('restore hook points (real scripts)', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'vdsm-restore-hooks-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  async function restoreWith(name: string, scripts: Record<string, string>): Promise<{ restored: string[]; final: VmStatusChange; pending: Promise<unknown>[] }> {
    const hooks = await vmHooksWith(join(root, name), scripts);
    const pending: Promise<unknown>[] = [];
    const scriptHooks = {
      run: (point: VmHookPoint, vm: VmHookSubject, params?: Record<string, string>) => {
        const p = hooks.run(point, vm, params);
        pending.push(p.catch(() => undefined));
        return p;
      },
    };
    const time = new ManualTime(500_000);
    const records = new VmRecordStore(join(root, `${name}-state`));
    const dispatcher = {
      dispatch: <T>(op: string): Promise<T> => Promise.resolve((op === 'libvirt.state' ? { state: 1, reason: 0 } : op === 'libvirt.xmlDesc' ? XML : undefined) as T),
    };
    const restored: string[] = [];
    const vms = new VmManager({
      libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub() }),
      records, statsCache: new StatsCache(time), clock: time, timers: time, log: silent, publish: () => undefined,
      sysShutdownTimeoutS: 120, vmCommandTimeoutS: 60,
      scriptHooks,
      restorer: {
        savedParams: () => Promise.resolve({}),
        restore: (vmId) => { restored.push(vmId); return Promise.resolve(); },
      },
    });
    try {
      const settled = new Promise<VmStatusChange>((resolve) => vms.onStatusChange((_vm, c) => { if (c.to === VmStatus.DOWN || c.to === VmStatus.UP || c.to === VmStatus.POWERING_UP) resolve(c); }));
      await vms.create({ xml: XML, hiberVolHandle: HANDLE } as Parameters<VmManager['create']>[0]);
      const final = await settled;
      await Promise.all(pending);
      return { restored, final, pending };
    } finally {
      vms.close();
    }
  }

  void it('a before_vm_dehibernate script exiting 1 fails the restore: Down with its message, libvirt never asked', async () => {
    const seen = join(root, 'seen-fail');
    const r = await restoreWith('fail', {
      before_vm_start: `echo "start $vmId" >> ${seen}`,
      before_vm_dehibernate: `echo "dehibernate $FROM_SNAPSHOT" >> ${seen}; echo "volume not trusted" >&2; exit 1`,
    });
    assert.deepEqual(r.restored, []);
    assert.equal(r.final.to, VmStatus.DOWN);
    assert.match(String(r.final.exitInfo?.exitMessage), /Wake up from hibernation failed:.*volume not trusted/);
    assert.deepEqual((await readFile(seen, 'utf8')).trim().split('\n'), [`start ${UUID}`, 'dehibernate False']);
  });

  void it('passing scripts: the domain is restored, then after_vm_dehibernate runs', async () => {
    const seen = join(root, 'seen-ok');
    const r = await restoreWith('ok', {
      before_vm_dehibernate: `echo before >> ${seen}`,
      after_vm_dehibernate: `echo "after $vmId $FROM_SNAPSHOT" >> ${seen}`,
    });
    assert.deepEqual(r.restored, [UUID]);
    assert.notEqual(r.final.to, VmStatus.DOWN);
    assert.deepEqual((await readFile(seen, 'utf8')).trim().split('\n'), ['before', `after ${UUID} False`]);
  });
});
