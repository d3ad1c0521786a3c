// A minimal VNC viewer for the real-VM tests: the RFB 3.8 handshake with VNC authentication, which is
// enough for QEMU to take a console client as connected (libvirt's graphics events) and to check a ticket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createCipheriv } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Reads exact byte counts from a socket, waiting on its data events. */
class SocketReader {
  #buf = Buffer.alloc(0);
  constructor(private readonly sock: Socket) {}
  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      const [chunk] = (await once(this.sock, 'data')) as [Buffer];
      this.#buf = Buffer.concat([this.#buf, chunk]);
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
}

/** The RFB VNC-authentication response: the challenge DES-encrypted with the password (8 bytes, zero padded, each byte's bits reversed). */
function vncResponse(password: string, challenge: Buffer): Buffer {
  const key = Buffer.alloc(8);
  Buffer.from(password, 'latin1').copy(key, 0, 0, 8);
  for (let i = 0; i < 8; i++) {
    const b = key[i]!;
    let r = 0;
    for (let bit = 0; bit < 8; bit++) r |= ((b >> bit) & 1) << (7 - bit);
    key[i] = r;
  }
  // Triple DES with three equal keys is single DES (OpenSSL 3 keeps plain DES in its legacy provider only).
  const cipher = createCipheriv('des-ede3-ecb', Buffer.concat([key, key, key]), null).setAutoPadding(false);
  return Buffer.concat([cipher.update(challenge), cipher.final()]);
}

/**
 * Log in to a VNC server as a viewer would (RFB 3.8): 'none' when it asks for no password, 'ok' or
 * 'failed' for VNC authentication with `password`; with `init`, also the client/server init a viewer
 * does before it shows the screen. The connection is closed at the end, unless `keep` takes it (then
 * the caller closes it).
 */
export async function vncLogin(port: number, password: string, opts: { init?: boolean; keep?: (sock: Socket) => void } = {}): Promise<'none' | 'ok' | 'failed'> {
  const sock = connect({ host: '127.0.0.1', port });
  let kept = false;
  try {
    const r = new SocketReader(sock);
    assert.match((await r.read(12)).toString('latin1'), /^RFB 003\.00\d\n$/);
    sock.write('RFB 003.008\n');
    const count = (await r.read(1))[0]!;
    assert.ok(count > 0, 'the server offers a security type');
    const types = [...(await r.read(count))];
    if (!types.includes(2)) {
      assert.ok(types.includes(1), `security types ${types.join(',')}`);
      return 'none';
    }
    sock.write(Buffer.from([2]));
    sock.write(vncResponse(password, await r.read(16)));
    const ok = (await r.read(4)).readUInt32BE(0) === 0;
    // ClientInit (shared) and the server's ServerInit: the viewer is set up, QEMU reports it initialized.
    if (ok && opts.init === true) {
      sock.write(Buffer.from([1]));
      const nameLength = (await r.read(24)).readUInt32BE(20);
      await r.read(nameLength);
      if (opts.keep !== undefined) {
        opts.keep(sock);
        kept = true;
      }
    }
    return ok ? 'ok' : 'failed';
  } finally {
    if (!kept) sock.destroy();
  }
}
