// Decide what a new connection speaks from its first bytes. vdsm peeks a fixed 11 bytes; we decide as
// soon as the bytes can only be one protocol's opening token, and reject as soon as they can be none.

export type Detection = 'stomp' | 'http' | 'unknown' | 'more';

/** STOMP command lines a client may open with (vdsm also accepts server commands; harmless). */
const STOMP_COMMANDS = ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'DISCONNECT', 'CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT'];
const STOMP_TOKENS = STOMP_COMMANDS.flatMap((c) => [`${c}\n`, `${c}\r\n`]);
const HTTP_TOKENS = ['GET /', 'HEAD /', 'PUT /', 'POST /'];
/** Leading heart-beat EOLs tolerated before a STOMP command (vdsm rejects even one). */
export const MAX_LEADING_EOLS = 8;
/** Bytes after which a decision is always possible (longest token plus leading EOLs). */
export const DETECT_MAX_BYTES = 2 * MAX_LEADING_EOLS + 'UNSUBSCRIBE\r\n'.length;

export function detectProtocol(bytes: Buffer): Detection {
  const s = bytes.toString('latin1', 0, Math.min(bytes.length, DETECT_MAX_BYTES));
  let possible = false;
  for (const t of HTTP_TOKENS) {
    if (s.startsWith(t)) return 'http';
    if (t.startsWith(s)) possible = true;
  }
  let i = 0;
  let eols = 0;
  while (i < s.length && (s[i] === '\n' || (s[i] === '\r' && s[i + 1] === '\n') || (s[i] === '\r' && i + 1 === s.length))) {
    if (s[i] === '\r') i++;
    i++;
    eols++;
  }
  if (eols > MAX_LEADING_EOLS) return possible ? 'more' : 'unknown';
  const rest = s.slice(i);
  if (rest.length === 0) return 'more';
  for (const t of STOMP_TOKENS) {
    if (rest.startsWith(t)) return 'stomp';
    if (t.startsWith(rest)) possible = true;
  }
  return possible ? 'more' : 'unknown';
}
