// Unusable TLS files refuse start-up, naming every bad file (issue 9, item 7): the real vdsmd with
// [vars] ssl on and a trust store holding a garbage CA file, no key at all, and a certificate that is
// fine. Before, an unparseable CA started "ready" and then rejected every client, and a missing key
// named only the first missing file.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { ensureDevPki } from '../../src/rpc/pki.js';
import { AgentProcess } from '../helpers/agent-process.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdsm-tls-startup-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void it('a garbage CA file and a missing key: vdsmd exits 1 naming both files', async () => {
  const pki = await ensureDevPki(join(dir, 'dev'));
  const store = join(dir, 'store');
  await mkdir(join(store, 'certs'), { recursive: true });
  await mkdir(join(store, 'keys'), { recursive: true });
  await copyFile(pki.server.certFile, join(store, 'certs', 'vdsmcert.pem'));
  await writeFile(join(store, 'certs', 'cacert.pem'), 'this is not a certificate\n');
  await assert.rejects(
    AgentProcess.start({
      profile: 'production',
      args: ['--set', 'vars.ssl=true', '--set', `vars.trust_store_path=${store}`, '--set', 'addresses.management_ip=127.0.0.1', '--set', 'libvirt.uri=test:///default'],
    }),
    (err: Error) => {
      assert.match(err.message, /exited with 1/);
      assert.match(err.message, new RegExp(`${join(store, 'keys', 'vdsmkey.pem')}: missing`));
      assert.match(err.message, new RegExp(`${join(store, 'certs', 'cacert.pem')}: no PEM certificate`));
      assert.doesNotMatch(err.message, /vdsmcert\.pem:/, 'the good certificate is not blamed');
      return true;
    },
  );
});
