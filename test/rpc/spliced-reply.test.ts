// A result that keeps its UTF-8 bytes (RawJsonBytes: Host.getStats between two fills) is answered without
// measuring its reply (issue 17): for a TLS peer the MESSAGE frame is built by copying those bytes between
// the response's own texts, for a plain one it is a text frame whose size is known (the socket encodes it
// straight into its write). Shown: both frames are byte for byte the one the text path makes (every id shape, non-ASCII ids, results, destinations and subscriptions, length digit
// boundaries); over real sockets a verb returning RawJsonBytes answers exactly what the same verb
// returning the plain value answers, with a fresh value after it changes; a result too large for the
// connection is still answered, with the error that says so.
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { s } from '../../src/api/schema.js';
import { idJson, smallReplyBody, smallReplyText } from '../../src/rpc/reply-encoder.js';
import { encodeMessageSpliced, encodeMessageSplicedText, encodeMessageWith, messageHead, outFrameBuffers, SplicedBody } from '../../src/rpc/stomp-frame.js';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { RawJson } from '../../src/runtime/raw-json.js';
import { RawJsonBytes } from '../../src/runtime/raw-json-bytes.js';
import { startServer, type Fixture } from './server-fixture.js';

const IDS: unknown[] = ['134fb96d-8104-4fc2-aab6-8a14ee6aa99b', '', 'a"b', 'a\\b', 'ünï', '\u{1F600}', '\ud800', 0, 7, -3, 2 ** 53, 1.5, null];
const RESULTS = [{ a: 1 }, { k: 'ü€\u{1F600}', list: [1, 'x', null] }, 'text', 12.5, [], { long: 'y'.repeat(5000) }];

void test('the spliced body is the reply text JSON.stringify gives, and smallReplyText gives for a plain RawJson', () => {
  for (const id of IDS) {
    for (const value of RESULTS) {
      const text = JSON.stringify(value);
      const body = smallReplyBody({ jsonrpc: '2.0', id, result: new RawJsonBytes(text) }, 1 << 20);
      assert.ok(body instanceof SplicedBody, `${String(id)} ${text.slice(0, 20)}`);
      const joined = Buffer.concat([Buffer.from(body.head, 'utf8'), body.bytes, Buffer.from(body.tail, 'utf8')]);
      const expected = JSON.stringify({ jsonrpc: '2.0', id, result: value });
      assert.equal(joined.toString('utf8'), expected);
      assert.equal(body.byteLength, Buffer.byteLength(expected, 'utf8'));
      assert.equal(smallReplyText({ jsonrpc: '2.0', id, result: new RawJson(text) }, 1 << 20), expected);
    }
  }
  // Too large for the connection: no small body (the general path answers with its error, below).
  assert.equal(smallReplyBody({ jsonrpc: '2.0', id: '1', result: new RawJsonBytes(JSON.stringify('z'.repeat(200))) }, 100), undefined);
  // Other replies are smallReplyText's.
  const err = { jsonrpc: '2.0', id: '1', error: { code: -32601, message: 'nope' } };
  assert.equal(smallReplyBody(err, 4096), JSON.stringify(err));
  assert.equal(smallReplyBody({ jsonrpc: '2.0', id: 3, result: true }, 4096), '{"jsonrpc":"2.0","id":3,"result":true}');
});

void test('encodeMessageSpliced (bytes, for TLS) and encodeMessageSplicedText (text, for plain TCP): the bytes of encodeMessageWith for the body text, heads and lengths of every kind', () => {
  const heads = [['jms.topic.vdsm_responses', 'r'], ['réponses', 'ß'], ['a:b\\c', 'id\nwith\u0001control']] as const;
  // Body sizes around the content-length's digit boundaries.
  const fillers = [0, 1, 7, 8, 60, 61, 960, 961, 9960, 9961];
  for (const [destination, subscription] of heads) {
    const head = messageHead(destination, subscription);
    for (const id of IDS) {
      for (const n of fillers) {
        const text = JSON.stringify({ f: 'é'.repeat(n % 3) + 'x'.repeat(n) });
        const body = new SplicedBody(`{"jsonrpc":"2.0","id":${idJson(id)},"result":`, text, Buffer.from(text, 'utf8'), '}');
        const expected = encodeMessageWith(head, `${body.head}${text}${body.tail}`);
        assert.deepEqual(encodeMessageSpliced(head, body), expected, `${destination} ${String(id)} ${n}`);
        const asText = encodeMessageSplicedText(head, body);
        assert.deepEqual(outFrameBuffers(asText), expected, `text ${destination} ${String(id)} ${n}`);
        assert.equal(asText.bytes, expected.length);
      }
    }
  }
  // A non-ASCII tail is written as UTF-8 too.
  const head = messageHead('d', 's');
  const odd = new SplicedBody('«', '1', Buffer.from('1'), '»');
  assert.deepEqual(encodeMessageSpliced(head, odd), encodeMessageWith(head, '«1»'));
  assert.deepEqual(outFrameBuffers(encodeMessageSplicedText(head, odd)), encodeMessageWith(head, '«1»'));
});

for (const mode of ['plain', 'tls'] as const) {
  void describe(`a verb answering RawJsonBytes over ${mode}`, () => {
    let fx: Fixture;
    let client: StompRpcClient;
    let value: unknown = { cpuUser: '1.25', name: 'hôte-ü', list: [1, 2, 3] };
    before(async () => {
      fx = await startServer({
        tls: mode === 'tls',
        limits: { maxOutgoingBytes: 64 * 1024 },
        methods: [
          { name: 'Test.bytes', description: 'value as RawJsonBytes', params: [], result: s.any(), handler: () => new RawJsonBytes(JSON.stringify(value)) },
          { name: 'Test.value', description: 'the same value, plain', params: [], result: s.any(), handler: () => value },
        ],
      });
      client = new StompRpcClient({ host: '127.0.0.1', port: fx.port, ...(fx.clientTls ? { tls: fx.clientTls } : {}) });
      await client.connect();
    });
    after(async () => {
      client.close();
      await fx.close();
    });

    void it('answers what the plain value answers, and the new value once it changes', async () => {
      assert.deepEqual(await client.call('Test.bytes', {}), await client.call('Test.value', {}));
      value = { cpuUser: '2.50', name: 'hôte-ü', list: [4] };
      assert.deepEqual(await client.call('Test.bytes', {}), value);
      assert.deepEqual(await client.call('Test.bytes', {}), await client.call('Test.value', {}));
    });

    void it('a result too large for the connection is answered with the error that says so', async () => {
      value = { big: 'w'.repeat(100 * 1024) };
      await assert.rejects(client.call('Test.bytes', {}), (err: Error & { code?: number }) => {
        assert.match(err.message, /the response needs more than \d+ bytes/);
        return true;
      });
      value = { small: true };
      assert.deepEqual(await client.call('Test.bytes', {}), { small: true });
    });
  });
}
