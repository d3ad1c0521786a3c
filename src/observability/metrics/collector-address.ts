// [metrics] collector_address: vdsm's value is a host name (the port is fixed: 8125 for statsd, 8080
// for Hawkular); vdsm-node also accepts `host:port`, `[IPv6]:port` and, for Hawkular, a URL.

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address -> host and port. */
export function parseCollectorAddress(address: string, defaultPort: number): { host: string; port: number } {
  const a = address.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(a);
  if (v6) return { host: v6[1]!, port: v6[2] !== undefined ? checkPort(v6[2], address) : defaultPort };
  if (a.split(':').length === 2) {
    const [host, port] = a.split(':') as [string, string];
    return { host: host === '' ? 'localhost' : host, port: checkPort(port, address) };
  }
  return { host: a === '' ? 'localhost' : a, port: defaultPort };
}

function checkPort(text: string, address: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port in collector address ${JSON.stringify(address)}`);
  return n;
}

/** host:port for messages, with brackets around IPv6 addresses. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
