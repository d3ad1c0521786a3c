// Entry of the libvirt control thread: opens and closes connections, registers domain events and
// forwards them to the main thread with postMessage. Keeping these libvirt calls (event registration is
// an RPC on remote URIs) off the main thread means a frozen libvirtd can only stall this thread.
// Imports only the binding and plain types.
import { parentPort, threadId } from 'node:worker_threads';
import { setThreadName } from '../native-sys.js';
import { loadVirtBinding } from './binding.js';
import { libvirtErrorInfo } from './errors.js';
import type { ControlMessage, ControlRequest, ControlResults } from './control-protocol.js';

const port = parentPort;
if (!port) throw new Error('control-worker.js must run in a worker thread');
setThreadName('libvirt/control');
const virt = loadVirtBinding();
const post = (msg: ControlMessage): void => port.postMessage(msg);

function handle(req: ControlRequest): ControlResults[ControlRequest['cmd']] {
  switch (req.cmd) {
    case 'open': return virt.open(req.uri, req.options);
    case 'close': return virt.close(req.conn);
    case 'subscribe': return virt.domainEventsRegister(req.conn, req.eventIds, (event) => post({ type: 'event', event }));
    case 'unsubscribe': return virt.domainEventsDeregister(req.sub);
    case 'info': return virt.connectionInfo(req.conn);
    case 'ping': return virt.getLibVersion(req.conn);
  }
}

port.on('message', (req: ControlRequest) => {
  try {
    post({ type: 'reply', id: req.id, ok: true, value: handle(req) });
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    const info = libvirtErrorInfo(err);
    post({
      type: 'reply', id: req.id, ok: false,
      error: {
        message: typeof e.message === 'string' ? e.message : String(err),
        ...(typeof e.code === 'string' ? { code: e.code } : {}),
        ...(info ? { context: { ...info } } : {}),
      },
    });
  }
});

post({ type: 'ready', threadId, tid: virt.threadId() });
