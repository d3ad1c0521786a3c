// vdsm's on-disk formats and the engine's parameter types: domain metadata with its SHA-1 seal, volume
// .meta files, the mnt/ path mangling, and the conversions the HSM applies to what the engine sends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vdsmCodeOf as code } from './storage-harness.js';
import { decodeDomainMap, encodeDomainMap, formatSdMetadata, MetadataSealBrokenError, parseSdMetadata } from '../../src/contracts/sd-metadata.js';
import { DomainLayout, RepoLayout, isCleanAbsolutePath, transformPath } from '../../src/contracts/storage-layout.js';
import { clampDescription, formatVolumeMetadata, nextGeneration, parseVolumeMetadata, VolumeMetadataError, type VolumeMetadata } from '../../src/contracts/volume-metadata.js';
import { boolParam, domainClassParam, domainTypeParam, intParam, preallocParam, sizeParam, uuidParam, volFormatParam } from '../../src/storage/params.js';

const SD = '3a7d4a54-9fc0-4f55-9b0a-1fe1b7d5a6c1';


void describe('domain metadata (dom_md/metadata)', () => {
  const md = { VERSION: '5', TYPE: 'LOCALFS', SDUUID: SD, CLASS: 'Data', DESCRIPTION: 'café' };

  void it('writes sorted KEY=VALUE lines and a SHA-1 seal over them, non-ASCII as XML references', () => {
    // hashlib.sha1 over "CLASS=Data", "DESCRIPTION=caf&#233;", ... encoded ascii/xmlcharrefreplace,
    // computed with Python as vdsm's persistent.py does.
    assert.equal(formatSdMetadata(md), [
      'CLASS=Data', 'DESCRIPTION=café', `SDUUID=${SD}`, 'TYPE=LOCALFS', 'VERSION=5',
      '_SHA_CKSUM=d37e418bad162a27f67ab6a9e3f983d9d6cac0ae', '',
    ].join('\n'));
    assert.deepEqual(parseSdMetadata(formatSdMetadata(md)), md);
  });

  void it('refuses a broken seal and trusts a file without one', () => {
    const tampered = formatSdMetadata(md).replace('VERSION=5', 'VERSION=4');
    assert.throws(() => parseSdMetadata(tampered), MetadataSealBrokenError);
    assert.deepEqual(parseSdMetadata('CLASS=Data\nVERSION=3\n'), { CLASS: 'Data', VERSION: '3' });
    assert.deepEqual(parseSdMetadata(''), {});
  });

  void it('encodes POOL_DOMAINS as vdsm does (sd:Status,sd:Status)', () => {
    const map = { [SD]: 'Active', '11111111-2222-3333-4444-555555555555': 'Attached' };
    const text = encodeDomainMap(map);
    assert.equal(text, `${SD}:Active,11111111-2222-3333-4444-555555555555:Attached`);
    assert.deepEqual(decodeDomainMap(text), map);
    assert.deepEqual(decodeDomainMap(''), {});
  });
});

void describe('volume metadata (<vol>.meta)', () => {
  const vol: VolumeMetadata = {
    domain: SD, image: 'aaaaaaaa-0000-0000-0000-000000000001', parent: '00000000-0000-0000-0000-000000000000',
    capacity: 1073741824, format: 'COW', type: 'SPARSE', voltype: 'LEAF', disktype: 'DATA',
    description: '{"DiskAlias":"d1"}', legality: 'LEGAL', ctime: 1700000000, generation: 0, sequence: 1,
  };

  void it('v5: sorted keys, CAP in bytes and SEQ, ending with EOF; parses back', () => {
    const text = formatVolumeMetadata(vol, 5);
    const keys = text.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=')[0]!);
    assert.deepEqual(keys, [...keys].sort());
    assert.ok(text.includes('CAP=1073741824\n') && text.includes('SEQ=1\n') && !text.includes('SIZE='));
    assert.ok(text.endsWith('EOF\n'));
    assert.deepEqual(parseVolumeMetadata(text), { md: vol, errors: [] });
  });

  void it('v4: SIZE in 512-byte blocks and MTIME=0; read back as bytes', () => {
    const text = formatVolumeMetadata(vol, 4);
    assert.ok(text.includes('SIZE=2097152\n') && text.includes('MTIME=0\n') && !text.includes('CAP='));
    assert.equal(parseVolumeMetadata(text).md?.capacity, vol.capacity);
  });

  void it('names what is missing or malformed, and refuses metadata past one 512-byte block', () => {
    const { md, errors } = parseVolumeMetadata('DOMAIN=x\nCAP=abc\nEOF\n');
    assert.equal(md, undefined);
    assert.ok(errors.includes("Required key 'IMAGE' is missing."), errors.join('; '));
    assert.ok(errors.some((e) => e.startsWith("Invalid 'CAP' value")), errors.join('; '));
    assert.equal(parseVolumeMetadata('NONE=######\nEOF\n').md, undefined);
    assert.throws(() => formatVolumeMetadata({ ...vol, description: 'x'.repeat(400) }, 5), VolumeMetadataError);
  });

  void it('truncates long descriptions to 210 bytes on a character boundary; GEN wraps after 999', () => {
    const d = clampDescription('é'.repeat(200));
    assert.ok(Buffer.byteLength(d) <= 210 && !d.includes('\uFFFD'));
    assert.equal(nextGeneration(5), 6);
    assert.equal(nextGeneration(999), 0);
  });
});

void describe('repository layout', () => {
  void it('mangles a LOCALFS path as vdsm (underscores doubled, slashes to underscores)', () => {
    assert.equal(transformPath('/data/local_sd'), '_data_local__sd');
    const repo = new RepoLayout('/rhev/data-center');
    assert.equal(repo.mountPoint('/data/local_sd'), '/rhev/data-center/mnt/_data_local__sd');
    assert.ok(isCleanAbsolutePath('/data/sd') && !isCleanAbsolutePath('data/sd') && !isCleanAbsolutePath('/data/../sd') && !isCleanAbsolutePath('/data/sd/'));
  });

  void it('places metadata, volumes and their .meta / .lease as vdsm', () => {
    const l = new DomainLayout(`/r/mnt/_d/${SD}`);
    assert.equal(l.metadata, `/r/mnt/_d/${SD}/dom_md/metadata`);
    assert.equal(l.volume('i', 'v'), `/r/mnt/_d/${SD}/images/i/v`);
    assert.equal(l.meta('i', 'v'), `/r/mnt/_d/${SD}/images/i/v.meta`);
    assert.equal(l.removedImageDir('i'), `/r/mnt/_d/${SD}/images/_remove_me_i`);
  });
});

void describe('the engine\'s parameter types', () => {
  void it('takes numbers where the schema says strings and the other way round', () => {
    assert.equal(domainTypeParam(4), 4);
    assert.equal(domainTypeParam('4'), 4);
    assert.equal(domainTypeParam('LOCALFS'), 4);
    assert.equal(domainClassParam(1), 1);
    assert.equal(domainClassParam('Data'), 1);
    assert.equal(volFormatParam(5), 'RAW');
    assert.equal(volFormatParam('4'), 'COW');
    assert.equal(preallocParam(2), 'SPARSE');
    assert.equal(preallocParam('1'), 'PREALLOCATED');
    assert.equal(intParam('version', '5'), 5);
    assert.equal(sizeParam('size', '1073741824'), 1073741824);
    assert.equal(boolParam('false'), false);
    assert.equal(boolParam('True'), true);
    assert.equal(boolParam(true), true);
  });

  void it('answers vdsm\'s codes for what it cannot take', () => {
    assert.equal(code(() => domainTypeParam(99)), 372);
    assert.equal(code(() => domainClassParam('Nope')), 386);
    assert.equal(code(() => volFormatParam(3)), 202);
    assert.equal(code(() => preallocParam('thick')), 231);
    assert.equal(code(() => sizeParam('size', -1)), 1000);
    assert.equal(code(() => sizeParam('size', '12abc')), 1000);
    assert.equal(code(() => uuidParam('sdUUID', 'not-a-uuid')), 1000);
    assert.equal(code(() => intParam('size', 2 ** 60)), 1000);
  });
});
