// The engine's secrets checked and turned into libvirt XML as vdsm does (src/services/libvirt-secrets.ts).
// What libvirt does with them: test/realvm/secrets-real-vm.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalUuid, secretSpec, secretXml } from '../../src/services/libvirt-secrets.js';

const U = '3e0c2f5a-1b1d-4c7e-9a55-0d5e6f7a8b91';

function code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { vdsmCode?: number; spec?: { vdsmCode: number } }).vdsmCode ?? (err as { spec?: { vdsmCode: number } }).spec?.vdsmCode;
  }
  return undefined;
}

void describe('libvirt secrets from the engine', () => {
  void it('uuids in the forms Python takes become canonical; others are refused', () => {
    for (const u of [U, U.toUpperCase(), `{${U}}`, `urn:uuid:${U}`, U.replace(/-/g, '')]) assert.equal(canonicalUuid(u), U, u);
    for (const u of ['', 'x', `${U}0`, 42, null]) assert.equal(canonicalUuid(u), undefined, String(u));
  });

  void it('a good secret: decoded value, canonical uuid, escaped XML without the value', () => {
    const s = secretSpec({ uuid: U.toUpperCase(), usageType: 'iscsi', usageID: 'ovirt/<x>&', password: Buffer.from('chap-secret').toString('base64'), description: 'a & b' });
    assert.equal(Buffer.from(s.value).toString(), 'chap-secret');
    assert.equal(s.uuid, U);
    const xml = secretXml(s);
    assert.equal(xml, `<secret ephemeral="yes" private="yes"><description>a &amp; b</description><uuid>${U}</uuid><usage type="iscsi"><target>ovirt/&lt;x&gt;&amp;</target></usage></secret>`);
    assert.doesNotMatch(xml, /chap-secret|Y2hhcC1zZWNyZXQ/);
    assert.match(secretXml(secretSpec({ uuid: U, usageType: 'ceph', usageID: 'ovirt/1', password: '' })), /<usage type="ceph"><name>ovirt\/1<\/name><\/usage>/);
    assert.match(secretXml(secretSpec({ uuid: U, usageType: 'volume', usageID: '/img', password: '' })), /<usage type="volume"><volume>\/img<\/volume><\/usage>/);
  });

  void it('error 72 for a missing property, a bad uuid, usage type or base64 value, naming the problem but never the value', () => {
    const good = { uuid: U, usageType: 'ceph', usageID: 'ovirt/1', password: 'c2VjcmV0' };
    for (const k of Object.keys(good)) {
      const p: Record<string, unknown> = { ...good };
      delete p[k];
      assert.equal(code(() => secretSpec(p)), 72, k);
    }
    assert.equal(code(() => secretSpec({ ...good, uuid: 'nope' })), 72);
    assert.equal(code(() => secretSpec({ ...good, usageType: 'tls' })), 72);
    assert.equal(code(() => secretSpec({ ...good, password: 'abc' })), 72);
    assert.equal(code(() => secretSpec({ ...good, password: 'c2Vj!mV0' })), 72);
    assert.equal(code(() => secretSpec('str')), 72);
    try {
      secretSpec({ ...good, password: 'sekret-not-b64!' });
    } catch (err) {
      assert.doesNotMatch((err as Error).message, /sekret/);
    }
  });
});
