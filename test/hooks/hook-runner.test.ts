// The hook runner against real scripts in a hooks directory this test creates: run order, environment,
// the _hook_domxml file (edited in place, removed afterwards), vdsm's exit codes 0/1/2, scripts that are
// not executable, bounded output, a hung script killed with its process group at a short time limit.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { HOOKING_PYTHON_DIR, HookRunner } from '../../src/hooks/hook-runner.js';
import { hookInventory, hookScripts } from '../../src/contracts/hook-scripts.js';
import { customPropertiesEnv, VmHooks } from '../../src/hooks/vm-hooks.js';
import { VdsmError } from '../../src/errors.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { fileAppears, writeHookScript } from '../support/hook-scripts.js';
import { ManualTime } from '../support/manual-time.js';

const silent = pino({ level: 'silent' });

const script = writeHookScript;

/** Whether a process is gone (no such pid, or a zombie waiting to be reaped). */
async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

void describe('hook runner (real scripts)', () => {
  let root: string;
  let hooksDir: string;
  let tmp: string;
  let n = 0;
  const fresh = async (): Promise<{ dir: string; runner: HookRunner; out: string }> => {
    const dir = join(hooksDir, String(n++));
    await mkdir(dir, { recursive: true });
    return { dir, runner: new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent, tmpDir: tmp }), out: join(dir, 'out.txt') };
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vdsm-hooks-test-'));
    hooksDir = join(root, 'hooks');
    tmp = join(root, 'tmp');
    await mkdir(tmp);
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  void it('runs the executable scripts in name order with vmId, the custom properties and the data file in the environment', async () => {
    const { dir, runner, out } = await fresh();
    for (const name of ['20_b', '10_a', 'B_upper', 'a_lower']) {
      await script(dir, 'before_vm_start', name, `echo "${name} $vmId $macspoof $_hook_domxml" >> ${out}`);
    }
    await script(dir, 'before_vm_start', '15_not_executable', `echo 15 >> ${out}`, 0o644);
    await mkdir(join(dir, 'before_vm_start', '12_a_directory'));
    const r = await runner.run({ point: 'before_vm_start', vmId: 'vm-1', env: { macspoof: 'true' }, data: { kind: 'domxml', xml: '<domain/>' } });
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['10_a', '20_b', 'B_upper', 'a_lower']);
    for (const l of lines) {
      const [, vmId, custom, file] = l.split(' ');
      assert.equal(vmId, 'vm-1');
      assert.equal(custom, 'true');
      assert.ok(file?.startsWith(tmp + '/'), `the data file is under the runner's tmpDir: ${file}`);
    }
    assert.deepEqual(r.errors, []);
    assert.equal(r.runs.length, 4);
    assert.deepEqual(await readdir(tmp), [], 'the data file is removed after the run');
  });

  void it('hands on the XML the scripts edited in place, script after script', async () => {
    const { dir, runner } = await fresh();
    await script(dir, 'before_vm_start', '01', 'sed -i "s|<devices/>|<devices/><description>one</description>|" "$_hook_domxml"');
    await script(dir, 'before_vm_start', '02', 'sed -i "s|one|one-two|" "$_hook_domxml"');
    const r = await runner.run({ point: 'before_vm_start', data: { kind: 'domxml', xml: '<domain><devices/></domain>' } });
    assert.equal(r.xml, '<domain><devices/><description>one-two</description></domain>');
  });

  void it('exit 1 is an error and the next script runs; exit 2 is an error that stops the rest', async () => {
    const { dir, runner, out } = await fresh();
    await script(dir, 'after_vm_start', '1', `echo 1 >> ${out}; echo warned >&2; exit 1`);
    await script(dir, 'after_vm_start', '2', `echo 2 >> ${out}; echo stopped here >&2; exit 2`);
    await script(dir, 'after_vm_start', '3', `echo 3 >> ${out}`);
    const r = await runner.run({ point: 'after_vm_start' });
    assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), ['1', '2']);
    assert.deepEqual(r.errors, ['warned', 'stopped here']);
    assert.deepEqual(r.runs.map((x) => x.rc), [1, 2]);
  });

  void it('an unexpected exit code is an error, and the next script still runs', async () => {
    const { dir, runner, out } = await fresh();
    await script(dir, 'after_vm_start', '1', 'exit 7');
    await script(dir, 'after_vm_start', '2', `echo 2 >> ${out}`);
    const r = await runner.run({ point: 'after_vm_start' });
    assert.deepEqual(r.errors, ['exit code 7']);
    assert.equal(await readFile(out, 'utf8'), '2\n');
  });

  void it('kills a hung script and what it started (its process group) at the time limit; the event loop runs meanwhile', async () => {
    const { dir, out } = await fresh();
    const runner = new HookRunner({ hooksDir: dir, timeoutMs: 200, log: silent, tmpDir: tmp });
    await script(dir, 'before_vm_destroy', '1', `sleep 1000 & echo $! > ${out}; wait`);
    await script(dir, 'before_vm_destroy', '2', `echo ran >> ${out}.2`);
    let ticks = 0;
    const ticker = setInterval(() => { ticks++; }, 10);
    const r = await runner.run({ point: 'before_vm_destroy' });
    clearInterval(ticker);
    assert.equal(r.runs.length, 1, 'a killed script stops the remaining ones');
    assert.equal(r.runs[0]!.timedOut, true);
    assert.match(r.errors[0]!, /time limit of 200 ms/);
    assert.ok(ticks > 0, 'timers fired while the script hung');
    const grandchild = Number((await readFile(out, 'utf8')).trim());
    assert.ok(await processGone(grandchild), 'the sleep the script started is killed too');
    await assert.rejects(readFile(`${out}.2`), { code: 'ENOENT' });
    assert.deepEqual(await readdir(tmp), []);
  });

  void it('/health shows a hung script while it runs; the limit is the runner\'s timer (a manual clock here)', async () => {
    const { dir, out } = await fresh();
    const time = new ManualTime(1000);
    const runner = new HookRunner({ hooksDir: dir, timeoutMs: 5000, log: silent, tmpDir: tmp, clock: time, timers: time });
    await script(dir, 'before_vm_start', '10_hang', `touch ${out}; exec sleep 1000`);
    const done = runner.run({ point: 'before_vm_start', vmId: 'vm-h' });
    await fileAppears(out);
    time.advance(1200);
    const running = runner.describe()['running'] as Record<string, unknown>[];
    assert.deepEqual(running.map((r) => [r['point'], r['vmId'], r['runningMs'], String(r['script']).endsWith('/10_hang')]), [['before_vm_start', 'vm-h', 1200, true]]);
    time.advance(3800);
    const r = await done;
    assert.equal(r.runs[0]!.timedOut, true);
    assert.deepEqual(runner.describe(), { dir, timeoutMs: 5000, running: [], ran: 1, failed: 1, killed: 1 });
  });

  void it('keeps only outputLimit bytes of each output stream and counts the rest', async () => {
    const { dir } = await fresh();
    const runner = new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent, tmpDir: tmp, outputLimit: 1000 });
    await script(dir, 'after_vm_start', '1', 'head -c 300000 /dev/zero | tr "\\0" x; head -c 5000 /dev/zero | tr "\\0" y >&2; exit 1');
    const r = await runner.run({ point: 'after_vm_start' });
    assert.equal(r.runs[0]!.stdout.text, 'x'.repeat(1000));
    assert.equal(r.runs[0]!.stdout.dropped, 299_000);
    assert.equal(r.runs[0]!.stderr.text.length, 1000);
    assert.equal(r.runs[0]!.stderr.dropped, 4000);
  });

  void it('a script that cannot be started is an error that stops the rest', async () => {
    const { dir, runner, out } = await fresh();
    await mkdir(join(dir, 'after_vm_start'), { recursive: true });
    await writeFile(join(dir, 'after_vm_start', '1'), '#!/no/such/interpreter\n');
    await chmod(join(dir, 'after_vm_start', '1'), 0o755);
    await script(dir, 'after_vm_start', '2', `echo 2 >> ${out}`);
    const r = await runner.run({ point: 'after_vm_start' });
    assert.match(r.errors[0]!, /could not be started/);
    await assert.rejects(readFile(out), { code: 'ENOENT' });
  });

  void it('JSON hook points get _hook_json and hand on the document the scripts wrote', async () => {
    const { dir, runner } = await fresh();
    await script(dir, 'after_get_caps', '1', 'grep -q \'"a":1\' "$_hook_json" && echo \'{"a":2}\' > "$_hook_json"');
    const r = await runner.run({ point: 'after_get_caps', data: { kind: 'json', value: { a: 1 } } });
    assert.deepEqual(r.json, { a: 2 });
  });

  void it('Python scripts written for vdsm find `hooking` (read_domxml, write_domxml, tobool, exit_hook)', async () => {
    const { dir } = await fresh();
    const runner = new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent, tmpDir: tmp, pythonPath: HOOKING_PYTHON_DIR });
    const py = (name: string, body: string): Promise<string> => writeHookScript(dir, 'before_vm_start', name, '').then(async (path) => {
      await writeFile(path, `#!/usr/bin/env python3\nimport os\nimport hooking\n${body}\n`);
      return path;
    });
    await py('10_title', [
      "if hooking.tobool(os.environ.get('nested')):",
      '    dom = hooking.read_domxml()',
      "    title = dom.createElement('title')",
      "    title.appendChild(dom.createTextNode('nested for ' + os.environ['vmId']))",
      "    dom.getElementsByTagName('domain')[0].appendChild(title)",
      '    hooking.write_domxml(dom)',
    ].join('\n'));
    await py('20_refuse', "if hooking.tobool(os.environ.get('refuse')):\n    hooking.exit_hook('refused by 20')");
    await py('30_never_after_exit_hook', "open(os.environ['_hook_domxml'], 'a').write('<!-- 30 ran -->')");
    const ok = await runner.run({ point: 'before_vm_start', vmId: 'v1', env: { nested: 'True', refuse: '0' }, data: { kind: 'domxml', xml: '<domain><name>x</name></domain>' } });
    assert.deepEqual(ok.errors, []);
    assert.match(ok.xml!, /<title>nested for v1<\/title><\/domain><!-- 30 ran -->$/);
    const refused = await runner.run({ point: 'before_vm_start', vmId: 'v1', env: { nested: 'no', refuse: 'true' }, data: { kind: 'domxml', xml: '<domain/>' } });
    assert.deepEqual(refused.errors, ['refused by 20']);
    assert.deepEqual(refused.runs.map((r) => r.rc), [0, 2], 'exit_hook exits 2 by default: the point ends');
    assert.equal(refused.xml, '<domain/>');
  });

  void it('a point without scripts runs nothing and hands the data back', async () => {
    const { runner } = await fresh();
    const r = await runner.run({ point: 'before_vm_start', data: { kind: 'domxml', xml: '<domain/>' } });
    assert.equal(r.xml, '<domain/>');
    assert.deepEqual(r.runs, []);
    await assert.rejects(hookScripts(hooksDir, '../etc'), /bad hook point name/);
  });

  void it('lists the inventory with vdsm\'s checksum (sha256 of the content), executable scripts only', async () => {
    const { dir } = await fresh();
    const a = await script(dir, 'before_vm_start', '50_macspoof', 'exit 0');
    await script(dir, 'before_vm_start', 'README', 'not a hook', 0o644);
    await script(dir, 'after_vm_destroy', 'off', 'exit 0', 0o644);
    const inv = await hookInventory(dir);
    assert.deepEqual(inv, { before_vm_start: { '50_macspoof': { checksum: createHash('sha256').update(await readFile(a)).digest('hex') } } });
    assert.deepEqual(await hookInventory(join(dir, 'missing')), {});
  });
});

void describe('VM hook points (vdsm\'s failure rules)', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'vdsm-vmhooks-test-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  const xml = `<domain type="test"><name>h</name><uuid>11111111-2222-4333-8444-555555555555</uuid><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/>
<metadata><ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:custom><ovirt-vm:macspoof>true</ovirt-vm:macspoof><ovirt-vm:sap_agent>false</ovirt-vm:sap_agent></ovirt-vm:custom></ovirt-vm:vm></metadata></domain>`;

  void it('gives the custom properties of the domain metadata to the scripts', async () => {
    const domain = parseDomainXml(xml);
    assert.deepEqual(customPropertiesEnv(domain), { macspoof: 'true', sap_agent: 'false' });
    assert.deepEqual(customPropertiesEnv({ ovirt: { values: {}, devices: [], custom: { 'a-b': 'x', ok: 'y', nul: 'a\0b' } } }), { ok: 'y' });
  });

  void it('before_vm_start: the edited XML comes back; any failed script (exit 1 too) fails it with hookError 78', async () => {
    const dir = join(root, 'start');
    const hooks = new VmHooks(new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent }), silent);
    await script(dir, 'before_vm_start', '1', 'sed -i "s|<name>h</name>|<name>h2</name>|" "$_hook_domxml"');
    const vm = { vmId: 'v', xml, domain: parseDomainXml(xml) };
    assert.match(await hooks.run('before_vm_start', vm), /<name>h2<\/name>/);
    await script(dir, 'before_vm_start', '2', 'echo "nope: $macspoof" >&2; exit 1');
    await assert.rejects(hooks.run('before_vm_start', vm), (err: unknown) => err instanceof VdsmError && err.vdsmCode === 78 && /nope: true/.test(err.message));
  });

  void it('after_* points and before_vm_destroy only log failures; before_vm_destroy gets an empty file', async () => {
    const dir = join(root, 'destroy');
    const hooks = new VmHooks(new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent }), silent);
    const seen = join(root, 'destroy-size');
    await script(dir, 'before_vm_destroy', '1', `wc -c < "$_hook_domxml" > ${seen}; exit 2`);
    await script(dir, 'after_vm_destroy', '1', 'exit 2');
    const vm = { vmId: 'v', xml, domain: parseDomainXml(xml) };
    assert.equal(await hooks.run('before_vm_destroy', vm), xml);
    assert.equal((await readFile(seen, 'utf8')).trim(), '0');
    assert.equal(await hooks.run('after_vm_destroy', vm), xml);
  });

  void it('before_vm_migrate_source and before_vm_hibernate fail on exit 1', async () => {
    const dir = join(root, 'migrate');
    const hooks = new VmHooks(new HookRunner({ hooksDir: dir, timeoutMs: 10_000, log: silent }), silent);
    await script(dir, 'before_vm_migrate_source', '1', 'exit 1');
    await script(dir, 'before_vm_hibernate', '1', 'exit 1');
    await script(dir, 'after_vm_migrate_source', '1', 'exit 1');
    const vm = { vmId: 'v', xml };
    await assert.rejects(hooks.run('before_vm_migrate_source', vm), { vdsmCode: 78 });
    await assert.rejects(hooks.run('before_vm_hibernate', vm), { vdsmCode: 78 });
    assert.equal(await hooks.run('after_vm_migrate_source', vm), xml);
  });
});
