// The network-kernel tier: where this machine's kernel has no 802.1Q or bonding (some sandboxes are
// built without CONFIG_VLAN_8021Q and CONFIG_BONDING), vlan-bond-netns.test.js runs inside the TCG
// guest of scripts/netvm/ (Debian 12's kernel with those modules, this machine's root over 9p), so VLAN
// networks on a bond are still applied to, and rolled back on, a real kernel. VDSM_NETVM=1 switches it
// on (CI does, after `bash scripts/netvm/setup.sh`); without it this file skips and says how to run it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../../scripts/netvm/run.sh', import.meta.url));
const DIR = process.env['VDSM_NETVM_DIR'] ?? '/var/tmp/vdsm-netvm';

async function why(): Promise<string | undefined> {
  if (process.env['VDSM_NETVM'] !== '1') return 'the network-kernel tier is off (VDSM_NETVM=1 after `bash scripts/netvm/setup.sh` runs it)';
  if (process.getuid?.() !== 0) return 'needs root';
  return undefined;
}

const skip = await why();

void test('VLAN networks on a bond, applied and rolled back on Debian\'s kernel in the network-kernel guest', { skip, timeout: 900_000 }, async () => {
  await access(`${DIR}/initrd.img`).catch(() => assert.fail(`${DIR}/initrd.img is missing: run bash scripts/netvm/setup.sh (as root)`));
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', [RUN, 'node --test dist/test/network/vlan-bond-netns.test.js'], { maxBuffer: 16 * 1024 * 1024, timeout: 880_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr });
    });
  });
  assert.equal(r.code, 0, `${r.stdout}\n--- guest console (tail) ---\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  assert.match(r.stdout, /^# pass 1$/m, r.stdout);
  assert.match(r.stdout, /^# skipped 0$/m, 'inside the guest the kernel has 802.1Q and bonding: nothing may skip');
});
