// The configuration volume's pickle against Python itself (python3, the peer vdsm is written in): what
// we write, Python's pickle.load reads as the same data; what Python's pickle.dumps writes (protocols 2,
// 4 and 5, as vdsm on Python 3 and older hosts may write), we read as the same data; code-naming pickles
// are refused, never run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { PickleError, pickleDumps, pickleLoads, type PickleValue } from '../../src/virt/migration/py-pickle.js';

const SAMPLE: { [key: string]: PickleValue } = {
  vmId: '5a7e0000-0000-4000-8000-0000000000d1',
  _srcDomXML: "<domain type='kvm'>\n  <name>vm-ü</name>\n</domain>",
  xml: '',
  elapsedTimeOffset: 1234.5678,
  guestAgentAPIVersion: 3,
  big: 2 ** 40,
  negative: -7,
  enableGuestEvents: false,
  launchPaused: true,
  pid: null,
  guestIPs: '10.0.0.5 fe80::1',
  netIfaces: [{ name: 'eth0', inet: ['10.0.0.5'], inet6: [], hw: '52:54:00:00:00:01' }],
  emoji: '🙂',
};

async function python(script: string, input?: Buffer): Promise<Buffer> {
  const child = execFile('python3', ['-c', script], { encoding: 'buffer', maxBuffer: 1 << 24 });
  const out: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`)))));
  child.stdin!.end(input ?? Buffer.alloc(0));
  await done;
  return Buffer.concat(out);
}

void test('python3 reads what we write as the same data (trailing bytes after STOP ignored, as in the volume)', async () => {
  const bytes = Buffer.concat([pickleDumps(SAMPLE), Buffer.from('left-over bytes'), Buffer.alloc(32)]);
  const out = await python('import pickle,sys,json; v=pickle.load(sys.stdin.buffer); sys.stdout.write(json.dumps(v, ensure_ascii=False))', bytes);
  assert.deepEqual(JSON.parse(out.toString('utf8')), SAMPLE);
  const types = await python("import pickle,sys; v=pickle.load(sys.stdin.buffer); print(type(v['elapsedTimeOffset']).__name__, type(v['guestAgentAPIVersion']).__name__, type(v['enableGuestEvents']).__name__, type(v['pid']).__name__, type(v['big']).__name__)", pickleDumps(SAMPLE));
  assert.equal(types.toString().trim(), 'float int bool NoneType float', 'a whole number past 32 bits travels as a float');
});

for (const proto of [2, 4, 5]) {
  void test(`we read what python3 writes with protocol ${proto}`, async () => {
    // Python 3 pickles bytes through a codecs call under protocol 2 (code, refused): bytes from 3 on.
    const bytesItem = proto >= 3 ? "v['bytes']=b'\\xff\\x00'; " : '';
    const script = `import pickle,sys,json; v=json.loads(sys.stdin.buffer.read().decode('utf8')); v['tuple']=(1,'a',None); ${bytesItem}v['long']=2**70; v['shared']=v['netIfaces']; sys.stdout.buffer.write(pickle.dumps(v, protocol=${proto}))`;
    const pickled = await python(script, Buffer.from(JSON.stringify(SAMPLE)));
    const v = pickleLoads(pickled) as { [key: string]: PickleValue };
    const { tuple, bytes, long, shared, ...rest } = v;
    assert.deepEqual(rest, SAMPLE);
    assert.deepEqual(tuple, [1, 'a', null]);
    if (proto >= 3) assert.equal(bytes, '\xff\x00');
    assert.equal(long, 2 ** 70);
    assert.deepEqual(shared, SAMPLE['netIfaces'], 'a memoised object read back through the memo');
  });
}

void test('a pickle that names Python code is refused, not run; a cut one is an error', async () => {
  const evil = await python("import pickle,os,sys; sys.stdout.buffer.write(pickle.dumps({'x': os.system}, protocol=2))");
  assert.throws(() => pickleLoads(evil), (e: unknown) => e instanceof PickleError && /unsupported pickle opcode/.test(e.message));
  assert.throws(() => pickleLoads(pickleDumps(SAMPLE).subarray(0, 40)), PickleError);
  assert.throws(() => pickleLoads(Buffer.from([0x80, 0x02, 0x75, 0x2e])), PickleError, 'SETITEMS without a MARK');
});
