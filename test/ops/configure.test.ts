// vdsm-tool configure / is-configured / vdsm-id on temporary roots (never this machine's /etc), run as
// the real program: what a fresh host lacks, what configure writes (real saslpasswd2, real openssl), that
// libvirt's own daemon accepts the SASL login it set up, idempotence, the administrator's settings kept
// or refused, the refusal while vdsmd runs, certificate validity, and the persisted host id.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { hostUuid } from '../../src/host/capabilities.js';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { certificateProblems, hostCertFiles } from '../../src/ops/host-certs.js';
import { acquireInstanceLock, releaseInstanceLock } from '../../src/ops/instance-lock.js';
import { ensurePki } from '../../src/rpc/pki.js';
import { saslUnavailable, TestLibvirtd } from '../libvirt/helpers/libvirtd.js';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env['VDSM_ARGS'];
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { timeout: 60_000, env }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const newRoot = (): Promise<string> => mkdtemp(join(tmpdir(), 'vdsm-configure-'));

void describe('vdsm-tool configure on a fresh root', () => {
  let root: string;
  before(async () => { root = await newRoot(); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  void it('is-configured lists what a fresh host lacks and exits 1', async () => {
    const r = await tool(['is-configured', '--root', root]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^certificates: NOT configured\n {2}.*\/etc\/pki\/vdsm\/certs\/vdsmcert\.pem: missing/m);
    assert.match(r.stdout, /^passwd: NOT configured\n {2}.*libvirt_password: no password/m);
    assert.match(r.stdout, /^libvirt: NOT configured\n {2}.*\/etc\/libvirt\/libvirtd\.conf: no vdsm-node block/m);
    assert.match(r.stderr, /Modules certificates, passwd, libvirt are not configured; run 'vdsm-tool configure --root .* --force'/);
  });

  void it('configure sets everything up; is-configured then exits 0; a second run changes nothing', async () => {
    const r = await tool(['configure', '--root', root]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const id = (await readFile(join(root, 'etc/vdsm/vdsm.id'), 'utf8')).trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const libvirtd = await readFile(join(root, 'etc/libvirt/libvirtd.conf'), 'utf8');
    for (const line of ['unix_sock_group = "kvm"', 'unix_sock_rw_perms = "0770"', 'auth_unix_rw = "sasl"', `host_uuid = "${id}"`, 'keepalive_interval = -1',
      'ca_file = "/etc/pki/vdsm/certs/cacert.pem"', 'cert_file = "/etc/pki/vdsm/certs/vdsmcert.pem"', 'key_file = "/etc/pki/vdsm/keys/vdsmkey.pem"']) {
      assert.ok(libvirtd.split('\n').includes(line), `libvirtd.conf has ${line}`);
    }
    const qemu = await readFile(join(root, 'etc/libvirt/qemu.conf'), 'utf8');
    for (const line of ['dynamic_ownership = 0', 'spice_tls = 1', 'stdio_handler = "file"']) assert.ok(qemu.split('\n').includes(line), `qemu.conf has ${line}`);
    assert.deepEqual(await certificateProblems(hostCertFiles(join(root, 'etc/pki/vdsm'))), []);
    assert.equal((await stat(join(root, 'etc/pki/vdsm/keys/libvirt_password'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(root, 'etc/sasl2/libvirt.conf'), 'utf8'), /^mech_list: scram-sha-256\nsasldb_path: \/etc\/libvirt\/passwd\.db$/m);

    const check = await tool(['is-configured', '--root', root]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^certificates: configured\n {2}.*vdsmcert\.pem is valid for \d+ more days$/m);

    const before = await readFile(join(root, 'etc/libvirt/libvirtd.conf'), 'utf8');
    const again = await tool(['configure', '--root', root]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already configured \(--force reconfigures\)/);
    const forced = await tool(['configure', '--root', root, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await readFile(join(root, 'etc/libvirt/libvirtd.conf'), 'utf8'), before, 'a forced run rewrites the same block');
    const vdsmId = await tool(['vdsm-id', '--root', root]);
    assert.equal(vdsmId.stdout.trim(), id, 'vdsm-id reports the id libvirt was given');
  });

  void it('libvirtd accepts the SASL login configure set up (SCRAM-SHA-256, the password file, vdsm@ovirt)', { skip: saslUnavailable() ?? false }, async () => {
    const daemon = await TestLibvirtd.create({ domains: 1 }, { saslFiles: { conf: join(root, 'etc/sasl2/libvirt.conf'), db: join(root, 'etc/libvirt/passwd.db') } });
    try {
      await daemon.start();
      const virt = loadVirtBinding();
      const password = (await readFile(join(root, 'etc/pki/vdsm/keys/libvirt_password'), 'utf8')).split('\n')[0]!;
      assert.throws(() => virt.open(daemon.uri, { authName: 'vdsm@ovirt', passphrase: `${password}x` }), (e: { code?: string }) => e.code === 'ERR_LIBVIRT_AUTH_FAILED');
      const conn = virt.open(daemon.uri, { authName: 'vdsm@ovirt', passphrase: password });
      try {
        assert.equal(virt.listAllDomains(conn).length, 1);
      } finally {
        virt.close(conn);
      }
    } finally {
      await daemon.cleanup();
    }
  });
});

void describe('vdsm-tool configure and what is already there', () => {
  void it('keeps an administrator\'s setting outside its block, and refuses one that contradicts [vars] ssl', async () => {
    const root = await newRoot();
    try {
      await mkdir(join(root, 'etc/libvirt'), { recursive: true });
      await writeFile(join(root, 'etc/libvirt/libvirtd.conf'), '# site settings\nunix_sock_group = "libvirt"\nlisten_tls = 0\n');
      const refused = await tool(['configure', '--root', root, '--module', 'libvirt']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /libvirtd\.conf: listen_tls = 0 contradicts \[vars\] ssl = true \(want 1\)/);
      assert.equal(await readFile(join(root, 'etc/libvirt/libvirtd.conf'), 'utf8'), '# site settings\nunix_sock_group = "libvirt"\nlisten_tls = 0\n', 'nothing written');
      const plain = await tool(['configure', '--root', root, '--module', 'libvirt', '--set', 'vars.ssl=false']);
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stdout, /kept the administrator's unix_sock_group = "libvirt" \(vdsm-node would set "kvm"\)/);
      const text = await readFile(join(root, 'etc/libvirt/libvirtd.conf'), 'utf8');
      assert.ok(text.startsWith('# site settings\nunix_sock_group = "libvirt"\nlisten_tls = 0\n'));
      assert.match(text, /^listen_tcp = 1$/m);
      assert.match(text, /^auth_tcp = "none"$/m);
      assert.doesNotMatch(text, /^unix_sock_group = "kvm"$/m);
      // With TLS off no certificate is needed.
      const certs = await tool(['is-configured', '--root', root, '--module', 'certificates', '--set', 'vars.ssl=false']);
      assert.equal(certs.code, 0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  void it('refuses while vdsmd runs (its lock under the root), even with --force when it cannot stop it', async () => {
    const root = await newRoot();
    await mkdir(join(root, 'run/vdsm'), { recursive: true });
    const lock = acquireInstanceLock(join(root, 'run/vdsm'), 777);
    try {
      const r = await tool(['configure', '--root', root, '--module', 'libvirt']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot configure libvirt while vdsmd is running; stop it or add --force/);
      const forced = await tool(['configure', '--root', root, '--module', 'libvirt', '--force']);
      assert.equal(forced.code, 1);
      assert.match(forced.stderr, /vdsmd is running and no service manager can stop it here: stop it first/);
      // The certificates module affects no service: it goes ahead.
      assert.equal((await tool(['configure', '--root', root, '--module', 'certificates'])).code, 0);
    } finally {
      releaseInstanceLock(lock);
      await rm(root, { recursive: true, force: true });
    }
  });

  void it('an enrolled but unusable certificate is reported and never overwritten', async () => {
    const root = await newRoot();
    try {
      const store = join(root, 'etc/pki/vdsm');
      await ensurePki(store);
      const other = await ensurePki(join(root, 'other'));
      await writeFile(join(store, 'keys/vdsmkey.pem'), await readFile(other.server.keyFile));
      const check = await tool(['is-configured', '--root', root, '--module', 'certificates']);
      assert.equal(check.code, 1);
      assert.match(check.stdout, /keys\/vdsmkey\.pem: is not the key of .*certs\/vdsmcert\.pem/);
      const r = await tool(['configure', '--root', root, '--module', 'certificates', '--force']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot be repaired here .* re-enrol the host from the engine/);
      assert.deepEqual(await readFile(join(store, 'keys/vdsmkey.pem')), await readFile(other.server.keyFile), 'left as it was');
      // A certificate from another CA, and validity dates, checked at a given time.
      await writeFile(join(store, 'certs/cacert.pem'), await readFile(other.server.caFile));
      await writeFile(join(store, 'keys/vdsmkey.pem'), await readFile(join(root, 'other/keys/vdsmkey.pem')));
      const problems = await certificateProblems(hostCertFiles(store));
      assert.ok(problems.some((p) => /is not signed by the CA/.test(p.problem)), JSON.stringify(problems));
      const later = await certificateProblems(hostCertFiles(join(root, 'other')), new Date(Date.UTC(2200, 0, 1)));
      assert.ok(later.some((p) => /^expired on /.test(p.problem)), JSON.stringify(later));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

void describe('vdsm-tool vdsm-id', () => {
  void it('prefers vdsm.id, then DMI (lower case), then machine-id, and persists what it chose', async () => {
    const root = await newRoot();
    try {
      await mkdir(join(root, 'sys/class/dmi/id'), { recursive: true });
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
      await writeFile(join(root, 'sys/class/dmi/id/product_uuid'), '4C4C4544-0042-3010-8050-B4C04F4E3232\n');
      const dmi = await tool(['vdsm-id', '--root', root]);
      assert.equal(dmi.code, 0, dmi.stderr);
      assert.equal(dmi.stdout, '4c4c4544-0042-3010-8050-b4c04f4e3232\n');
      assert.match(dmi.stderr, /host id from DMI, saved to .*etc\/vdsm\/vdsm\.id/);
      assert.equal(await readFile(join(root, 'etc/vdsm/vdsm.id'), 'utf8'), '4c4c4544-0042-3010-8050-b4c04f4e3232\n');
      // The board changes: the persisted id stays.
      await writeFile(join(root, 'sys/class/dmi/id/product_uuid'), 'AAAAAAAA-0042-3010-8050-B4C04F4E3232\n');
      assert.equal((await tool(['vdsm-id', '--root', root])).stdout, '4c4c4544-0042-3010-8050-b4c04f4e3232\n');
      await rm(join(root, 'etc/vdsm'), { recursive: true });
      await rm(join(root, 'sys'), { recursive: true });
      const mid = await tool(['vdsm-id', '--root', root, '--no-persist']);
      assert.equal(mid.stdout, '01234567-89ab-cdef-0123-456789abcdef\n');
      await assert.rejects(stat(join(root, 'etc/vdsm/vdsm.id')), 'not written with --no-persist');
      await mkdir(join(root, 'sys/class/dmi/id'), { recursive: true });
      await writeFile(join(root, 'sys/class/dmi/id/product_uuid'), '00000000-0000-0000-0000-000000000000\n');
      const placeholder = await tool(['vdsm-id', '--root', root, '--no-persist']);
      assert.match(placeholder.stderr, /is a firmware placeholder shared by many machines/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

void it('getCapabilities reports the same host id as vdsm-id: vdsm.id first, as vdsm does', () => {
  assert.equal(hostUuid({ vdsmId: 'persisted-id', productUuid: 'ABCD', machineId: null }), 'persisted-id');
  assert.equal(hostUuid({ vdsmId: null, productUuid: 'ABCD', machineId: null }), 'abcd');
  assert.equal(hostUuid({ productUuid: null, machineId: '0123456789abcdef0123456789abcdef' }), '01234567-89ab-cdef-0123-456789abcdef');
});
