// SdNotifier against a real sd_notify socket: systemd is not PID 1 here, so the receiving end is a
// small Python datagram server standing in for systemd (it reads the message and the sender's
// credentials, and closes passed fds as systemd does, which releases systemd-notify's BARRIER=1 wait).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { SdNotifier } from '../../src/observability/sd-notify.js';

const RECEIVER = `
import array, json, os, socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    pid, fds = None, []
    for level, kind, payload in anc:
        if kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        elif kind == socket.SCM_RIGHTS:
            a = array.array("i"); a.frombytes(payload[: len(payload) // 4 * 4]); fds = list(a)
    for fd in fds:
        os.close(fd)
    print(json.dumps({"pid": pid, "fds": len(fds), "msg": data.decode()}), flush=True)
`;

interface Received {
  pid: number | null;
  fds: number;
  msg: string;
}

void describe('SdNotifier', () => {
  let dir: string;
  let receiver: ChildProcess;
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const waitFor = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await new Promise<void>((r) => waiters.push(r));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-notify-'));
    await writeFile(join(dir, 'recv.py'), RECEIVER);
    receiver = spawn('/usr/bin/python3', [join(dir, 'recv.py'), join(dir, 'notify.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let listening = false;
    createInterface({ input: receiver.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Received & { listening?: boolean };
      if (m.listening === true) listening = true;
      else received.push(m);
      for (const w of waiters.splice(0)) w();
    });
    await waitFor(() => listening);
  });

  after(async () => {
    receiver.kill();
    await rm(dir, { recursive: true, force: true });
  });

  void it('sends READY=1 with the main PID and a status through systemd-notify', async () => {
    const errors: Error[] = [];
    const n = new SdNotifier({ env: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock') }, onError: (e) => errors.push(e) });
    assert.equal(n.enabled, true);
    assert.equal(await n.ready('serving on 54321'), true, String(errors[0]));
    await waitFor(() => received.some((r) => r.msg.includes('READY=1')));
    const msg = received.find((r) => r.msg.includes('READY=1'))!;
    assert.deepEqual(msg.msg.split('\n').sort(), ['MAINPID=' + process.pid, 'READY=1', 'STATUS=serving on 54321'].sort());
    // The sender is the systemd-notify child, not this process: why the unit needs NotifyAccess=all.
    assert.notEqual(msg.pid, null);
    assert.deepEqual(n.toJSON(), { enabled: true, socket: join(dir, 'notify.sock'), sent: 1, failed: 0, lastStatus: 'serving on 54321' });
  });

  void it('sends STOPPING=1', async () => {
    const n = new SdNotifier({ env: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock') } });
    assert.equal(await n.stopping('stopping'), true);
    await waitFor(() => received.some((r) => r.msg.includes('STOPPING=1')));
  });

  void it('does nothing without NOTIFY_SOCKET (not started by systemd)', async () => {
    const errors: Error[] = [];
    const n = new SdNotifier({ env: {}, command: '/nonexistent/systemd-notify', onError: (e) => errors.push(e) });
    assert.equal(n.enabled, false);
    assert.equal(await n.ready(), false);
    assert.deepEqual(errors, [], 'no program was run');
  });

  void it('reports a failed notification without throwing', async () => {
    const errors: Error[] = [];
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: join(dir, 'notify.sock') }, command: '/nonexistent/systemd-notify', onError: (e) => errors.push(e) });
    assert.equal(await n.ready(), false);
    assert.equal(errors.length, 1);
    assert.equal(n.toJSON().failed, 1);
  });
});
