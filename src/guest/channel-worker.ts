// Entry of the vmchannels thread: owns every ovirt-guest-agent socket, frames and parses what guests send
// and posts the resulting changes to the main thread in batches, so that a flood of large or malformed
// messages costs this thread, never the main loop. Its nice value is raised like the Executor workers'.
import { createConnection } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { niceThisThread, osThreadId } from '../native-sys.js';
import { monotonicClock, realTimers } from '../runtime/clock.js';
import { ChannelHub } from './channel-hub.js';
import type { ChannelWorkerConfig, FromChannelWorker, ToChannelWorker } from './channel-protocol.js';

const port = parentPort;
if (!port) throw new Error('channel-worker.js must run in a worker thread');
const config = (workerData as { config: ChannelWorkerConfig; niceIncrement: number }).config;
const nice = (workerData as { niceIncrement?: number }).niceIncrement ?? 0;
niceThisThread(nice);


const post = (msg: FromChannelWorker): void => port.postMessage(msg);
const hub = new ChannelHub({
  config,
  connect: (path) => createConnection({ path }),
  clock: monotonicClock,
  timers: realTimers,
  post,
  heapUsed: () => process.memoryUsage().heapUsed,
});
hub.start();
port.on('message', (msg: ToChannelWorker) => {
  hub.handle(msg);
  if (msg.type === 'stop') port.close();
});
post({ type: 'ready', tid: osThreadId() });
