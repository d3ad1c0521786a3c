// A byte relay from a unix socket into a network namespace: run inside the namespace (nsenter --net=...),
// it forwards every connection on SOCKET to HOST:PORT there, so the test process, which stays in the
// machine's own namespace, reaches an agent that listens only inside (TLS passes through untouched).
//   node netns-relay.js SOCKET HOST PORT     -> prints "relay listening" once ready; exits on stdin EOF
import { createConnection, createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [socketPath, host, portText] = process.argv.slice(2);
if (socketPath === undefined || host === undefined || portText === undefined) {
  process.stderr.write('usage: netns-relay SOCKET HOST PORT\n');
  process.exit(2);
}
rmSync(socketPath, { force: true });
const server = createServer((inbound) => {
  const outbound = createConnection({ host, port: Number(portText) });
  outbound.setNoDelay(true);
  inbound.pipe(outbound);
  outbound.pipe(inbound);
  const close = (): void => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', close).on('close', close);
  outbound.on('error', close).on('close', close);
});
server.listen(socketPath, () => process.stdout.write('relay listening\n'));
// The test ends the relay by closing its stdin (or killing it): no orphan outlives the test.
process.stdin.resume();
process.stdin.on('end', () => {
  server.close();
  rmSync(socketPath, { force: true });
  process.exit(0);
});
