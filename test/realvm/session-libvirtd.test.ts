// The unprivileged session libvirtd: it serves the test driver and qemu:///session on its own socket,
// runs as the daemon user, accepts the tiny guest's XML, and stop() leaves no process or directory.
// Needs libvirtd and virsh (scripts/realvm/setup.sh installs them); no kernel or guest boot involved.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ensureRealVmAssets, pidsUsingDir, startSessionLibvirtd, tinyGuestXml, Virsh } from '../support/realvm/index.js';

const check = await ensureRealVmAssets();
const tools = check.ok ? check.assets.tools : undefined;
const missingTools = check.ok ? [] : check.missing.filter((m) => !m.startsWith('/'));
const skip = missingTools.length === 0 ? false : `needs ${missingTools.join(', ')} (bash scripts/realvm/setup.sh installs them)`;

void describe('session libvirtd', { skip, timeout: 60_000 }, () => {
  void test('serves the test driver and qemu:///session, then stops without leftovers', async () => {
    const lv = await startSessionLibvirtd();
    let stopped = false;
    try {
      const info = await stat(lv.socketPath);
      assert.ok(info.isSocket());
      if (process.getuid?.() === 0) {
        // The daemon dropped root: its files belong to the daemon user.
        assert.equal(info.uid, lv.owner.uid);
        assert.notEqual(lv.owner.uid, 0);
      }

      const testDriver = new Virsh(lv.uri('test'), { binary: tools?.virsh ?? 'virsh' });
      assert.deepEqual(await testDriver.listAll(), ['test']);
      const nodeXml = join(lv.runDir, 'node.xml');
      await writeFile(
        nodeXml,
        '<node><domain type="test"><name>fixture-vm</name><memory>65536</memory><os><type>hvm</type></os></domain></node>',
      );
      await lv.chownForDaemon(nodeXml);
      assert.deepEqual(await new Virsh(lv.uri('test', nodeXml), { binary: tools?.virsh ?? 'virsh' }).listAll(), ['fixture-vm']);

      // The real QEMU driver accepts the tiny guest's XML (define checks it against QEMU's capabilities).
      const qemu = new Virsh(lv.uri('qemu'), { binary: tools?.virsh ?? 'virsh' });
      const xmlPath = join(lv.runDir, 'g.xml');
      await writeFile(xmlPath, tinyGuestXml({ uuid: randomUUID(), name: 'defined-only', kernel: '/nonexistent/vmlinuz', initrd: '/nonexistent/initrd' }));
      await qemu.run(['define', xmlPath]);
      assert.deepEqual(await qemu.listAll(), ['defined-only']);
      assert.equal(await qemu.domstate('defined-only'), 'shut off');
      await qemu.run(['undefine', 'defined-only']);
      assert.deepEqual(await qemu.listAll(), []);

      assert.ok((await pidsUsingDir(lv.runDir)).length >= 1, 'libvirtd is found by its run directory');
      await lv.stop();
      stopped = true;
      await lv.stop(); // idempotent
      assert.deepEqual(await pidsUsingDir(lv.runDir), []);
      await assert.rejects(access(lv.runDir), { code: 'ENOENT' });
      assert.equal(lv.describe()['alive'], false);
    } finally {
      if (!stopped) await lv.stop();
    }
  });

  void test('a run directory given by the caller is kept', async () => {
    const base = await mkdtemp('/tmp/vr-keep-');
    const lv = await startSessionLibvirtd({ dir: base });
    await lv.stop();
    await access(join(base, 'libvirtd.conf'));
    await rm(base, { recursive: true, force: true });
  });
});
