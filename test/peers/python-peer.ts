// Runs ../shared/peers/stomp_jsonrpc_client.py (Debian's python3-stomp, a STOMP library we did not
// write) against our server with /usr/bin/python3, and returns its exit code and output.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';

export const PYTHON = '/usr/bin/python3';
export const PY_CLIENT = process.env['VDSM_PY_STOMP_CLIENT'] ?? '/work/shared/peers/stomp_jsonrpc_client.py';

export interface PyResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** True when the peer script and an interpreter with stomp.py are available. */
export async function pythonPeerAvailable(): Promise<boolean> {
  try {
    await access(PY_CLIENT);
    await new Promise<void>((resolve, reject) => execFile(PYTHON, ['-c', 'import stomp'], (err) => (err ? reject(err) : resolve())));
    return true;
  } catch {
    return false;
  }
}

export function runPythonPeer(port: number, args: string[] = [], timeoutMs = 20_000): Promise<PyResult> {
  return new Promise((resolve) => {
    execFile(PYTHON, [PY_CLIENT, '127.0.0.1', String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
