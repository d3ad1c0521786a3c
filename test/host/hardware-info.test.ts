// Host.getHardwareInfo from DMI files under a temporary root: strings, trimmed, missing files omitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHardwareFacts, readHostSample } from '../../workers/ops/host.js';
import { buildHardwareInfo, mergeHardwareInfo, unreadableStatement } from '../../src/host/hardware-info.js';
import { parseHostSample } from '../../src/host/sample.js';

/** Runs `fn` with a fresh temporary root holding an (empty) sys/class/dmi/id, removed afterwards. */
async function withDmiRoot(fn: (root: string, dmi: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'vdsm-dmi-'));
  try {
    const dmi = join(root, 'sys/class/dmi/id');
    await mkdir(dmi, { recursive: true });
    await fn(root, dmi);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

void test('DMI present: every key a trimmed string; family missing -> left out; no DMI -> nothing, and why', () => withDmiRoot(async (root, dmi) => {
  await writeFile(join(dmi, 'sys_vendor'), 'Dell Inc.\n');
  await writeFile(join(dmi, 'product_name'), 'PowerEdge R640\n');
  await writeFile(join(dmi, 'product_version'), '\n');
  await writeFile(join(dmi, 'product_serial'), 'ABC1234\n');
  await writeFile(join(dmi, 'product_uuid'), '4c4c4544-0042-3610-8048-b4c04f4e4d32\n');
  assert.deepEqual(buildHardwareInfo(await readHardwareFacts({ root })), {
    systemManufacturer: 'Dell Inc.', systemProductName: 'PowerEdge R640', systemVersion: '', systemSerialNumber: 'ABC1234',
    systemUUID: '4c4c4544-0042-3610-8048-b4c04f4e4d32',
  });
  const none = await readHardwareFacts({ root: join(root, 'nothing') });
  assert.deepEqual(buildHardwareInfo(none), {});
  assert.equal(none.dmiPresent, false);
  assert.match(unreadableStatement(none, 'absent'), /no SMBIOS\/DMI tables \(\/sys\/class\/dmi\/id is absent.*no privileged helper \(supervdsm\)/);
}));

void test('the unprivileged half: root-only DMI files named as such; the device tree where there is no DMI; the helper wins', () => withDmiRoot(async (root, dmi) => {
  await writeFile(join(dmi, 'product_uuid'), 'secret\n');
  await chmod(join(dmi, 'product_uuid'), 0o000);
  const raw = await readHardwareFacts({ root });
  if (process.getuid?.() !== 0) {
    assert.deepEqual(raw.unreadable, ['product_uuid']);
    assert.match(unreadableStatement(raw, 'absent'), /product_uuid need root/);
  }
  assert.equal(raw.dmiPresent, true);
  const dt = join(root, 'sys/firmware/devicetree/base');
  await mkdir(dt, { recursive: true });
  await writeFile(join(dt, 'model'), 'Raspberry Pi 4 Model B Rev 1.4\0');
  await writeFile(join(dt, 'serial-number'), '10000000abcdef\0');
  const arm = await readHardwareFacts({ root });
  const info = buildHardwareInfo(arm);
  assert.equal(info.systemProductName, 'Raspberry Pi 4 Model B Rev 1.4');
  assert.equal(info.systemSerialNumber, '10000000abcdef');
  assert.deepEqual(mergeHardwareInfo(info, { systemSerialNumber: 'FROM-DMIDECODE', systemUUID: 'u' }), { ...info, systemSerialNumber: 'FROM-DMIDECODE', systemUUID: 'u' });
}));

void test('host.sample reads the files it should under a given root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vdsm-proc-'));
  try {
    await mkdir(join(root, 'proc/net'), { recursive: true });
    await mkdir(join(root, 'sys/class/net/eth0'), { recursive: true });
    await mkdir(join(root, 'sys/kernel/mm/hugepages/hugepages-2048kB'), { recursive: true });
    await writeFile(join(root, 'proc/stat'), 'cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 10 0 5 100 0 0 0 0 0 0\nbtime 1700000000\n');
    await writeFile(join(root, 'proc/meminfo'), 'MemTotal: 1000 kB\nMemFree: 500 kB\n');
    await writeFile(join(root, 'proc/loadavg'), '0.50 0.25 0.10 1/10 99\n');
    await writeFile(join(root, 'proc/net/dev'), 'h1\nh2\n  eth0: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n');
    await writeFile(join(root, 'sys/class/net/eth0/operstate'), 'up\n');
    await writeFile(join(root, 'sys/class/net/eth0/speed'), '1000\n');
    await writeFile(join(root, 'sys/class/net/eth0/flags'), '0x1003\n');
    await writeFile(join(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), '8\n');
    const raw = await readHostSample({ root, monitoredPaths: [root] });
    const s = parseHostSample(raw);
    assert.equal(s.cpuLoad, '0.25');
    assert.equal(s.bootTime, 1700000000);
    assert.deepEqual(s.interfaces['eth0'], { rx: 100, tx: 200, rxErrors: 0, rxDropped: 0, txErrors: 0, txDropped: 0, speed: 1000, operstate: 'up' });
    assert.equal(s.hugepages['2048']?.['nr_hugepages'], 8);
    assert.equal(s.thpState, 'never');
    assert.ok(Number(s.diskStats[root]?.free) >= 0);
    await assert.rejects(readHostSample({ root: join(root, 'missing'), monitoredPaths: [] }), /cannot read/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
