// vdsm's hook scripts through the real vdsmd (libvirt's test driver in the agent process), as an engine
// sees them: before_vm_start's edited XML is what libvirt runs, its scripts get vmId and the VM's custom
// properties; a script exiting 2 fails the launch (Down with the script's message); a hung script is
// killed at [vars] hook_timeout while the agent keeps answering; VM.destroy runs before/after_vm_destroy;
// getCapabilities lists the scripts with vdsm's checksum. The scripts' data files are removed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { createServer, type Server } from 'node:net';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { fileAppears, writeHookScript } from '../support/hook-scripts.js';

const VM_OK = 'b0e1c0de-0000-4000-8000-00000000a001';
const VM_FAIL = 'b0e1c0de-0000-4000-8000-00000000a002';
const VM_HUNG = 'b0e1c0de-0000-4000-8000-00000000a003';
const VM_MIG = 'b0e1c0de-0000-4000-8000-00000000a004';
const VM_IN = 'b0e1c0de-0000-4000-8000-00000000a005';
const VM_PAUSE = 'b0e1c0de-0000-4000-8000-00000000a006';

function vmXml(uuid: string, name: string): string {
  return `<domain type="test"><name>${name}</name><uuid>${uuid}</uuid><memory unit="KiB">524288</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os><devices/>`
    + '<metadata><ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:custom><ovirt-vm:macspoof>true</ovirt-vm:macspoof></ovirt-vm:custom></ovirt-vm:vm></metadata></domain>';
}

async function health(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    }).on('error', reject);
  });
}

const hook = writeHookScript;

void describe('hook scripts through vdsmd', () => {
  let root: string;
  let hooksDir: string;
  let marks: string;
  let tmp: string;
  let agent: AgentProcess;
  let engine: EngineClient;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vdsm-hooks-e2e-'));
    hooksDir = join(root, 'hooks');
    marks = join(root, 'marks');
    tmp = join(root, 'tmp');
    await Promise.all([mkdir(hooksDir), mkdir(marks), mkdir(tmp)]);
    await hook(hooksDir, 'before_vdsm_start', '10_mark', `echo started > ${join(root, 'marks', 'vdsm-start')}`);
    await hook(hooksDir, 'after_vdsm_stop', '10_mark', `echo stopped > ${join(root, 'marks', 'vdsm-stop')}`);
    agent = await AgentProcess.start({
      args: ['--set', `vars.hooks_dir=${hooksDir}`, '--set', 'vars.hook_timeout=1', '--set', 'vars.guest_wait_timeout=0'],
      env: { TMPDIR: tmp },
    });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
  });
  after(async () => {
    engine?.close();
    await agent?.stop();  // already stopped by the last case when it ran
    await rm(root, { recursive: true, force: true });
  });

  void it('before_vdsm_start ran before the agent served', async () => {
    assert.equal((await readFile(join(marks, 'vdsm-start'), 'utf8')).trim(), 'started');
    await assert.rejects(access(join(marks, 'vdsm-stop')), { code: 'ENOENT' });
  });

  void it('before_vm_start edits the XML libvirt starts and sees vmId and the custom properties; after_vm_start and the destroy hooks run', async () => {
    const checksum = createHash('sha256').update(await readFile(await hook(hooksDir, 'before_vm_start', '10_edit',
      `[ "$vmId" = "${VM_OK}" ] || exit 0\necho "$vmId $macspoof" > ${marks}/start-env\nsed -i 's|<devices/>|<devices/><description>set-by-hook</description>|' "$_hook_domxml"`))).digest('hex');
    // A script written for vdsm: Python with vdsm's `hooking` helpers (the agent puts ours on PYTHONPATH).
    const python = await hook(hooksDir, 'before_vm_start', '15_python', '');
    await writeFile(python, [
      '#!/usr/bin/env python3', 'import os', 'import hooking',
      `if os.environ.get('vmId') == '${VM_OK}' and hooking.tobool(os.environ.get('macspoof')):`,
      '    dom = hooking.read_domxml()',
      "    title = dom.createElement('title')",
      "    title.appendChild(dom.createTextNode('python-hook'))",
      "    dom.getElementsByTagName('domain')[0].appendChild(title)",
      '    hooking.write_domxml(dom)', '',
    ].join('\n'));
    await hook(hooksDir, 'after_vm_start', '10_mark', `[ "$vmId" = "${VM_OK}" ] && echo "$vmId" > ${marks}/after-start`);
    await hook(hooksDir, 'before_vm_destroy', '10_mark', `[ "$vmId" = "${VM_OK}" ] && echo before >> ${marks}/destroy`);
    await hook(hooksDir, 'after_vm_destroy', '10_mark', `[ "$vmId" = "${VM_OK}" ] && echo after >> ${marks}/destroy`);

    const caps = await engine.call<Record<string, unknown>>('Host.getCapabilities');
    assert.deepEqual((caps['hooks'] as Record<string, Record<string, unknown>>)['before_vm_start']!['10_edit'], { checksum });

    await engine.call('VM.create', { vmID: VM_OK, vmParams: { xml: vmXml(VM_OK, 'hooked') } });
    await engine.waitForEvent(isVmStatus(VM_OK, 'Up'));
    assert.equal((await readFile(join(marks, 'start-env'), 'utf8')).trim(), `${VM_OK} true`);
    const xmls = await engine.call<Record<string, string>>('Host.dumpxmls', { vmList: [VM_OK] });
    assert.match(xmls[VM_OK]!, /<description>set-by-hook<\/description>/, 'libvirt runs the XML the hook edited');
    assert.match(xmls[VM_OK]!, /<title>python-hook<\/title>/, 'and what the Python hook added after it');
    await fileAppears(join(marks, 'after-start'));

    await engine.call('VM.destroy', { vmID: VM_OK });
    assert.deepEqual((await readFile(join(marks, 'destroy'), 'utf8')).trim().split('\n'), ['before', 'after']);
    assert.deepEqual((await readdir(tmp)).filter((n) => n.startsWith('vdsm-hook-')), [], 'every data file was removed');
  });

  void it('a before_vm_start script exiting 2 fails the launch: the VM goes Down with its message and the later scripts do not run', async () => {
    await hook(hooksDir, 'before_vm_start', '20_refuse', `[ "$vmId" = "${VM_FAIL}" ] || exit 0\necho "refused by policy" >&2\nexit 2`);
    await hook(hooksDir, 'before_vm_start', '30_after_refusal', `[ "$vmId" = "${VM_FAIL}" ] && touch ${marks}/ran-after-2; exit 0`);
    await engine.call('VM.create', { vmID: VM_FAIL, vmParams: { xml: vmXml(VM_FAIL, 'refused') } });
    const down = await engine.waitForEvent(isVmStatus(VM_FAIL, 'Down'));
    const report = (down['params'] as Record<string, Record<string, unknown>>)[VM_FAIL]!;
    assert.match(String(report['exitMessage']), /refused by policy/);
    assert.equal(report['exitCode'], 1);
    await assert.rejects(access(join(marks, 'ran-after-2')), { code: 'ENOENT' }, 'exit 2 stops the remaining scripts');
    await engine.call('VM.destroy', { vmID: VM_FAIL });
  });

  void it('a hung before_vm_start script is killed at hook_timeout; the agent answers meanwhile', async () => {
    const started = join(marks, 'hung-started');
    await hook(hooksDir, 'before_vm_start', '40_hang', `[ "$vmId" = "${VM_HUNG}" ] || exit 0\ntouch ${started}\nexec sleep 1000`);
    await engine.call('VM.create', { vmID: VM_HUNG, vmParams: { xml: vmXml(VM_HUNG, 'hung') } });
    await fileAppears(started);
    // The script is asleep now: the agent still answers.
    const ping = await engine.request('Host.ping2');
    assert.equal(ping.error, undefined);
    const down = await engine.waitForEvent(isVmStatus(VM_HUNG, 'Down'));
    assert.match(String((down['params'] as Record<string, Record<string, unknown>>)[VM_HUNG]!['exitMessage']), /time limit/);
    const hooksHealth = (await health(agent.port))['hooks'] as Record<string, unknown>;
    assert.ok(Number(hooksHealth['killed']) >= 1, '/health counts the killed script');
    await engine.call('VM.destroy', { vmID: VM_HUNG });
  });
  void it('before_vm_migrate_destination failing (exit 1) refuses VM.migrationCreate with hookError 78 and no VM is made', async () => {
    await hook(hooksDir, 'before_vm_migrate_destination', '10_refuse', `[ "$vmId" = "${VM_IN}" ] || exit 0\necho "no room for $vmId" >&2\nexit 1`);
    const xml = vmXml(VM_IN, 'incoming');
    const r = await engine.request('VM.migrationCreate', { vmID: VM_IN, params: { _srcDomXML: xml, xml, vmId: VM_IN }, incomingLimit: 2 });
    assert.equal(r.error?.code, 78);
    assert.match(String(r.error?.message), new RegExp(`no room for ${VM_IN}`));
    assert.equal((await engine.request('VM.getStats', { vmID: VM_IN })).error?.code, 1, 'no record of the refused VM');
  });

  void it('before_vm_migrate_source failing (exit 1) fails VM.migrate before the destination is contacted; exit 0 lets it go on', async () => {
    const connections: number[] = [];
    let connected!: () => void;
    const firstConnection = new Promise<void>((r) => (connected = r));
    const server: Server = createServer((sock) => { connections.push(1); connected(); sock.destroy(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const flag = join(marks, 'refuse-migration');
      await writeFile(flag, '');
      await hook(hooksDir, 'before_vm_migrate_source', '10_gate', `[ "$vmId" = "${VM_MIG}" ] || exit 0\nif [ -e ${flag} ]; then echo "migration refused" >&2; exit 1; fi\nexit 0`);
      await engine.call('VM.create', { vmID: VM_MIG, vmParams: { xml: vmXml(VM_MIG, 'migrating') } });
      await engine.waitForEvent(isVmStatus(VM_MIG, 'Up'));
      let from = engine.events().length;
      assert.equal(await engine.call('VM.migrate', { vmID: VM_MIG, params: { dst: `127.0.0.1:${port}`, method: 'online' } }), true);
      await engine.waitForEvent(isVmStatus(VM_MIG, 'Up'), 15_000, from);
      assert.equal(connections.length, 0, 'the destination never heard of the migration');
      // Control: the same migration with the script answering 0 reaches the destination.
      await rm(flag);
      from = engine.events().length;
      assert.equal(await engine.call('VM.migrate', { vmID: VM_MIG, params: { dst: `127.0.0.1:${port}`, method: 'online' } }), true);
      await firstConnection;
      await engine.waitForEvent(isVmStatus(VM_MIG, 'Up'), 15_000, from);
    } finally {
      server.close();
    }
    await engine.call('VM.destroy', { vmID: VM_MIG });
  });
  void it('VM.pause and VM.cont run before/after_vm_pause and _cont; a failed before script refuses the verb with 78', async () => {
    const flag = join(marks, 'refuse-pause');
    await writeFile(flag, '');
    await hook(hooksDir, 'before_vm_pause', '10', `[ "$vmId" = "${VM_PAUSE}" ] || exit 0\n[ -e ${flag} ] && { echo "not now" >&2; exit 1; }\necho before_pause >> ${marks}/pause`);
    await hook(hooksDir, 'after_vm_pause', '10', `[ "$vmId" = "${VM_PAUSE}" ] && echo after_pause >> ${marks}/pause`);
    await hook(hooksDir, 'before_vm_cont', '10', `[ "$vmId" = "${VM_PAUSE}" ] && echo before_cont >> ${marks}/pause`);
    await hook(hooksDir, 'after_vm_cont', '10', `[ "$vmId" = "${VM_PAUSE}" ] && echo after_cont >> ${marks}/pause`);
    await engine.call('VM.create', { vmID: VM_PAUSE, vmParams: { xml: vmXml(VM_PAUSE, 'pausing') } });
    await engine.waitForEvent(isVmStatus(VM_PAUSE, 'Up'));
    const refused = await engine.request('VM.pause', { vmID: VM_PAUSE });
    assert.equal(refused.error?.code, 78);
    assert.match(String(refused.error?.message), /not now/);
    const stats = await engine.call<Record<string, unknown>[]>('VM.getStats', { vmID: VM_PAUSE });
    assert.equal(stats[0]?.['status'], 'Up', 'the refused pause left the VM running');
    await rm(flag);
    await engine.call('VM.pause', { vmID: VM_PAUSE });
    await engine.call('VM.cont', { vmID: VM_PAUSE });
    assert.deepEqual((await readFile(join(marks, 'pause'), 'utf8')).trim().split('\n'), ['before_pause', 'after_pause', 'before_cont', 'after_cont']);
    await engine.call('VM.destroy', { vmID: VM_PAUSE });
  });

  void it('after_get_caps edits what Host.getCapabilities answers; a failed before_get_caps fails it with 78', async () => {
    const py = await hook(hooksDir, 'after_get_caps', '10_tag', '');
    await writeFile(py, ['#!/usr/bin/env python3', 'import hooking', 'caps = hooking.read_json()', "caps['hookTag'] = 'from-after-get-caps:' + caps['kvmEnabled']", 'hooking.write_json(caps)', ''].join('\n'));
    const caps = await engine.call<Record<string, unknown>>('Host.getCapabilities');
    assert.equal(caps['hookTag'], `from-after-get-caps:${String(caps['kvmEnabled'])}`);
    const gate = await hook(hooksDir, 'before_get_caps', '10_gate', 'grep -qx "{}" "$_hook_json" && echo "caps are closed" >&2; exit 1');
    const refused = await engine.request('Host.getCapabilities');
    assert.equal(refused.error?.code, 78);
    assert.match(String(refused.error?.message), /caps are closed/);
    await rm(gate);
    await rm(py);
    assert.equal((await engine.call<Record<string, unknown>>('Host.getCapabilities'))['hookTag'], undefined);
  });

  void it('after_vdsm_stop runs when the agent stops', async () => {
    engine.close();
    await agent.stop();
    assert.equal((await readFile(join(marks, 'vdsm-stop'), 'utf8')).trim(), 'stopped');
  });
});
