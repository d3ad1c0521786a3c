// Host.getAllVmStats from reports serialised once per change (issue 17): the text a read returns is
// exactly JSON.stringify of the report built at that moment, the per-read fields (statusTime,
// elapsedTime, monitorResponse, the NICs' sampleTime) move with the clock, and a new sample, a status or
// pause change, new guest info or a new pid rebuild the VM's text; nothing else does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonTemplate, slotMarker } from '../../src/runtime/json-template.js';
import { buildVmStatsReport, reportTimes, type VmReportInput } from '../../src/virt/vm-report.js';
import { slotValues, VmReportCache } from '../../src/virt/vm-report-cache.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache, type BulkSample } from '../../src/virt/stats-cache.js';
import { VmStateMachine } from '../../src/virt/vm-state.js';
import { JsonPieces, RawJson, rawJsonArray, rawJsonArrayOf, rawJsonArrayOfSliced } from '../../src/runtime/raw-json.js';
import { domainXml, VM_UUID } from './domain-fixtures.js';
import { ManualTime } from '../support/manual-time.js';
import { BulkStatsView, encodeBulkStats } from '../../src/contracts/bulk-stats-codec.js';

function record(cpuTime: number): Record<string, number | string> {
  return {
    'cpu.time': cpuTime, 'cpu.user': cpuTime / 4, 'cpu.system': cpuTime / 4, 'vcpu.current': 2, 'balloon.current': 4194304,
    'net.count': 1, 'net.0.name': 'vnet0', 'net.0.rx.bytes': cpuTime / 1000, 'net.0.tx.bytes': 5, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
  };
}

/** A sample as the sampling worker sends it (one encoded buffer, opened), with another VM beside ours. */
function asBytes(rec: Record<string, number | string>): BulkStatsView {
  return new BulkStatsView(encodeBulkStats([{ uuid: '99999999-2222-4333-8444-555555555555', stats: record(1) }, { uuid: VM_UUID, stats: rec }]));
}

function setup(bytes = false): { time: ManualTime; vm: VmStateMachine; cache: StatsCache; owner: { guest: VmReportInput['guest']; pid: number }; input: () => VmReportInput } {
  const time = new ManualTime(100_000);
  const vm = new VmStateMachine(VM_UUID, { clock: time, timers: time });
  const cache = new StatsCache(time);
  cache.add(VM_UUID);
  vm.launched();
  vm.guestUp();
  cache.put(bytes ? asBytes(record(1.5e9)) : { [VM_UUID]: record(1.5e9) } satisfies BulkSample, cache.clock());
  time.advance(15_000);
  cache.put(bytes ? asBytes(record(3e9)) : { [VM_UUID]: record(3e9) }, cache.clock());
  const domain = parseDomainXml(domainXml());
  const owner = { guest: undefined as VmReportInput['guest'], pid: 4242 };
  const input = (): VmReportInput => ({ state: vm.describe(), domain, sample: cache.get(VM_UUID), clock: time, pid: owner.pid, guest: owner.guest, log: { warn: () => undefined, error: () => undefined } });
  return { time, vm, cache, owner, input };
}

/** What the cache must give: the report built now, serialised. */
const fresh = (input: VmReportInput): string => JSON.stringify(buildVmStatsReport(input));

void describe('VmReportCache', () => {
  void it('a read is byte for byte the report built at that moment; reads without a change reuse the text, the per-read fields still move', () => {
    const { time, input, owner } = setup();
    const c = new VmReportCache();
    assert.equal(c.json(owner, input()), fresh(input()));
    time.advance(1_234);
    const later = c.json(owner, input());
    assert.equal(later, fresh(input()));
    const parsed = JSON.parse(later) as Record<string, unknown>;
    assert.equal(parsed['statusTime'], String(2147483647 + Math.floor(time.now())));
    assert.equal((parsed['network'] as Record<string, Record<string, string>>)['vnet0']?.['sampleTime'], (time.now() / 1000).toFixed(6));
    assert.deepEqual(c.describe(), { builds: 1, reads: 2 });
    // The pieces form (what getAllVmStats sends) is the same text, from the same template.
    time.advance(777);
    const pieces = new JsonPieces();
    const now = input();
    assert.ok(c.readInto(owner, now.state, now.guest, slotValues(reportTimes(now)), pieces));
    assert.equal(RawJson.fromPieces(pieces).text, fresh(input()));
    assert.deepEqual(c.describe(), { builds: 1, reads: 3 });
  });

  void it('a new sample rebuilds the text (the new counters show)', () => {
    const { time, cache, input, owner } = setup();
    const c = new VmReportCache();
    const before = JSON.parse(c.json(owner, input())) as { network: Record<string, { rx: string }> };
    time.advance(15_000);
    cache.put({ [VM_UUID]: record(9e9) }, cache.clock());
    const after = c.json(owner, input());
    assert.equal(after, fresh(input()));
    assert.notEqual((JSON.parse(after) as typeof before).network['vnet0']!.rx, before.network['vnet0']!.rx);
    assert.equal(c.describe().builds, 2);
  });

  void it('a status change, a pause code, new guest info and a new pid rebuild the text', () => {
    const { vm, input, owner } = setup();
    const c = new VmReportCache();
    c.json(owner, input());
    vm.paused('EIO');
    let text = c.json(owner, input());
    assert.equal(text, fresh(input()));
    assert.equal((JSON.parse(text) as { status: string; pauseCode: string }).pauseCode, 'EIO');
    vm.resumed();
    assert.equal((JSON.parse(c.json(owner, input())) as { status: string }).status, 'Up');
    owner.guest = { username: 'alice', guestIPs: '10.0.0.7' };
    text = c.json(owner, input());
    assert.equal((JSON.parse(text) as { username: string }).username, 'alice');
    owner.pid = 777;
    assert.equal((JSON.parse(c.json(owner, input())) as { pid: string }).pid, '777');
    assert.equal(c.describe().builds, 5);
  });

  void it('refresh() after a new sample builds the text, so the next read only fills it in', () => {
    const { time, cache, input, owner } = setup();
    const c = new VmReportCache();
    c.refresh(owner, input());
    assert.equal(c.describe().builds, 1);
    time.advance(15_000);
    cache.put({ [VM_UUID]: record(7e9) }, cache.clock());
    c.refresh(owner, input());
    c.refresh(owner, input());
    assert.equal(c.describe().builds, 2);
    assert.equal(c.json(owner, input()), fresh(input()));
    assert.deepEqual(c.describe(), { builds: 2, reads: 1 });
  });

  void it('monitorResponse turns -1 when the sample gets old without a rebuild', () => {
    const { time, input, owner } = setup();
    const c = new VmReportCache();
    assert.equal((JSON.parse(c.json(owner, input())) as { monitorResponse: string }).monitorResponse, '0');
    time.advance(61_000);
    const text = c.json(owner, input());
    assert.equal((JSON.parse(text) as { monitorResponse: string }).monitorResponse, '-1');
    assert.equal(text, fresh(input()));
    assert.equal(c.describe().builds, 1);
  });

  void it('a Down VM reads its exit info with the current statusTime', () => {
    const { time, vm, input, owner } = setup();
    const c = new VmReportCache();
    c.json(owner, input());
    vm.markDown({ exitCode: 0, exitMessage: 'done', exitReason: 1 }, 'test');
    time.advance(500);
    const text = c.json(owner, input());
    assert.equal(text, fresh(input()));
    assert.equal((JSON.parse(text) as { status: string }).status, 'Down');
  });
});

void describe('VmReportCache with samples received as bytes (sampling.bulkStats transfers one buffer)', () => {
  void it('the report text from a decoded sample is byte for byte the one from the plain records', () => {
    const plain = setup();
    const bytes = setup(true);
    plain.time.advance(321);
    bytes.time.advance(321);
    const fromPlain = new VmReportCache().json(plain.owner, plain.input());
    const fromBytes = new VmReportCache().json(bytes.owner, bytes.input());
    assert.equal(fromBytes, fromPlain);
    assert.equal(fromBytes, fresh(plain.input()));
    // And through the pieces (what getAllVmStats sends), after a background refresh.
    const c = new VmReportCache();
    c.refresh(bytes.owner, bytes.input());
    const pieces = new JsonPieces();
    const now = bytes.input();
    assert.ok(c.readInto(bytes.owner, now.state, now.guest, slotValues(reportTimes(now)), pieces));
    assert.deepEqual(RawJson.fromPieces(pieces).encode('', ''), Buffer.from(fresh(plain.input())));
  });

  void it('the text is current while the samples are the same (records are not decoded to compare), rebuilt on a new one', () => {
    const { time, cache, input, owner } = setup(true);
    const c = new VmReportCache();
    c.refresh(owner, input());
    assert.ok(c.isCurrent(owner, input()), 'a new decode of the same sample is not a change');
    c.refresh(owner, input());
    assert.equal(c.describe().builds, 1);
    time.advance(15_000);
    cache.put(asBytes(record(9e9)), cache.clock());
    assert.equal(c.isCurrent(owner, input()), false);
    c.refresh(owner, input());
    assert.equal(c.describe().builds, 2);
    assert.equal(c.json(owner, input()), fresh(input()));
    assert.match(c.json(owner, input()), /"cpuUsage":"4500000000"/, 'the new counters show');
  });
});

void describe('JsonTemplate', () => {
  void it('a string from outside that looks like a marker is not a hole: the template is refused, not mis-filled', () => {
    // A guest agent could send any text, but not the process's random nonce; with it (here, to show the
    // check) the count of holes differs and the caller serialises plainly.
    const value = { a: slotMarker(0), guestName: slotMarker(0) };
    assert.equal(JsonTemplate.of(value, 1), undefined);
    const ok = JsonTemplate.of({ a: slotMarker(0), b: 'x\u0000slot-0\u0000', c: [slotMarker(1)] }, 2)!;
    assert.equal(ok.fill(['"1"', '2']), JSON.stringify({ a: '1', b: 'x\u0000slot-0\u0000', c: [2] }));
  });

  void it('RawJson splices as is and still stringifies to its value elsewhere', () => {
    const raw = rawJsonArray(['{"a":1}', '{"b":"2"}']);
    assert.ok(raw instanceof RawJson);
    assert.equal(raw.text, '[{"a":1},{"b":"2"}]');
    assert.equal(JSON.stringify({ result: raw }), '{"result":[{"a":1},{"b":"2"}]}');
  });

  void it('pieces (bytes encoded once per template, values per read) give the same text and bytes as fill()', () => {
    const t = JsonTemplate.of({ vmId: 'v\u00e9\u{1F600}', statusTime: slotMarker(0), nics: [{ sampleTime: slotMarker(1) }, { sampleTime: slotMarker(1) }], end: 'z' }, 3)!;
    const values = ['"123"', '"4.500000"'];
    const text = `[${t.fill(values)},${t.fill(['"9"', '"\u00fc"'])}]`;
    const raw = rawJsonArrayOf([values, ['"9"', '"\u00fc"']], (v, into) => t.fillInto(v, into));
    assert.equal(raw.text, text);
    assert.deepEqual(raw.encode('{"id":"\u00e9","result":', '}'), Buffer.from(`{"id":"\u00e9","result":${text}}`));
    assert.deepEqual(JSON.parse(JSON.stringify({ r: raw })), { r: JSON.parse(text) });
    const empty = rawJsonArrayOf([], () => assert.fail('no element'));
    assert.equal(empty.text, '[]');
    const p = new JsonPieces();
    p.text('"\u{1F600}\u00e9"');
    assert.equal(RawJson.fromPieces(p).text, '"\u{1F600}\u00e9"');
  });

  void it('a long list is built in slices: the loop is yielded to once 2 ms of work have run (the clock is read every 16 elements)', async () => {
    let clock = 0;
    let sinceYield = 0;
    let longest = 0;
    let yields = 0;
    const items = Array.from({ length: 1000 }, (_, i) => `{"i":${i}}`);
    const raw = await rawJsonArrayOfSliced(items, (item, into) => {
      clock += 0.5;
      sinceYield++;
      into.text(item);
    }, {
      now: () => clock,
      yieldToLoop: async () => {
        longest = Math.max(longest, sinceYield);
        sinceYield = 0;
        yields++;
      },
    });
    assert.equal(raw.text, `[${items.join(',')}]`);
    // Elements are counted in groups of 16 between clock readings: at most 16 of 0.5 ms each.
    assert.ok(longest > 0 && longest <= 16, `elements between yields: ${longest}`);
    assert.ok(yields >= 1000 / 16 - 1, `yields: ${yields}`);
  });
});
