// Host.getHardwareInfo's parsing of dmidecode: on output captured from real machines, and on what the
// real Debian dmidecode prints for SMBIOS tables this test writes (dmidecode --from-dump), so the
// parser meets dmidecode's real formatting of every field, including the ones a table leaves out.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { hardwareInfoFromDmidecode, parseDmidecode } from '../../src/supervdsm/dmidecode.js';
import { SAMPLES } from './fixtures/dmidecode-samples.js';
import { biosStructure, smbiosDump, systemStructure } from './fixtures/smbios-dump.js';

const run = promisify(execFile);
const DMIDECODE = ['/usr/sbin/dmidecode', '/sbin/dmidecode', '/usr/bin/dmidecode'];

void describe('dmidecode output captured on real machines', () => {
  for (const sample of SAMPLES) {
    void it(sample.name, () => assert.deepEqual(hardwareInfoFromDmidecode(sample.text), sample.expected));
  }
  void it('keeps every structure, list values under their key', () => {
    const all = parseDmidecode(SAMPLES[2]!.text);
    assert.deepEqual(all.map((s) => [s.type, s.title]), [[0, 'BIOS Information'], [1, 'System Information'], [2, 'Base Board Information']]);
    assert.deepEqual(all[0]!.fields['Characteristics'], ['ISA is supported', 'PCI is supported', 'ACPI is supported', 'Targeted content distribution is supported']);
  });
  void it('output without a System Information structure gives nothing (the helper reports ERR_SVDSM_NO_DMI)', () => {
    assert.equal(hardwareInfoFromDmidecode('# dmidecode 3.4\nScanning /dev/mem for entry point.\n'), undefined);
    assert.equal(hardwareInfoFromDmidecode('# No SMBIOS nor DMI entry point found, sorry.\n'), undefined);
  });
});

void describe('the real dmidecode on SMBIOS tables written by the test', () => {
  let dir: string;
  let dmidecode: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-smbios-'));
    for (const p of DMIDECODE) {
      try {
        await run(p, ['--version']);
        dmidecode = p;
        break;
      } catch { /* next */ }
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const decode = async (name: string, dump: Buffer): Promise<string> => {
    assert.ok(dmidecode, 'dmidecode is installed (scripts/setup.sh installs it)');
    const file = join(dir, name);
    await writeFile(file, dump);
    return (await run(dmidecode, ['--from-dump', file, '-t', '1'])).stdout;
  };

  void it('SMBIOS 3.0, every field: what dmidecode prints parses to vdsm\'s keys, Not Specified left out', async () => {
    const text = await decode('dell.bin', smbiosDump([biosStructure('Dell Inc.', '2.10.2'), systemStructure({
      manufacturer: 'Dell Inc.', product: 'PowerEdge R640', version: 'Not Specified', serial: 'ABC1234',
      uuid: '4c4c4544-0042-3510-8052-b7c04f4b3332', sku: 'SKU=NotProvided;ModelName=PowerEdge R640', family: 'PowerEdge',
    })]));
    assert.match(text, /SMBIOS 3\.0\.0 present/);
    assert.deepEqual(hardwareInfoFromDmidecode(text), {
      systemManufacturer: 'Dell Inc.', systemProductName: 'PowerEdge R640', systemSerialNumber: 'ABC1234',
      systemUUID: '4c4c4544-0042-3510-8052-b7c04f4b3332', systemFamily: 'PowerEdge',
    });
  });

  void it('SMBIOS 2.8 entry point, strings left out and the short 2.1 layout without SKU and Family', async () => {
    const text = await decode('short.bin', smbiosDump([systemStructure({ manufacturer: 'QEMU', product: 'Standard PC (Q35 + ICH9, 2009)', uuid: '8d7c2a3e-93a1-4c5e-9a55-0f1e2d3c4b5a' }, true)], '2.8'));
    assert.match(text, /SMBIOS 2\.8 present/);
    assert.deepEqual(hardwareInfoFromDmidecode(text), {
      systemManufacturer: 'QEMU', systemProductName: 'Standard PC (Q35 + ICH9, 2009)', systemUUID: '8d7c2a3e-93a1-4c5e-9a55-0f1e2d3c4b5a',
    });
  });

  void it('a table without a System Information structure gives nothing', async () => {
    const text = await decode('bios-only.bin', smbiosDump([biosStructure('SeaBIOS', '1.16.2')]));
    assert.equal(hardwareInfoFromDmidecode(text), undefined);
  });
});
