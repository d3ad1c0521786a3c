// VLAN networks on a bond applied to a real kernel, in a network namespace this test creates (veth
// pairs as the bond's slaves), and the whole change rolled back: the kernel's state before and after
// compared as `ip -json` shows it. Runs where the kernel has 802.1Q and bonding (any Debian kernel);
// on a kernel built without them (CONFIG_VLAN_8021Q, CONFIG_BONDING unset, as on some CI sandboxes) it
// skips and says so; the plans themselves are checked by validate-plan.test.ts everywhere.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labUnavailable, NetnsLab, run } from '../helpers/netns-lab.js';

/** Why this kernel cannot host VLANs on a bond, or undefined when it can. */
async function kernelLacks(): Promise<string | undefined> {
  const ns = `vdsm-probe-${process.pid}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    for (const [kind, option] of [['bond', 'CONFIG_BONDING'], ['vlan', 'CONFIG_VLAN_8021Q']] as const) {
      // A VLAN needs an Ethernet parent (not lo): the probe bond, or a veth where bonding is missing.
      if (kind === 'vlan') await run('ip', ['-n', ns, 'link', 'add', 'vethprobe', 'type', 'veth', 'peer', 'name', 'vethprobe1']);
      const args = kind === 'bond' ? ['link', 'add', 'bondprobe', 'type', 'bond'] : ['link', 'add', 'link', 'vethprobe', 'name', 'vlanprobe', 'type', 'vlan', 'id', '5'];
      const r = await run('ip', ['-n', ns, ...args]);
      if (r.code !== 0) return `this kernel cannot create ${kind} devices (${option} not set: ${r.stderr.trim()})`;
    }
    return undefined;
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
}

const skip = (await labUnavailable()) ?? (await kernelLacks());

void describe('VLAN networks on a bond, on a real kernel', { skip, concurrency: false }, () => {
  let lab: NetnsLab;
  before(async () => {
    lab = await NetnsLab.create();
  });
  after(async () => {
    await lab?.cleanup();
  });

  void it('applies bond0 over two NICs with two bridged VLAN networks, then rolls the whole change back to the exact previous state', async () => {
    const before = await lab.state();
    const r = await run('ip', ['netns', 'exec', lab.host, process.execPath, '--input-type=module', '-e', `
      import { createInProcessNetwork } from ${JSON.stringify(new URL('../../src/network/in-process.js', import.meta.url).href)};
      import pino from 'pino';
      const net = createInProcessNetwork({ stateDir: ${JSON.stringify(lab.dir)}, runDir: ${JSON.stringify(`${lab.dir}/run`)}, fakeNics: ['veth_*'], resolvConf: ${JSON.stringify(`${lab.dir}/resolv.conf`)}, log: pino({ level: 'silent' }) });
      const res = await net.setup({ networks: { red: { bonding: 'bond0', vlan: '100', bridged: 'true', ipaddr: '198.51.100.2', prefix: '24' }, blue: { bonding: 'bond0', vlan: '200', bridged: 'true', mtu: 1400 } },
        bondings: { bond0: { nics: ['veth_x1', 'veth_d0'], options: 'mode=1 miimon=100' } }, options: { connectivityCheck: 'true', connectivityTimeout: 60 } });
      const mid = (await net.system.snapshot()).links;
      const rb = await net.rollback(res.txId, 'test');
      console.log(JSON.stringify({ mid: { bond: mid.bond0?.kind, vlan: mid['bond0.100']?.vlan, redMaster: mid['bond0.100']?.master, blueMtu: mid.blue?.mtu, slaves: [mid.veth_x1?.master, mid.veth_d0?.master] }, same: JSON.stringify(rb.before) === JSON.stringify(rb.after), before: rb.before, after: rb.after, errors: rb.errors }));
    `]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { mid: Record<string, unknown>; same: boolean; errors: string[]; before: unknown; after: unknown };
    assert.deepEqual(out.mid, { bond: 'bond', vlan: { id: 100, parent: 'bond0' }, redMaster: 'red', blueMtu: 1400, slaves: ['bond0', 'bond0'] });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.after, out.before, 'rollback restored every touched device');
    assert.equal(out.same, true);
    assert.deepEqual(await lab.state(), before, 'the host namespace as ip -json shows it (read by the test itself) is back where it was');
  });
});
