// Logging: JSON lines by default, journald's <N> priority prefix without time/pid under systemd, named
// loggers whose levels change at run time (Host.setLogLevel), vdsm's level names.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { createRootLogger, LogManager, toPinoLevel } from '../../src/observability/logging.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { stream, lines };
}

void it('writes JSON lines with time and pid outside systemd', () => {
  const { stream, lines } = capture();
  const log = createRootLogger({ destination: stream, journald: false });
  log.info({ vmId: 'vm-1' }, 'vm started');
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line['msg'], 'vm started');
  assert.equal(line['vmId'], 'vm-1');
  assert.equal(typeof line['time'], 'number');
  assert.equal(line['pid'], process.pid);
});

void it('under journald prefixes the syslog priority and leaves time and pid to the journal', () => {
  const { stream, lines } = capture();
  const log = createRootLogger({ destination: stream, journald: true, level: 'debug' });
  log.warn('disk almost full');
  log.error('boom');
  log.debug('details');
  assert.deepEqual(lines.map((l) => l.slice(0, 3)), ['<4>', '<3>', '<7>']);
  const line = JSON.parse(lines[0]!.slice(3)) as Record<string, unknown>;
  assert.equal(line['time'], undefined);
  assert.equal(line['pid'], undefined);
  assert.equal(line['msg'], 'disk almost full');
});

void it('changes the level of a named logger and its children at run time, leaving the others', () => {
  const { stream, lines } = capture();
  const logs = new LogManager(createRootLogger({ destination: stream, journald: false, level: 'info' }));
  const rpc = logs.get('rpc.stomp');
  const virt = logs.get('virt.vm');
  rpc.debug('hidden');
  logs.setLevel('DEBUG', 'rpc');
  rpc.debug('shown');
  virt.debug('still hidden');
  const later = logs.get('rpc.jsonrpc'); // created after the change: inherits it
  later.debug('inherited');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string; logger: string }).msg), ['shown', 'inherited']);
  assert.equal(JSON.parse(lines[0]!).logger, 'rpc.stomp');
  logs.setLevel('WARN', '');
  assert.equal(logs.levels()[''], 'warn');
  assert.equal(logs.get('rpc.stomp').level, 'debug', 'a more specific level wins over the root');
  assert.equal(logs.get('virt.vm').level, 'warn');
});

void it("maps vdsm's level names and rejects unknown ones", () => {
  assert.equal(toPinoLevel('CRITICAL'), 'fatal');
  assert.equal(toPinoLevel('WARNING'), 'warn');
  assert.equal(toPinoLevel('debug'), 'debug');
  assert.equal(toPinoLevel('FOO'), undefined);
  const logs = new LogManager(createRootLogger({ destination: capture().stream, journald: false }));
  assert.throws(() => logs.setLevel('FOO', 'x'), /unknown log level: 'FOO'/);
});
