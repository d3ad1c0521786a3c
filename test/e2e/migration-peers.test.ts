// The migration contract between two real vdsmd programs on libvirt's test driver, with the engine
// played by the independent npm stompit client over TLS: the source agent pings the destination agent
// and calls VM.migrationCreate over its own STOMP client with the host certificate; the test driver
// cannot migrate (libvirt: "p2p migration is not supported"), so libvirt's failure drives vdsm's
// recovery path (destination VM destroyed, source back Up, error 12 in VM.getMigrationStatus). Also
// every vdsm error code of the contract that needs no hypervisor. The real-VM migration tier
// (test/realvm/migration-*.test.ts) shows the successful paths on QEMU.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDevPki } from '../../src/rpc/pki.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';

type Obj = Record<string, unknown>;

const domainXml = (vmId: string, name: string): string => `<domain type="test">
  <name>${name}</name>
  <uuid>${vmId}</uuid>
  <memory unit="KiB">524288</memory>
  <currentMemory unit="KiB">524288</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices><graphics type="vnc" port="5901" autoport="no" listen="127.0.0.1"/></devices>
</domain>`;

const VM_A = 'a9f1c0de-0000-4000-8000-0000000019a1';
const VM_B = 'a9f1c0de-0000-4000-8000-0000000019b2';

void describe('migration between two agents on the test driver (TLS, stompit as the engine)', { timeout: 120_000 }, () => {
  let pkiDir: string;
  let src: AgentProcess;
  let dst: AgentProcess;
  let engineSrc: EngineClient;
  let engineDst: EngineClient;
  let tls: { key: Buffer; cert: Buffer; ca: Buffer };

  before(async () => {
    // One CA for both hosts, as an engine deploys it: each agent trusts the other's host certificate.
    pkiDir = await mkdtemp(join(tmpdir(), 'vdsm-mig-pki-'));
    const pki = await ensureDevPki(pkiDir, { altNames: ['127.0.0.1'] });
    tls = { key: await readFile(pki.client.keyFile), cert: await readFile(pki.client.certFile), ca: await readFile(pki.client.caFile) };
    const args = [
      // devel.embedded off: the agents use the trust store given, not a development PKI of their own.
      '--set', 'vars.ssl=true', '--set', 'devel.embedded=false', '--set', `vars.trust_store_path=${pki.dir}`,
      '--set', 'vars.guest_wait_timeout=1', '--set', 'vars.migration_monitor_interval=1', '--set', 'vars.migration_retry_timeout=1',
      '--set', 'vars.max_incoming_migrations=1',
    ];
    [src, dst] = await Promise.all([AgentProcess.start({ args }), AgentProcess.start({ args })]);
    await Promise.all([src.whenReady(), dst.whenReady()]);
    [engineSrc, engineDst] = await Promise.all([EngineClient.connect({ port: src.port, tls }), EngineClient.connect({ port: dst.port, tls })]);
    for (const [engine, vmId, name] of [[engineSrc, VM_A, 'mig-a'], [engineSrc, VM_B, 'mig-b']] as const) {
      await engine.call('VM.create', { vmID: vmId, vmParams: { xml: domainXml(vmId, name) } });
      await engine.waitForEvent(isVmStatus(vmId, 'Up'), 20_000);
    }
  });

  after(async () => {
    engineSrc?.close();
    engineDst?.close();
    await Promise.all([src?.cleanup(), dst?.cleanup()]);
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
  });

  void it('answers the engine\'s calls on a VM that never migrated: status 0, cancel 47, change 81, unknown VM 1', async () => {
    const st = await engineSrc.call<Obj>('VM.getMigrationStatus', { vmID: VM_A });
    assert.deepEqual(st, { status: { code: 0, message: 'Migration in progress' }, progress: 0 });
    const cancel = await engineSrc.request('VM.migrateCancel', { vmID: VM_A });
    assert.equal(cancel.error?.code, 47);
    assert.equal(cancel.error?.message, 'Migration not in progress');
    const change = await engineSrc.request('VM.migrateChangeParams', { vmID: VM_A, params: { maxBandwidth: 10 } });
    assert.equal(change.error?.code, 81);
    const unknown = await engineSrc.request('VM.migrate', { vmID: 'a9f1c0de-0000-4000-8000-00000000dead', params: { dst: '127.0.0.1' } });
    assert.equal(unknown.error?.code, 1);
    const noDst = await engineSrc.request('VM.migrate', { vmID: VM_A, params: { method: 'online' } });
    assert.equal(noDst.error?.code, 91);
  });

  void it('VM.migrate with the engine\'s string booleans: Migration Source at once, migrationCreate over TLS, libvirt refuses, destination VM destroyed, back Up with 12', async () => {
    const mark = engineSrc.events().length;
    const reply = await engineSrc.request('VM.migrate', {
      vmID: VM_A,
      params: {
        vmId: VM_A, src: '127.0.0.1', dst: `127.0.0.1:${dst.port}`, method: 'online', tunneled: 'false', abortOnError: 'true',
        autoConverge: 'true', compressed: 'false', encrypted: false, consoleAddress: '127.0.0.1', enableGuestEvents: true,
        incomingLimit: 2, outgoingLimit: 2,
        convergenceSchedule: { init: [{ name: 'setDowntime', params: ['100'] }], stalling: [{ limit: 1, action: { name: 'setDowntime', params: ['150'] } }, { limit: -1, action: { name: 'abort', params: [] } }] },
      },
    });
    assert.equal(reply.result, true, JSON.stringify(reply.error));
    await eventAfter(engineSrc, mark, isVmStatus(VM_A, 'Migration Source'), 10_000);
    // The destination made the VM record (no libvirt call), then the source's recovery destroyed it.
    await dst.waitForLog((l) => l['msg'] === 'migration destination VM created' && l['vmId'] === VM_A, 20_000);
    await eventAfter(engineSrc, mark, isVmStatus(VM_A, 'Up'), 20_000);
    const st = await engineSrc.call<Obj>('VM.getMigrationStatus', { vmID: VM_A });
    assert.equal((st['status'] as Obj)['code'], 12, JSON.stringify(st));
    assert.equal((st['status'] as Obj)['message'], 'Fatal error during migration');
    const failed = await src.waitForLog((l) => l['msg'] === 'migration failed' && l['vmId'] === VM_A, 5_000);
    assert.match(String(failed['why']), /p2p migration is not supported/);
    const onDst = await engineDst.request('VM.getInfo', { vmID: VM_A });
    assert.equal(onDst.error?.code, 1, 'the destination forgot the VM');
    // The destination's slot is free again; its bound is the engine's incomingLimit (2), not the configured 1.
    const health = JSON.parse(await httpsGet(dst.port, '/health', tls)) as Obj;
    assert.deepEqual(((health['migrations'] as Obj)['slots'] as Obj)['incoming'], { bound: 2, taken: 0, waiting: 0 });
    const srcHealth = JSON.parse(await httpsGet(src.port, '/health', tls)) as Obj;
    const last = (((srcHealth['migrations'] as Obj)['outgoing'] as Obj[]).find((m) => m['vmId'] === VM_A))!;
    assert.equal(last['phase'], 'failed');
    assert.equal(last['lingering'], false);
  });

  void it('the destination: VM.migrationCreate makes a Migration Destination record (4 when it exists, 82 when no slot, 12 for a source that sent no incomingLimit)', async () => {
    const params = { vmId: VM_B, _srcDomXML: domainXml(VM_B, 'mig-b'), xml: domainXml(VM_B, 'mig-b'), elapsedTimeOffset: 42.5, guestFQDN: 'guest.example', username: 'alice' };
    const created = await engineDst.call<Obj>('VM.migrationCreate', { vmID: VM_B, params, incomingLimit: 1 });
    assert.equal(created['migrationPort'], 0);
    assert.equal((created['params'] as Obj)['status'], 'Migration Destination');
    const stats = (await engineDst.call<Obj[]>('VM.getStats', { vmID: VM_B }))[0]!;
    assert.equal(stats['status'], 'Migration Destination');
    assert.equal(stats['guestFQDN'], 'guest.example', 'guest info carried over');
    assert.equal(stats['username'], 'alice');
    assert.ok(Number(stats['elapsedTime']) >= 42, `elapsedTime counts from the source's start: ${String(stats['elapsedTime'])}`);
    const hs = await engineDst.call<Obj>('Host.getStats');
    assert.equal(Number(hs['incomingVmMigrations']), 1);
    const again = await engineDst.request('VM.migrationCreate', { vmID: VM_B, params, incomingLimit: 1 });
    assert.equal(again.error?.code, 4);
    const other = 'a9f1c0de-0000-4000-8000-0000000019c3';
    const otherParams = { ...params, vmId: other, _srcDomXML: domainXml(other, 'mig-c'), xml: domainXml(other, 'mig-c') };
    assert.equal((await engineDst.request('VM.migrationCreate', { vmID: other, params: otherParams, incomingLimit: 1 })).error?.code, 82);
    assert.equal((await engineDst.request('VM.migrationCreate', { vmID: other, params: otherParams })).error?.code, 12);
    await engineDst.call('VM.destroy', { vmID: VM_B });
    assert.ok(await engineDst.call<Obj>('VM.migrationCreate', { vmID: other, params: otherParams, incomingLimit: 1 }), 'the slot is free after VM.destroy');
    await engineDst.call('VM.destroy', { vmID: other });
  });

  void it('a busy destination (82) is asked again every migration_retry_timeout; VM.migrateCancel stops the waiting migration (47 "Migration canceled")', async () => {
    // Take the destination's only incoming slot.
    const blocker = 'a9f1c0de-0000-4000-8000-0000000019d4';
    await engineDst.call('VM.migrationCreate', { vmID: blocker, params: { _srcDomXML: domainXml(blocker, 'mig-d') }, incomingLimit: 1 });
    const mark = engineSrc.events().length;
    assert.equal(await engineSrc.call('VM.migrate', { vmID: VM_B, params: { dst: `127.0.0.1:${dst.port}`, incomingLimit: 1 } }), true);
    await eventAfter(engineSrc, mark, isVmStatus(VM_B, 'Migration Source'), 10_000);
    const again = await engineSrc.request('VM.migrate', { vmID: VM_B, params: { dst: `127.0.0.1:${dst.port}` } });
    assert.equal(again.error?.code, 51, 'no second migration of a migrating VM');
    await src.waitForLog((l) => l['msg'] === 'migration destination busy; trying again later' && l['vmId'] === VM_B, 10_000);
    const retried = await src.waitForLog((l) => l['msg'] === 'migration destination busy; trying again later' && l['vmId'] === VM_B && src.lines.filter((x) => x['msg'] === l['msg'] && x['vmId'] === VM_B).length >= 2, 10_000);
    assert.ok(retried);
    const during = await engineSrc.call<Obj>('VM.getMigrationStatus', { vmID: VM_B });
    assert.equal((during['status'] as Obj)['code'], 82, 'the destination\'s answer shows while the source waits');
    assert.equal(await engineSrc.call('VM.migrateCancel', { vmID: VM_B }), true);
    await eventAfter(engineSrc, mark, isVmStatus(VM_B, 'Up'), 10_000);
    const st = await engineSrc.call<Obj>('VM.getMigrationStatus', { vmID: VM_B });
    assert.deepEqual(st['status'], { code: 47, message: 'Migration canceled' });
    assert.equal((await engineDst.request('VM.getInfo', { vmID: VM_B })).error?.code, 1, 'never created on the destination');
    await engineDst.call('VM.destroy', { vmID: blocker });
  });

  void it('a destination agent that does not answer: migrateErr (12), VM back Up', async () => {
    const mark = engineSrc.events().length;
    // A port nobody listens on: the connection is refused.
    assert.equal(await engineSrc.call('VM.migrate', { vmID: VM_B, params: { dst: '127.0.0.1:1' } }), true);
    await eventAfter(engineSrc, mark, isVmStatus(VM_B, 'Up'), 20_000);
    const st = await engineSrc.call<Obj>('VM.getMigrationStatus', { vmID: VM_B });
    assert.equal((st['status'] as Obj)['code'], 12);
  });
});

/** The first event matching `pred` among those received after `mark` (events().length at the time). */
async function eventAfter(engine: EngineClient, mark: number, pred: (e: Obj) => boolean, timeoutMs: number): Promise<Obj> {
  return engine.waitForEvent(pred, timeoutMs, mark);
}

async function httpsGet(port: number, path: string, tls: { key: Buffer; cert: Buffer; ca: Buffer }): Promise<string> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ...tls, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
    }).on('error', reject);
  });
}
