// A password given in a form the schema does not expect is converted or refused like any argument, but
// its value never shows in the once-per-parameter warning nor in the -32602 message (which the server
// logs at DEBUG): VM.setTicket's top-level password, VM.updateDevice's params.password and
// Host.fenceNode's password.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentRules } from '../../src/api/argument-rules.js';
import { MethodTable } from '../../src/api/method-table.js';
import { apiMethods as vmMethods } from '../../src/api/vm.js';
import { apiMethods as fenceMethods } from '../../src/api/host-fence.js';
import { captureLog } from '../runtime/capture-log.js';

const SECRET = 987654321;
const vm = vmMethods({ vms: {} as never, sysShutdownTimeoutS: 120 });
const fence = fenceMethods({ fence: {} as never });
const spec = (name: string) => [...vm, ...fence].find((m) => m.name === name)!;

const calls: [string, Record<string, unknown>][] = [
  ['VM.setTicket', { vmID: 'v', password: SECRET, ttl: 120, existingConnAction: 'disconnect', params: {} }],
  ['VM.updateDevice', { vmID: 'v', params: { deviceType: 'graphics', graphicsType: 'vnc', password: SECRET, ttl: 120, params: {} } }],
  ['Host.fenceNode', { addr: 'a', port: '', agent: 'x', username: 'u', password: SECRET, action: 'status' }],
];

void test('a numeric password is converted without its value in the log (non-strict)', () => {
  for (const [name, params] of calls) {
    const { log, lines } = captureLog('debug');
    const rules = new ArgumentRules({ log });
    const r = new MethodTable([spec(name)], { rules }).bind(spec(name), params);
    assert.equal(r.ok, true, name);
    assert.ok(lines.length > 0, `${name}: the conversion is logged`);
    assert.ok(!JSON.stringify(lines).includes(String(SECRET)), `${name}: ${JSON.stringify(lines)}`);
    assert.match(JSON.stringify(lines), /\*{8}/);
  }
});

void test('strict mode refuses it (-32602) without echoing the value', () => {
  for (const [name, params] of calls) {
    const r = new MethodTable([spec(name)], { rules: new ArgumentRules({ strict: true }) }).bind(spec(name), params);
    assert.equal(r.ok, false, name);
    if (!r.ok) {
      assert.equal(r.error.code, -32602);
      assert.ok(!r.error.message.includes(String(SECRET)), `${name}: ${r.error.message}`);
    }
  }
});
