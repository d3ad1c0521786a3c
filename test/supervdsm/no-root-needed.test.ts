// vdsmd itself needs root for nothing it does:
// 1. every host fact its worker operations read is read the same as root and as an unprivileged user,
//    except the ones that come from supervdsm (the DMI product UUID, the debugfs switches);
// 2. no code vdsmd runs calls what needs root (chown, mount, set-uid, writes to /sys or /proc/sys,
//    privileged programs) outside the helper;
// 3. what the helper supplies reaches the capabilities: the host UUID from DMI through supervdsm, and
//    a missing helper fails getCapabilities rather than change the host's identity.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { HostService } from '../../src/services/host-service.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { Errors, vdsmError } from '../../src/errors.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import type { Supervdsm } from '../../src/supervdsm/privileged.js';
import { bareHostFacts, QEMU_CAPS_XML } from '../host/caps-fixtures.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';

/** These tests create users, run supervdsmd or act as other uids: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DUMP = fileURLToPath(new URL('../fixtures/host-facts-dump.js', import.meta.url));

/** Facts only root can read, and which vdsmd gets from supervdsm instead. */
const FROM_HELPER = new Set(['caps.productUuid', 'caps.kernelFeatures.pti', 'caps.kernelFeatures.ibpb', 'caps.kernelFeatures.ibrs', 'hw.dmi.product_serial', 'hw.dmi.product_uuid']);

/** Paths (a.b.c) of facts present in `root` but missing, null or empty in `user`. */
function onlyRootSees(rootV: unknown, userV: unknown, path: string, out: string[]): string[] {
  if (rootV === null || rootV === undefined || rootV === '') return out;
  if (Array.isArray(rootV)) {
    if (rootV.length > 0 && (!Array.isArray(userV) || userV.length === 0)) out.push(path);
  } else if (typeof rootV === 'object') {
    if (typeof userV !== 'object' || userV === null) out.push(path);
    else for (const [k, v] of Object.entries(rootV)) onlyRootSees(v, (userV as Record<string, unknown>)[k], `${path}.${k}`, out);
  } else if (userV === null || userV === undefined || userV === '') out.push(path);
  return out.map((p) => p.replace(/^\./, ''));
}

void describe('vdsmd needs no root', { skip: NEEDS_ROOT }, () => {
  let account: TestAccount;
  before(async () => {
    account = await createTestAccount();
  });
  after(() => account?.cleanup());

  void it('every host fact its workers read, an unprivileged user reads too (but those supervdsm supplies)', async () => {
    const asRoot = JSON.parse((await run(process.execPath, [DUMP], { maxBuffer: 64 << 20 })).stdout) as Record<string, unknown>;
    const asUser = JSON.parse((await run('setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', '--', process.execPath, DUMP], { maxBuffer: 64 << 20 })).stdout) as Record<string, unknown>;
    const missing = onlyRootSees(asRoot, asUser, '', []);
    assert.deepEqual(missing.filter((p) => !FROM_HELPER.has(p)), [], 'facts only root can read, not taken from supervdsm');
    assert.ok(Object.keys(asUser['caps'] as object).length > 20, 'the user read the capabilities facts');
  });

  void it('no code vdsmd runs calls what needs root: that belongs to src/supervdsm/ and supervdsmd', async () => {
    // The modules vdsmd runs: everything src/bin/vdsmd.ts and its worker threads import, followed
    // through static and dynamic imports (vdsm-tool's configure modules, run by an admin as root, are
    // not among them).
    const reach = new Set<string>();
    const queue = ['src/bin/vdsmd.ts', 'workers/executor-worker.ts'];
    while (queue.length > 0) {
      const rel = queue.pop()!;
      if (reach.has(rel)) continue;
      reach.add(rel);
      const text = await readFile(join(ROOT, rel), 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(ROOT, join(ROOT, dirname(rel), m[1]!)).replace(/\.js$/, '.ts');
        if (target.endsWith('.ts') && !reach.has(target)) queue.push(target);
      }
    }
    assert.ok(reach.has('src/app/agent.ts') && reach.has('workers/ops/host.ts'), 'the walk follows the agent and the worker areas');
    // workers/ops/supervdsm.ts is registered with every worker area, so vdsmd's threads load it, but only
    // supervdsmd's Executor (opsModules ['supervdsm']) ever dispatches its operations.
    const exempt = new Set(['workers/ops/supervdsm.ts']);
    const patterns: [RegExp, string][] = [
      [/\b(l?chown|chownSync|lchownSync)\s*\(/, 'changes file ownership'],
      [/process\.(setuid|setgid|seteuid|setegid|setgroups|initgroups)\s*\(/, 'changes its credentials'],
      [/(writeFile|appendFile|writeFileSync|appendFileSync)\s*\(\s*['"`]\/(sys|proc\/sys)\//, 'writes a kernel knob'],
      [/\b(execFile|execFileSync|spawn|spawnSync|exec|execSync)\s*\(\s*['"`](\/\S*\/)?(mount|umount|systemctl|udevadm|saslpasswd2|dmidecode|modprobe|sysctl|losetup|iscsiadm|multipath|lvm|setpriv|fuser|sudo)['"`]/, 'runs a privileged program'],
    ];
    const found: string[] = [];
    for (const rel of [...reach].sort()) {
      if (exempt.has(rel)) continue;
      const lines = (await readFile(join(ROOT, rel), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (/^\s*(\/\/|\*)/.test(line)) return;
        for (const [re, what] of patterns) if (re.test(line)) found.push(`${rel}:${i + 1}: ${what}: ${line.trim()}`);
      });
    }
    assert.deepEqual(found, []);
    assert.ok(reach.size > 50, `the walk saw vdsmd's modules (${reach.size})`);
  });
});

void describe('what supervdsm supplies reaches the capabilities', () => {
  // This machine has no DMI; the DMI-present case is played with a stand-in for the helper's answers
  // (the real helper and dmidecode are in kernel-functions.test.ts and dmidecode.test.ts).
  const log = pino({ level: 'silent' });
  const host = (helper: Supervdsm, dmiPresent: boolean): HostService => {
    const executor = {
      dispatch: <T>(op: string): Promise<T> => Promise.resolve((op === 'host.capabilitiesFacts' ? { ...bareHostFacts(), productUuid: null, dmiPresent }
        : op === 'libvirt.getCapabilities' ? QEMU_CAPS_XML : op === 'libvirt.getDomainCapabilities' ? undefined : 9_000_000) as T),
    };
    return new HostService({
      executor, libvirt: new LibvirtClient({ dispatcher: executor, connections: new ConnectionsStub(1) }),
      scheduler: new Scheduler({ log }), clock: { now: () => 0 }, log,
      vmCounts: () => ({ vmCount: 0, vmActive: 0, vmMigrating: 0, incomingVmMigrations: 0, outgoingVmMigrations: 0 }),
      sampleIntervalMs: 15_000, runDir: '/run/vdsm', capabilities: {}, callTimeoutMs: 1000, supervdsm: helper,
    });
  };
  const helperWith = (calls: string[], answer: (m: string) => unknown): Supervdsm => ({
    enabled: true, connected: true, health: () => ({}),
    call: ((m: string) => { calls.push(m); const a = answer(m); return a instanceof Error ? Promise.reject(a) : Promise.resolve(a); }) as Supervdsm['call'],
  });

  void it('DMI present but root-only: the host UUID is the DMI product UUID from the helper, asked once', async () => {
    const calls: string[] = [];
    const h = host(helperWith(calls, (m) => (m === 'getHardwareInfo' ? { systemUUID: '4C4C4544-0042-3610-8048-B4C04F4E4D32' } : { pti: 1, ibpb: -1, ibrs: 0 })), true);
    const caps = await h.capabilities() as Record<string, unknown>;
    assert.equal(caps['uuid'], '4c4c4544-0042-3610-8048-b4c04f4e4d32');
    assert.deepEqual(caps['kernelFeatures'], { pti: 1, ibpb: -1, ibrs: 0 });
    await h.capabilities();
    assert.deepEqual(calls, ['getHardwareInfo', 'getKernelFeatures']);
  });

  void it('DMI present and the helper down: getCapabilities fails instead of reporting another host UUID', async () => {
    const h = host(helperWith([], () => vdsmError(Errors.SVDSM_UNAVAILABLE, 'supervdsm is not available at /run/vdsm/svdsm.sock')), true);
    await assert.rejects(h.capabilities(), (e: Error & { code?: string }) => e.code === 'ERR_SVDSM_UNAVAILABLE' && /host UUID comes from DMI through supervdsm/.test(e.message));
  });

  void it('no DMI at all: the machine id, as before', async () => {
    const h = host(helperWith([], (m) => (m === 'getKernelFeatures' ? { pti: -1, ibpb: -1, ibrs: -1 } : vdsmError(Errors.SVDSM_NO_DMI))), false);
    assert.equal((await h.capabilities() as Record<string, unknown>)['uuid'], '3d1219c7-c4c5-404a-aa1f-6d2a48adfda4');
  });
});
