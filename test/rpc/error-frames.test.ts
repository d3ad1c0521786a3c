// ERROR frames never carry raw client bytes in a header (issue 9, item 7): a command with a NUL, a
// control character or a colon in it is echoed as printable, STOMP-escaped text, over a raw socket.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { unescapeHeaderValue } from '../../src/rpc/stomp-frame.js';
import { RawClient } from '../peers/raw-socket.js';
import { startServer, type Fixture } from './server-fixture.js';

let fx: Fixture;
before(async () => {
  fx = await startServer();
});
after(async () => {
  await fx.close();
});

void it('an unknown command with NUL, ESC and a colon comes back escaped in the ERROR message header', async () => {
  const c = await RawClient.connect(fx.port);
  c.write(Buffer.concat([Buffer.from('CONNECT\naccept-version:1.2\n\n\0'), Buffer.from('EV\x00IL\x1b:X\n\n\0')]));
  const text = await c.until((t) => t.includes('ERROR\n') && t.endsWith('\0'));
  await c.waitClosed();
  const error = text.slice(text.indexOf('ERROR\n'));
  const head = error.slice(0, error.indexOf('\n\n'));
  // Nothing below 0x20 in the headers but the line feeds that end them.
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  assert.doesNotMatch(head, /[\x00-\x09\x0b-\x1f\x7f]/, JSON.stringify(head));
  const message = head.split('\n').find((l) => l.startsWith('message:'))!.slice('message:'.length);
  assert.equal(unescapeHeaderValue(message), 'Unknown command: EV\\u0000IL\\u001b:X');
});
