// The SLA policy in the domain metadata (src/virt/vm-qos.ts): what VM.updateVmPolicy writes reads back
// the same, values the engine sends stay inside their elements and attributes, merges go by disk name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeIoTune, parseQos, qosXml, VM_TUNE_URI } from '../../src/virt/vm-qos.js';

const HOSTILE = `a'b"c<d>e&f`;

void describe('VM SLA policy metadata', () => {
  void it('round-trips vcpuLimit and per-disk maximum / guaranteed limits, as written and as libvirt shows it namespaced', () => {
    const q = { vcpuLimit: '50', ioTune: [{ name: 'vda', path: `/p/${HOSTILE}`, maximum: { total_bytes_sec: 1000, read_iops_sec: 10 }, guaranteed: { total_bytes_sec: 100 } }] };
    const xml = qosXml(q);
    assert.match(xml, /^<qos><vcpuLimit>50<\/vcpuLimit><ioTune><device name="vda" path="\/p\/a&apos;b&quot;c&lt;d&gt;e&amp;f">/);
    assert.deepEqual(parseQos(xml), q);
    // Inside a domain's metadata, as libvirt's live XML carries it (the root in libvirt's namespace).
    const live = xml.replace('<qos>', `<ovirt-tune:qos xmlns:ovirt-tune="${VM_TUNE_URI}">`).replace('</qos>', '</ovirt-tune:qos>');
    assert.deepEqual(parseQos(`<domain><uuid>x</uuid><metadata>${live}</metadata></domain>`), q);
    // libvirt's (and vdsm's) form: every element prefixed.
    const prefixed = live.replace(/<(\/?)(?!ovirt-tune:)([a-zA-Z_]+)/g, '<$1ovirt-tune:$2');
    assert.match(prefixed, /<ovirt-tune:device name=/);
    assert.deepEqual(parseQos(`<domain><metadata>${prefixed}</metadata></domain>`), q);
  });

  void it('nothing kept: no limit and no disks; unknown keys and bad numbers are dropped when read', () => {
    assert.deepEqual(parseQos(null), { ioTune: [] });
    assert.deepEqual(parseQos('<domain><metadata/></domain>'), { ioTune: [] });
    assert.deepEqual(parseQos('<qos><ioTune><device name="vda" path=""><maximum><total_bytes_sec>-1</total_bytes_sec><x>1</x><read_bytes_sec>5</read_bytes_sec></maximum></device></ioTune></qos>').ioTune, [{ name: 'vda', path: '', maximum: { read_bytes_sec: 5 }, guaranteed: {} }]);
  });

  void it('an update replaces the entry of its disk and keeps the others', () => {
    const a = { name: 'vda', path: '/a', maximum: { total_bytes_sec: 1 }, guaranteed: {} };
    const b = { name: 'vdb', path: '/b', maximum: {}, guaranteed: {} };
    const a2 = { ...a, maximum: { write_bytes_sec: 2 } };
    assert.deepEqual(mergeIoTune([a, b], [a2]), [b, a2]);
  });
});
