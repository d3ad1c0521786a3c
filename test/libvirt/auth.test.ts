// SASL login as vdsm does it (SCRAM-SHA-256, user vdsm@ovirt) against an unprivileged libvirtd with a
// private sasldb: the binding answers libvirt's AUTHNAME / PASSPHRASE prompts from open() arguments and
// never prompts otherwise; the ConnectionManager passes its configured credentials.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadVirtBinding } from '../../src/libvirt/binding.js';
import { ConnectionManager } from '../../src/libvirt/connection-manager.js';
import { saslUnavailable, TestLibvirtd } from './helpers/libvirtd.js';

const LOGIN = { user: 'vdsm@ovirt', password: 'shibboleth' };
const skip = saslUnavailable();

void describe('libvirt SASL authentication', { skip: skip ?? false }, () => {
  let daemon: TestLibvirtd;
  const virt = loadVirtBinding();

  before(async () => {
    daemon = await TestLibvirtd.create({ domains: 2 }, { sasl: LOGIN });
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
  });

  void it('refuses no or wrong credentials with ERR_LIBVIRT_AUTH_FAILED (45) and accepts the right ones', () => {
    const authFailed = (err: any): boolean => err.code === 'ERR_LIBVIRT_AUTH_FAILED' && err.virCode === 45;
    assert.throws(() => virt.open(daemon.uri), authFailed);
    assert.throws(() => virt.open(daemon.uri, { authName: LOGIN.user, passphrase: 'wrong' }), authFailed);
    const conn = virt.open(daemon.uri, { authName: LOGIN.user, passphrase: LOGIN.password });
    try {
      assert.equal(virt.listAllDomains(conn).length, 2);
    } finally {
      virt.close(conn);
    }
    const ro = virt.open(daemon.uri, { authName: LOGIN.user, passphrase: LOGIN.password, readOnly: true });
    try {
      assert.equal(virt.connectionInfo(ro).readOnly, true);
      const [first] = virt.listAllDomains(ro);
      assert.throws(() => virt.suspend(ro, first!.uuid), (err: any) => {
        assert.equal(err.code, 'ERR_LIBVIRT_OPERATION_DENIED', err.message);
        return true;
      });
    } finally {
      virt.close(ro);
    }
  });

  void it('the ConnectionManager logs in with its configured credentials', async () => {
    const manager = new ConnectionManager({ uri: daemon.uri, authName: LOGIN.user, passphrase: LOGIN.password, startTimeoutMs: 15_000 });
    try {
      await manager.start();
      assert.equal(manager.state, 'connected');
    } finally {
      await manager.close();
    }
  });
});
