// Entry of the libvirt watch thread: hears of every libvirt connection loss (the addon's connection
// watcher) and forwards it to the main thread. It makes no libvirt call, so unlike the control thread it
// can never be stuck in one; the main thread does not load the addon (dlopen of libvirt) itself.
// Imports only the binding and plain types.
import { parentPort } from 'node:worker_threads';
import { loadVirtBinding } from './binding.js';

const port = parentPort;
if (!port) throw new Error('watch-worker.js must run in a worker thread');
loadVirtBinding().watchConnections((e) => port.postMessage(e), { ref: true });
port.postMessage({ event: 'ready' });
