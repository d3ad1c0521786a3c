// Every privileged function of the real supervdsmd (started as root, as systemd would) against this
// machine's real kernel and tools: KSM and hugepages read back from sysfs and restored, a guest channel
// socket's ownership fixed, a udev rule written and its uevent seen by a netlink listener, a tmpfs
// mounted and unmounted below a test repository, SASL passwords in a test database, access checked as
// another user, fuser, systemctl's list, DMI. Directories are the test's own (--set); the kernel knobs
// are global and restored.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Errors, isError } from '../../src/errors.js';
import { SupervdsmClient } from '../../src/supervdsm/client.js';
import { captureLog } from '../runtime/capture-log.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { encodeFrame } from '../../src/supervdsm/frame-decoder.js';
import { MessageCodec } from '../../src/supervdsm/protocol.js';
import { codeOf, RawPeer } from './harness.js';

/** These tests create users, run supervdsmd or act as other uids: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';

const run = promisify(execFile);
const KSM = '/sys/kernel/mm/ksm';
const HP2M = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
const SD = '2f1e5e0a-9b7c-4c3d-8e1f-0a1b2c3d4e5f';
const VOL = '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d';

const readNum = async (path: string): Promise<number> => Number((await readFile(path, 'utf8')).trim());
const code = (e: unknown): string | undefined => (e as { code?: string }).code;

/** Listens for kernel uevents on netlink (NETLINK_KOBJECT_UEVENT) through Python: Node has no netlink. */
async function ueventListener(): Promise<{ events: string[]; seen(pred: (e: string) => boolean): Promise<string>; stop(): void }> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)',
    's.bind((0, 1))',
    'print("READY", flush=True)',
    'while True:',
    '    print(s.recv(65536).split(b"\\0")[0].decode(errors="replace"), flush=True)',
  ].join('\n');
  const child: ChildProcess = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: string[] = [];
  const waiters: (() => void)[] = [];
  const rl = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve) => rl.on('line', (l) => {
    if (l === 'READY') resolve();
    else events.push(l);
    for (const w of waiters.splice(0)) w();
  }));
  await ready;
  return {
    events,
    seen: (pred) => new Promise((resolve) => {
      const check = (): void => {
        const hit = events.find(pred);
        if (hit !== undefined) resolve(hit);
        else waiters.push(check);
      };
      check();
    }),
    stop: () => void child.kill('SIGKILL'),
  };
}

void describe('supervdsmd functions on the real kernel', { skip: NEEDS_ROOT }, () => {
  let dir: string;
  let account: TestAccount;
  let helper: SupervdsmProcess;
  let client: SupervdsmClient;
  let paths: { run: string; channels: string; rules: string; repo: string; sasl: string };
  let socketServer: Server;
  const ksmBefore: Record<string, number> = {};
  let hugepagesBefore = 0;
  let loopDevice: string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-svdsm-kernel-'));
    await chmod(dir, 0o755);
    account = await createTestAccount();
    paths = { run: join(dir, 'run'), channels: join(dir, 'channels'), rules: join(dir, 'rules.d'), repo: join(dir, 'repo'), sasl: join(dir, 'sasl') };
    for (const p of Object.values(paths)) await mkdir(p, { recursive: true });
    await mkdir(join(paths.repo, 'mnt'), { recursive: true });
    for (const k of ['pages_to_scan', 'sleep_millisecs']) ksmBefore[k] = await readNum(`${KSM}/${k}`);
    hugepagesBefore = await readNum(HP2M);
    helper = await SupervdsmProcess.start([
      '--set', `vars.run_dir=${paths.run}`, '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`,
      '--set', `supervdsm.channel_dirs=${paths.channels}`, '--set', `supervdsm.udev_rules_dir=${paths.rules}`,
      '--set', `irs.repository=${paths.repo}`, '--set', 'supervdsm.mount_types=tmpfs', '--set', `supervdsm.access_users=${account.user}`,
      '--set', `supervdsm.sasl_vnc_db=${join(paths.sasl, 'vnc_passwd.db')}`, '--set', `supervdsm.sasl_libvirt_db=${join(paths.sasl, 'passwd.db')}`,
      '--set', 'supervdsm.systemctl_units=ksm.service',
    ]);
    client = new SupervdsmClient({ path: join(paths.run, 'svdsm.sock'), log: captureLog('warn').log, defaultTimeoutMs: 30_000 });
    client.start();
    await client.whenConnected(30_000);
  });

  after(async () => {
    await client?.close();
    await helper?.stop();
    socketServer?.close();
    for (const [k, v] of Object.entries(ksmBefore)) await writeFile(`${KSM}/${k}`, String(v));
    if (hugepagesBefore !== await readNum(HP2M)) await writeFile(HP2M, String(hugepagesBefore));
    if (loopDevice !== undefined) await run('losetup', ['-d', loopDevice]).catch(() => undefined);
    await run('umount', [join(paths.repo, 'mnt', 'tmpfs-test')]).catch(() => undefined);
    await account?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  void it('the socket is <run_dir>/svdsm.sock, owned by the agent user and group, mode 0660; one instance per run dir', async () => {
    const st = await stat(join(paths.run, 'svdsm.sock'));
    assert.ok(st.isSocket());
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [account.uid, account.gid, 0o660]);
    assert.equal((await readFile(join(paths.run, 'supervdsmd.lock'), 'utf8')).trim(), String(helper.pid));
    const second = await run(process.execPath, [helper.argv[0]!, '--set', `vars.run_dir=${paths.run}`, '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((second as { code: number }).code, 1);
    assert.match((second as { stderr: string }).stderr, new RegExp(`another supervdsmd \\(pid ${helper.pid}\\) is running on this directory`));
  });

  void it('ksmTune writes /sys/kernel/mm/ksm and the kernel reads back the values', async () => {
    const want = { pages_to_scan: ksmBefore['pages_to_scan'] === 123 ? 124 : 123, sleep_millisecs: ksmBefore['sleep_millisecs'] === 37 ? 38 : 37 };
    const r = await client.call('ksmTune', { tuningParams: { pages_to_scan: want.pages_to_scan, sleep_millisecs: String(want.sleep_millisecs) } });
    assert.deepEqual(r, want);
    assert.equal(await readNum(`${KSM}/pages_to_scan`), want.pages_to_scan);
    assert.equal(await readNum(`${KSM}/sleep_millisecs`), want.sleep_millisecs);
    await assert.rejects(client.call('ksmTune', { tuningParams: { max_page_sharing: 10 } }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    await assert.rejects(client.call('ksmTune', { tuningParams: { pages_to_scan: 2 ** 32 } }), (e: unknown) => code(e) === 'ERR_SVDSM_INVALID_ARGUMENT');
  });

  void it('hugepagesAlloc adds a 2 MiB page the kernel counts, and gives it back', async () => {
    const r = await client.call<{ sizeKiB: number; allocated: number; total: number }>('hugepagesAlloc', { count: 1, sizeKiB: 2048 });
    assert.deepEqual(r, { sizeKiB: 2048, allocated: 1, total: hugepagesBefore + 1 });
    assert.equal(await readNum(HP2M), hugepagesBefore + 1);
    const back = await client.call<{ allocated: number }>('hugepagesAlloc', { count: -1, sizeKiB: 2048 });
    assert.equal(back.allocated, -1);
    assert.equal(await readNum(HP2M), hugepagesBefore);
    await assert.rejects(client.call('hugepagesAlloc', { count: 1, sizeKiB: 4 }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
  });

  void it("prepareVmChannel gives a root-owned channel socket group write and the agent's group; links and other places are refused", async () => {
    const sock = join(paths.channels, 'vm1.org.qemu.guest_agent.0');
    socketServer = createServer();
    socketServer.listen(sock);
    await once(socketServer, 'listening');
    await chmod(sock, 0o755);
    const r = await client.call<{ before: { gid: number; mode: number }; after: { uid: number; gid: number; mode: number } }>('prepareVmChannel', { socketFile: sock, group: account.group });
    assert.deepEqual(r.before, { uid: 0, gid: 0, mode: 0o755 });
    assert.deepEqual(r.after, { uid: 0, gid: account.gid, mode: 0o775 });
    const st = await stat(sock);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, account.gid, 0o775]);
    await symlink('/etc/shadow', join(paths.channels, 'evil'));
    await assert.rejects(client.call('prepareVmChannel', { socketFile: join(paths.channels, 'evil') }), (e: unknown) => code(e) === 'ERR_SVDSM_PATH_NOT_ALLOWED');
    assert.equal(((await stat('/etc/shadow')).mode & 0o020), 0, '/etc/shadow untouched');
    await assert.rejects(client.call('prepareVmChannel', { socketFile: '/etc/shadow' }), (e: unknown) => code(e) === 'ERR_SVDSM_PATH_NOT_ALLOWED');
    await assert.rejects(client.call('prepareVmChannel', { socketFile: sock, group: 'root' }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
  });

  void it('udev: a managed rule written for a loop device, its uevent seen on netlink, the rule listed and removed', async () => {
    const backing = join(dir, 'loop.img');
    await writeFile(backing, Buffer.alloc(1024 * 1024));
    loopDevice = (await run('losetup', ['--find', '--show', backing])).stdout.trim();
    const name = loopDevice.replace('/dev/', '');
    const target = { kind: 'managed', storageDomain: SD, volume: VOL, device: loopDevice };
    const added = await client.call<{ path: string; rule: string }>('udevAddRule', target);
    assert.equal(added.path, join(paths.rules, `99-vdsm-managed_${SD}_${VOL}.rules`));
    assert.equal(await readFile(added.path, 'utf8'), `KERNEL=="${name}", RUN+="/usr/bin/chown ${account.user}:qemu $env{DEVNAME}"\n`);
    assert.deepEqual(await client.call('udevListRules', {}), [`99-vdsm-managed_${SD}_${VOL}.rules`]);
    const uevents = await ueventListener();
    try {
      const r = await client.call<{ syspath: string }>('udevTrigger', target);
      assert.equal(r.syspath, `/sys/devices/virtual/block/${name}`);
      assert.equal(await uevents.seen((e) => e === `change@/devices/virtual/block/${name}`), `change@/devices/virtual/block/${name}`);
    } finally {
      uevents.stop();
    }
    assert.deepEqual(await client.call('udevRemoveRule', target), { path: added.path, existed: true });
    assert.deepEqual(await readdir(paths.rules), []);
    await assert.rejects(client.call('udevAddRule', { ...target, device: '/dev/../etc/shadow' }), (e: unknown) => code(e) === 'ERR_SVDSM_PATH_NOT_ALLOWED');
    await assert.rejects(client.call('udevAddRule', { kind: 'managed', storageDomain: SD, volume: 'x" RUN+="/bin/sh', device: loopDevice }), (e: unknown) => code(e) === 'ERR_SVDSM_INVALID_ARGUMENT');
  });

  void it('mount: a tmpfs below the repository, nosuid,nodev forced; outside the repository and other types refused', async () => {
    const where = join(paths.repo, 'mnt', 'tmpfs-test');
    await mkdir(where);
    const r = await client.call<{ options: string }>('mount', { spec: 'vdsm-test', target: where, vfstype: 'tmpfs', options: 'size=1m,mode=0755' });
    assert.equal(r.options, 'size=1m,mode=0755,nosuid,nodev');
    const line = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === where);
    assert.ok(line, 'mounted');
    assert.match(line, /^vdsm-test \S+ tmpfs \S*nosuid,nodev/);
    await client.call('umount', { target: where });
    assert.equal((await readFile('/proc/self/mounts', 'utf8')).split('\n').some((l) => l.split(' ')[1] === where), false);
    await assert.rejects(client.call('mount', { spec: 'x', target: '/mnt', vfstype: 'tmpfs' }), (e: unknown) => code(e) === 'ERR_SVDSM_PATH_NOT_ALLOWED');
    await assert.rejects(client.call('mount', { spec: 'x', target: where, vfstype: 'ext4' }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    await assert.rejects(client.call('mount', { spec: 'x', target: where, vfstype: 'tmpfs', options: 'suid' }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    await assert.rejects(client.call('mount', { spec: '-oremount', target: where, vfstype: 'tmpfs' }), (e: unknown) => code(e) === 'ERR_SVDSM_INVALID_ARGUMENT');
  });

  void it('saslpasswd2: the libvirt login and a VNC password set and removed in the configured databases', async () => {
    await client.call('saslSetPassword', { db: 'libvirt', user: 'vdsm@ovirt', password: 's3cret pass' });
    await client.call('saslSetPassword', { db: 'vnc', user: 'vm-console-1', password: 'x' });
    const libvirt = (await run('sasldblistusers2', ['-f', join(paths.sasl, 'passwd.db')])).stdout;
    const vnc = (await run('sasldblistusers2', ['-f', join(paths.sasl, 'vnc_passwd.db')])).stdout;
    assert.match(libvirt, /^vdsm@ovirt: userPassword$/m);
    assert.match(vnc, /^vm-console-1@\S+: userPassword$/m);
    await client.call('saslRemovePassword', { db: 'vnc', user: 'vm-console-1' });
    assert.doesNotMatch((await run('sasldblistusers2', ['-f', join(paths.sasl, 'vnc_passwd.db')])).stdout, /vm-console-1/);
    await assert.rejects(client.call('saslSetPassword', { db: 'libvirt', user: 'root', password: 'x' }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    await assert.rejects(client.call('saslSetPassword', { db: 'vnc', user: 'a', password: 'two\nlines' }), (e: unknown) => code(e) === 'ERR_SVDSM_INVALID_ARGUMENT');
  });

  void it('validateAccess checks as the given user in a child: denied, then allowed after a chmod, and with a group', async () => {
    const d = join(paths.repo, 'mnt', 'domain-dir');
    await mkdir(d, { mode: 0o700 });
    await chmod(d, 0o700);
    await assert.rejects(client.call('validateAccess', { user: account.user, path: d }), (e: unknown) => code(e) === 'ERR_SVDSM_ACCESS_DENIED');
    await chown(d, 0, account.gid);
    await chmod(d, 0o770);
    assert.deepEqual(await client.call('validateAccess', { user: account.user, groups: [account.group], path: d }), { path: d, user: account.user, access: 'rwx' });
    assert.deepEqual(await client.call('validateAccess', { user: account.user, path: d, access: 'r' }), { path: d, user: account.user, access: 'r' });
    await assert.rejects(client.call('validateAccess', { user: 'root', path: d }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    await assert.rejects(client.call('validateAccess', { user: account.user, path: '/etc' }), (e: unknown) => code(e) === 'ERR_SVDSM_PATH_NOT_ALLOWED');
  });

  void it('fuser names the process holding a file open below the repository', async () => {
    const f = join(paths.repo, 'held');
    await writeFile(f, 'x');
    const fh = await import('node:fs/promises').then((m) => m.open(f, 'r'));
    const child = spawn('sleep', ['60'], { stdio: [fh.fd, 'ignore', 'ignore'] });
    await fh.close();
    try {
      assert.deepEqual(await client.call('fuser', { path: f }), [child.pid]);
    } finally {
      child.kill('SIGKILL');
    }
    await once(child, 'exit');
    assert.deepEqual(await client.call('fuser', { path: f }), []);
  });

  void it('systemctl acts on its list only; on a host without systemd as PID 1 the real systemctl says so', async () => {
    await assert.rejects(client.call('systemctl', { action: 'stop', unit: 'sshd' }), (e: unknown) => code(e) === 'ERR_SVDSM_NOT_ALLOWED');
    const pid1 = (await readFile('/proc/1/comm', 'utf8')).trim();
    const r = await client.call('systemctl', { action: 'is-active', unit: 'ksm' }).then((v) => ({ v }), (e: unknown) => ({ e }));
    if (pid1 === 'systemd') assert.ok('v' in r, JSON.stringify(r));
    else {
      assert.ok('e' in r && code(r.e) === 'ERR_SVDSM_COMMAND_FAILED', JSON.stringify(r));
      assert.match((r.e as { context: { output: string } }).context.output, /systemd/i);
    }
  });

  void it('bad frames and a peer of another uid against the real daemon: answered, refused and logged, and it serves on', async () => {
    const sock = join(paths.run, 'svdsm.sock');
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(2 * 1024 * 1024);
    const big = await RawPeer.connect(sock);
    big.write(oversized);
    assert.equal(codeOf(await big.next((m) => m.type === 'error')), 'ERR_SVDSM_BAD_FRAME');
    await big.closed;
    const junk = await RawPeer.connect(sock);
    junk.write(encodeFrame(Buffer.from([0xd9, 0x10, 0x41])));
    junk.write(encodeFrame(Buffer.from([0xa4, 0x70, 0x69, 0x6e, 0x67]))); // the msgpack string "ping": a value, not a call
    junk.call(7, 'ping');
    assert.deepEqual(await junk.answer(7), { type: 'result', id: 7, value: true });
    assert.deepEqual(junk.messages.slice(1, 3).map(codeOf), ['ERR_SVDSM_BAD_FRAME', 'ERR_SVDSM_BAD_REQUEST']);
    junk.close();
    await chmod(sock, 0o666); // a wrong mode: the uid check must still refuse
    try {
      const out = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e',
        `const s=require('node:net').createConnection(${JSON.stringify(sock)});let b=Buffer.alloc(0);s.on('data',d=>{b=Buffer.concat([b,d])});s.on('close',()=>process.stdout.write(b.toString('hex')));`]);
      const msg = new MessageCodec().decode(Buffer.from(out.stdout, 'hex').subarray(4)) as { error: { code: string } };
      assert.equal(msg.error.code, 'ERR_SVDSM_PEER_REFUSED');
    } finally {
      await chmod(sock, 0o660);
    }
    const line = await helper.waitForLog((l) => l['msg'] === 'refused a connection from a user that may not use supervdsm');
    assert.equal(line['peerUid'], 65534);
    assert.equal(await client.call('ping'), true, 'the same helper process serves on');
  });

  void it('getHardwareInfo: DMI when the host has tables, otherwise ERR_SVDSM_NO_DMI saying why', async () => {
    const hasTables = await stat('/sys/firmware/dmi/tables').then(() => true, () => false);
    const r = await client.call('getHardwareInfo', {}).then((v) => ({ v }), (e: unknown) => ({ e }));
    if (hasTables) assert.ok('v' in r && typeof (r.v as Record<string, unknown>)['systemUUID'] === 'string', JSON.stringify(r));
    else {
      assert.ok('e' in r && isError(r.e, Errors.SVDSM_NO_DMI), JSON.stringify(r));
      assert.match((r.e as Error).message, /\/sys\/firmware\/dmi\/tables is absent/);
    }
    assert.deepEqual(Object.keys(await client.call('getKernelFeatures', {}) as object).sort(), ['ibpb', 'ibrs', 'pti']);
  });
});
