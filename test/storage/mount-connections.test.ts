// What a mount connection (NFS, POSIXFS, GLUSTERFS) asks supervdsm to mount, from the engine's
// connection parameters: spec, mount point below <repo>/mnt, file system type and options.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vdsmCodeOf as code } from './storage-harness.js';
import { RepoLayout } from '../../src/contracts/storage-layout.js';
import { mountRequest, mountTarget } from '../../src/storage/mount-connections.js';

const layout = new RepoLayout('/rhev/data-center');
const NFS_DEFAULTS = 'soft,nosharecache';


void describe('mount connections', () => {
  void it('NFS: the engine\'s connection with vdsm\'s defaults (timeo 600, retrans 6) after [irs] nfs_mount_options', () => {
    const r = mountRequest(1, { id: 'c1', connection: 'filer:/exports/data_1', port: '', iqn: '', user: '', password: '', ipv6_enabled: 'false' }, layout, NFS_DEFAULTS);
    assert.deepEqual(r, { spec: 'filer:/exports/data_1', target: '/rhev/data-center/mnt/filer:_exports_data__1', vfstype: 'nfs', options: 'soft,nosharecache,timeo=600,retrans=6' });
  });

  void it('NFS: protocol_version, timeout, retrans and mnt_options from the engine (as strings), the connection\'s own first', () => {
    const r = mountRequest(1, { connection: 'filer:/e', protocol_version: '4.2', timeout: '100', retrans: 3, mnt_options: 'soft,rsize=65536' }, layout, 'hard,nosharecache');
    assert.equal(r.options, 'soft,rsize=65536,vers=4.2,nosharecache,timeo=100,retrans=3');
    assert.equal(mountRequest(1, { connection: 'filer:/e', protocol_version: 'auto' }, layout, NFS_DEFAULTS).options, 'soft,nosharecache,timeo=600,retrans=6');
  });

  void it('POSIXFS takes vfs_type and mnt_options; GLUSTERFS mounts below mnt/glusterSD', () => {
    assert.deepEqual(mountRequest(6, { connection: 'cephmon:/vol', vfs_type: 'ceph', mnt_options: 'name=admin' }, layout, NFS_DEFAULTS), {
      spec: 'cephmon:/vol', target: '/rhev/data-center/mnt/cephmon:_vol', vfstype: 'ceph', options: 'name=admin',
    });
    assert.deepEqual(mountRequest(7, { connection: 'gluster1:/vol_a', vfs_type: 'glusterfs' }, layout, NFS_DEFAULTS), {
      spec: 'gluster1:/vol_a', target: '/rhev/data-center/mnt/glusterSD/gluster1:_vol__a', vfstype: 'glusterfs', options: '',
    });
    assert.equal(mountTarget(7, 'g:/v', layout), '/rhev/data-center/mnt/glusterSD/g:_v');
    assert.equal(mountTarget(1, 'g:/v', layout), '/rhev/data-center/mnt/g:_v');
  });

  void it('bad connections get vdsm\'s errors: no spec, no vfs_type, a bad NFS version or timeout (1000), another type (451)', () => {
    assert.equal(code(() => mountRequest(1, { connection: '' }, layout, NFS_DEFAULTS)), 1000);
    assert.equal(code(() => mountRequest(6, { connection: 'x:/y' }, layout, NFS_DEFAULTS)), 1000);
    assert.equal(code(() => mountRequest(1, { connection: 'x:/y', protocol_version: '4;rm' }, layout, NFS_DEFAULTS)), 1000);
    assert.equal(code(() => mountRequest(1, { connection: 'x:/y', timeout: '0' }, layout, NFS_DEFAULTS)), 1000);
    assert.equal(code(() => mountRequest(1, { connection: { a: 1 } }, layout, NFS_DEFAULTS)), 1000);
    assert.equal(code(() => mountRequest(3, { connection: 'iqn' }, layout, NFS_DEFAULTS)), 451);
  });
});
