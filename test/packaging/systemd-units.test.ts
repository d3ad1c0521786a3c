// The packaging files checked by systemd's own tools: `systemd-analyze verify` on the units,
// systemd-sysusers and systemd-tmpfiles on a throw-away root, and consistency with the schema and
// package.json. systemd 252 is installed but is not PID 1, which these tools do not need.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { schema } from '../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGING = join(ROOT, 'packaging');

function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 60_000, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** Copies of the units in a temp dir. systemd-analyze checks that ExecStart's program exists: the units
 * name /usr/bin/node, and where this machine has node elsewhere the copy is rewritten to point at it. */
async function unitCopies(dir: string): Promise<string[]> {
  const names = (await readdir(join(PACKAGING, 'systemd'))).filter((n) => /\.(service|socket)$/.test(n));
  for (const name of names) {
    let text = await readFile(join(PACKAGING, 'systemd', name), 'utf8');
    if (!existsSync('/usr/bin/node')) text = text.replaceAll('/usr/bin/node ', `${process.execPath} `);
    await writeFile(join(dir, name), text);
  }
  return names.map((n) => `./${n}`);
}

/** verify exits 0 on some parse problems (unknown keys, bad values): any stderr output is a failure. */
async function verify(dir: string, units: readonly string[]): Promise<{ code: number; stderr: string }> {
  const r = await run('systemd-analyze', ['verify', '--man=no', ...units], { cwd: dir });
  return { code: r.code, stderr: (r.stderr + r.stdout).trim() };
}

void describe('packaging', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-packaging-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('systemd-analyze verify accepts supervdsmd.service, vdsmd.service, vdsmd.socket and vdsm-network.service without a word', async () => {
    const units = await unitCopies(dir);
    assert.deepEqual([...units].sort(), ['./supervdsmd.service', './vdsm-network.service', './vdsmd.service', './vdsmd.socket']);
    assert.deepEqual(await verify(dir, units), { code: 0, stderr: '' });
  });

  void it('...and the check catches a bad key, which verify reports with exit code 0', async () => {
    const bad = join(dir, 'bad');
    await mkdir(bad);
    await unitCopies(bad);
    const path = join(bad, 'vdsmd.service');
    await writeFile(path, (await readFile(path, 'utf8')).replace('Restart=always', 'Restrat=always'));
    const r = await verify(bad, ['./vdsmd.service']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /Unknown key 'Restrat'/);
  });

  void it('vdsm-network.service runs vdsm-tool restore-nets as root before supervdsmd and vdsmd', async () => {
    const unit = await readFile(join(PACKAGING, 'systemd/vdsm-network.service'), 'utf8');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node /usr/lib/vdsm-node/${pkg.bin['vdsm-tool']!.replaceAll('.', '\\.')} restore-nets \\$VDSM_ARGS$`, 'm'));
    assert.match(unit, /^Before=supervdsmd\.service vdsmd\.service$/m);
    assert.match(unit, /^Type=oneshot$/m);
    assert.doesNotMatch(unit, /^User=/m, 'changing the host network needs root');
  });

  void it('the units agree with the schema and package.json', async () => {
    const service = await readFile(join(PACKAGING, 'systemd/vdsmd.service'), 'utf8');
    const socket = await readFile(join(PACKAGING, 'systemd/vdsmd.socket'), 'utf8');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.match(socket, new RegExp(`^ListenStream=${schema.addresses.management_port.default}$`, 'm'));
    assert.match(socket, /^FileDescriptorName=jsonrpc$/m);
    assert.match(service, new RegExp(`^ExecStart=/usr/bin/node /usr/lib/vdsm-node/${pkg.bin['vdsmd']!.replaceAll('.', '\\.')} \\$VDSM_ARGS$`, 'm'));
    assert.match(service, /^Type=notify$/m);
    assert.match(service, /^NotifyAccess=all$/m, 'readiness is sent by a systemd-notify child');
    assert.match(service, /^User=vdsm$/m);
    assert.match(service, /^Group=kvm$/m);
    assert.match(service, new RegExp(`^RuntimeDirectory=${schema.vars.run_dir.default.replace('/run/', '')}$`, 'm'));
    assert.match(service, /^EnvironmentFile=-\/etc\/sysconfig\/vdsm$/m);
    // The watchdog (src/observability/health/watchdog.ts) pings while the agent makes progress; a wedged
    // agent is killed and restarted.
    assert.match(service, /^WatchdogSec=60$/m);
    assert.match(service, /^Restart=always$/m);
  });

  void it('supervdsmd.service runs the helper as root with the same arguments as vdsmd, restarted always, before vdsmd, which wants it', async () => {
    const helper = await readFile(join(PACKAGING, 'systemd/supervdsmd.service'), 'utf8');
    const agent = await readFile(join(PACKAGING, 'systemd/vdsmd.service'), 'utf8');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.match(helper, new RegExp(`^ExecStart=/usr/bin/node /usr/lib/vdsm-node/${pkg.bin['supervdsmd']!.replaceAll('.', '\\.')} \\$VDSM_ARGS$`, 'm'));
    assert.doesNotMatch(helper, /^User=/m, 'root');
    assert.match(helper, /^Restart=always$/m);
    assert.match(helper, /^Before=vdsmd\.service$/m);
    assert.match(helper, /^EnvironmentFile=-\/etc\/sysconfig\/vdsm$/m, 'the same VDSM_ARGS, so the same configuration');
    assert.match(helper, /^Type=notify$/m);
    assert.doesNotMatch(helper, /^RuntimeDirectory=/m, 'a root-owned RuntimeDirectory would take /run/vdsm from the vdsm user');
    assert.match(agent, /^Wants=.*\bsupervdsmd\.service\b/m);
    assert.match(agent, /^After=.*\bsupervdsmd\.service\b/m);
    assert.doesNotMatch(agent, /^Requires=.*supervdsmd/m, 'a helper restart must not restart the agent');
    assert.match(agent, /^User=vdsm$/m);
  });

  void it('systemd-sysusers creates the vdsm user in group kvm, and systemd-tmpfiles creates /run/vdsm for it', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('systemd-tmpfiles needs root to chown in the temp root');
      return;
    }
    const root = join(dir, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    const users = await run('systemd-sysusers', [`--root=${root}`, join(PACKAGING, 'sysusers.d/vdsm-node.conf')]);
    assert.equal(users.code, 0, users.stderr);
    const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
    const group = await readFile(join(root, 'etc/group'), 'utf8');
    const [, uid, gid, , home] = /^vdsm:x:(\d+):(\d+):([^:]*):([^:]*):/m.exec(passwd) ?? [];
    const kvm = /^kvm:x:(\d+):/m.exec(group)?.[1];
    assert.ok(uid !== undefined && kvm !== undefined, passwd + group);
    assert.equal(gid, kvm, 'primary group kvm');
    assert.equal(home, schema.vars.state_dir.default);

    const tmp = await run('systemd-tmpfiles', ['--create', `--root=${root}`, join(PACKAGING, 'tmpfiles.d/vdsm-node.conf')]);
    assert.equal(tmp.code, 0, tmp.stderr);
    const st = await stat(join(root, schema.vars.run_dir.default));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o7777, 0o755);
    assert.deepEqual([st.uid, st.gid], [Number(uid), Number(kvm)]);
  });

  void it('the sysconfig file only holds comments and VAR=value lines', async () => {
    const text = await readFile(join(PACKAGING, 'sysconfig/vdsm'), 'utf8');
    for (const line of text.split('\n')) assert.match(line, /^(#.*|[A-Z_]+=.*|)$/, line);
  });
});
