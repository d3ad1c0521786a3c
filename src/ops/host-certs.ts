// The host's TLS identity as the engine enrols it (vdsm's layout under [vars] trust_store_path):
// certs/vdsmcert.pem, keys/vdsmkey.pem, certs/cacert.pem. Checks presence and validity (dates, key
// matches certificate, certificate signed by the CA) for vdsmd's start-up message and for
// `vdsm-tool is-configured` / `configure`.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TlsFiles } from '../rpc/pki.js';
import { hostCertFiles } from './client-tls.js';
import { errorMessage } from '../errors.js';

export { hostCertFiles };

export interface CertProblem {
  file: string;
  problem: string;
}

/** Files among `files` that do not exist or cannot be read. */
export async function missingFiles(files: TlsFiles): Promise<string[]> {
  const list = [files.certFile, files.keyFile, files.caFile];
  const ok = await Promise.all(list.map((f) => readFile(f).then(() => true, () => false)));
  return list.filter((_, i) => !ok[i]);
}

/**
 * Every problem with the host certificate: missing files, unparsable PEM, outside its validity window
 * at `now`, a key that does not belong to it, or a CA that did not sign it. Empty when all is well.
 */
export async function certificateProblems(files: TlsFiles, now: Date = new Date()): Promise<CertProblem[]> {
  const missing = await missingFiles(files);
  if (missing.length > 0) return missing.map((file) => ({ file, problem: 'missing or unreadable' }));
  const problems: CertProblem[] = [];
  const parse = async (file: string): Promise<X509Certificate | undefined> => {
    try {
      return new X509Certificate(await readFile(file));
    } catch (err) {
      problems.push({ file, problem: `not a PEM certificate: ${errorMessage(err)}` });
      return undefined;
    }
  };
  const [cert, ca] = [await parse(files.certFile), await parse(files.caFile)];
  let key: ReturnType<typeof createPrivateKey> | undefined;
  try {
    key = createPrivateKey(await readFile(files.keyFile));
  } catch (err) {
    problems.push({ file: files.keyFile, problem: `not a PEM private key: ${errorMessage(err)}` });
  }
  for (const [file, c] of [[files.certFile, cert], [files.caFile, ca]] as const) {
    if (!c) continue;
    if (new Date(c.validFrom) > now) problems.push({ file, problem: `not valid before ${c.validFrom}` });
    if (new Date(c.validTo) < now) problems.push({ file, problem: `expired on ${c.validTo}` });
  }
  if (cert && key && !cert.checkPrivateKey(key)) problems.push({ file: files.keyFile, problem: `is not the key of ${files.certFile}` });
  if (cert && ca && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) problems.push({ file: files.certFile, problem: `is not signed by the CA in ${files.caFile}` });
  return problems;
}

/** Days until the host certificate expires (negative once expired); undefined when unreadable. */
export async function daysLeft(certFile: string, now: Date = new Date()): Promise<number | undefined> {
  try {
    const c = new X509Certificate(await readFile(certFile));
    return Math.floor((new Date(c.validTo).getTime() - now.getTime()) / 86_400_000);
  } catch {
    return undefined;
  }
}

/** What vdsmd prints when TLS is on and the host has no certificate. */
export function enrolmentHint(trustStore: string, missing: readonly string[]): string {
  return [
    `TLS is on ([vars] ssl = true) but the host certificate is missing: ${missing.join(', ')}.`,
    `An oVirt host gets its certificate when the engine adds it (Compute > Hosts > New) or re-enrols it`,
    `(Management > Maintenance, then Installation > Enroll Certificate); the engine installs it under ${trustStore}.`,
    'To try vdsm-node without an engine: vdsmd --profile embedded (a development PKI under the state',
    'directory and libvirt\'s test driver), or --set vars.ssl=false for plain TCP.',
  ].join('\n');
}
