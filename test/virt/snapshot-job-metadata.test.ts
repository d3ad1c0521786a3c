// The snapshot job's record in the ovirt-vm metadata (src/virt/snapshot-job-metadata.ts): written into
// the element libvirt gives back (with its prefix), read again, replaced, removed; hostile text escaped;
// what is not a job a restarted agent can resume is reported, not thrown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { snapshotJobOf, withSnapshotJob, type SnapshotJobRecord } from '../../src/virt/snapshot-job-metadata.js';

const record: SnapshotJobRecord = {
  jobUUID: 'job-1', startTime: 12.5, timeout: 1800, freezeTimeout: 480, abort: false, completed: false, frozen: false, freeze: true, memoryParams: null,
  newDrives: [{ name: 'vda', poolID: 'p', domainID: 'd', imageID: 'i', baseVolumeID: 'b', volumeID: 'v', path: '/a</ovirt-vm:snapshot_job>&"\'' }], memoryVolPath: null,
};
const domain = (md: string): string => `<domain><name>g</name><metadata>${md}</metadata><devices/></domain>`;
const EMPTY = '<ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:device name="vda" devtype="disk"><ovirt-vm:volumeID>b</ovirt-vm:volumeID></ovirt-vm:device></ovirt-vm:vm>';
/** A fragment as libvirt stores it under the ovirt-vm key and gives it back. */
const stored = (fragment: string): string => fragment.replace(/<(\/?)([\w.-]+)/g, '<$1ovirt-vm:$2').replace(/^<ovirt-vm:vm/, '<ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"');

void describe('snapshot job metadata', () => {
  void it('written beside the devices, read back equal (hostile text escaped), replaced, then removed', () => {
    const written = withSnapshotJob(domain(EMPTY), record)!;
    assert.match(written, /^<vm><device name="vda" devtype="disk"><volumeID>b<\/volumeID><\/device><snapshot_job>\{/);
    assert.doesNotMatch(written, /<\/ovirt-vm:snapshot_job>&/, 'the path cannot close the element');
    const xml = domain(stored(written));
    assert.deepEqual(snapshotJobOf(xml), { record });
    const next = withSnapshotJob(xml, { ...record, completed: true })!;
    assert.equal((next.match(/<snapshot_job>/g) ?? []).length, 1, 'replaced, not added');
    assert.equal((snapshotJobOf(domain(stored(next))) as { record: SnapshotJobRecord }).record.completed, true);
    const removed = withSnapshotJob(domain(stored(next)), undefined)!;
    assert.equal(removed, '<vm><device name="vda" devtype="disk"><volumeID>b</volumeID></device></vm>');
    assert.equal(snapshotJobOf(domain(stored(removed))), undefined);
    assert.equal(withSnapshotJob(domain(stored(removed)), undefined), undefined, 'nothing to remove');
  });

  void it('a domain without ovirt-vm metadata gets an element holding only the job', () => {
    assert.match(withSnapshotJob(domain(''), record)!, /^<vm><snapshot_job>\{&quot;jobUUID&quot;:&quot;job-1&quot;/);
    assert.equal(snapshotJobOf(domain('')), undefined);
  });

  void it('what a restarted agent cannot resume is reported: not JSON, not an object, no jobUUID, bad numbers or drives', () => {
    const with_ = (text: string): string => domain(EMPTY.replace('</ovirt-vm:vm>', `<ovirt-vm:snapshot_job>${text}</ovirt-vm:snapshot_job></ovirt-vm:vm>`));
    assert.match((snapshotJobOf(with_('{oops')) as { error: string }).error, /^not JSON/);
    assert.deepEqual(snapshotJobOf(with_('[1]')), { error: 'not an object' });
    assert.deepEqual(snapshotJobOf(with_('{"startTime":1}')), { error: 'no jobUUID' });
    assert.deepEqual(snapshotJobOf(with_('{"jobUUID":"j","startTime":"x","timeout":1,"freezeTimeout":1}')), { error: 'startTime is not a number' });
    assert.deepEqual(snapshotJobOf(with_('{"jobUUID":"j","startTime":1,"timeout":1,"freezeTimeout":1,"newDrives":[{"name":1}]}')), { error: 'a newDrives entry is malformed' });
    assert.equal(snapshotJobOf(with_('{}')), undefined, 'vdsm\'s empty record: no job');
    assert.equal(snapshotJobOf(with_('')), undefined);
  });
});
