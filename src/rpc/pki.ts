// TLS material for the management port: a development PKI (a CA plus server and client certificates made
// with the `openssl` CLI on first run, so TLS is on even in the embedded default) and loading of real
// certificates from vdsm's paths.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { errorMessage } from '../errors.js';
import type { TlsMaterial } from './acceptor.js';

const run = promisify(execFile);

/** vdsm's certificate locations (lib/vdsm/common/pki.py); vdsm.conf can point elsewhere. */
export const VDSM_PKI_PATHS = Object.freeze({
  keyFile: '/etc/pki/vdsm/keys/vdsmkey.pem',
  certFile: '/etc/pki/vdsm/certs/vdsmcert.pem',
  caFile: '/etc/pki/vdsm/certs/cacert.pem',
});

export interface TlsFiles {
  keyFile: string;
  certFile: string;
  caFile: string;
}

/** Files of a development PKI under `<stateDir>/pki`, laid out like /etc/pki/vdsm. */
export interface DevPki {
  dir: string;
  server: TlsFiles;
  /** A client certificate signed by the same CA, for vdsm-client and tests. */
  client: TlsFiles;
}

export function devPkiPaths(stateDir: string): DevPki {
  return pkiPaths(path.join(stateDir, 'pki'));
}

/** A PKI laid out like /etc/pki/vdsm in `dir` (certs/, keys/, private/). */
export function pkiPaths(dir: string): DevPki {
  const caFile = path.join(dir, 'certs', 'cacert.pem');
  return {
    dir,
    server: { keyFile: path.join(dir, 'keys', 'vdsmkey.pem'), certFile: path.join(dir, 'certs', 'vdsmcert.pem'), caFile },
    client: { keyFile: path.join(dir, 'keys', 'clientkey.pem'), certFile: path.join(dir, 'certs', 'clientcert.pem'), caFile },
  };
}

/**
 * Read and check key, certificate and CA files. Rejects with one error naming every bad file (missing,
 * unreadable, not a PEM key / certificate, certificate and key that do not match), so the agent refuses
 * to start instead of starting "ready" and rejecting every client.
 */
export async function loadTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  const read = (file: string): Promise<Buffer | Error> => readFile(file).catch((err: NodeJS.ErrnoException) => new Error(err.code === 'ENOENT' ? 'missing' : `unreadable (${err.code ?? err.message})`));
  const [key, cert, ca] = await Promise.all([read(files.keyFile), read(files.certFile), read(files.caFile)]);
  const problems: string[] = [];
  const bad = (file: string, why: string): void => { problems.push(`${file}: ${why}`); };
  let keyObject: KeyObject | undefined;
  if (key instanceof Error) bad(files.keyFile, key.message);
  else {
    try {
      keyObject = createPrivateKey(key);
    } catch (err) {
      bad(files.keyFile, `not a usable PEM private key (${errorMessage(err)})`);
    }
  }
  if (cert instanceof Error) bad(files.certFile, cert.message);
  else {
    const certs = parseCertificates(cert);
    if (certs instanceof Error) bad(files.certFile, certs.message);
    else if (keyObject && !certs[0]!.checkPrivateKey(keyObject)) bad(files.certFile, `does not match the private key in ${files.keyFile}`);
  }
  if (ca instanceof Error) bad(files.caFile, ca.message);
  else {
    const cas = parseCertificates(ca);
    if (cas instanceof Error) bad(files.caFile, cas.message);
  }
  if (problems.length > 0) throw new Error(`TLS files unusable: ${problems.join('; ')}`);
  return { key: key as Buffer, cert: cert as Buffer, ca: ca as Buffer };
}

/** Every certificate of a PEM file (a CA file may hold a chain), or an error saying what is wrong. */
function parseCertificates(pem: Buffer): X509Certificate[] | Error {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return new Error('no PEM certificate in it');
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return new Error(`not a valid PEM certificate (${errorMessage(err)})`);
  }
}

export interface DevPkiOptions {
  /** Extra subjectAltNames for the server certificate (DNS names or IPs). */
  altNames?: readonly string[];
  /** Certificate lifetime. */
  days?: number;
  /** The openssl binary. */
  openssl?: string;
  /** Subject of the CA certificate (default: the development CA's). */
  caSubject?: string;
}

/**
 * Create the development PKI in `<stateDir>/pki` unless it already exists (idempotent; an existing CA is
 * reused). Keys are EC P-256: fast handshakes, and a CA nobody else trusts. Not for production: use the
 * engine-enrolled certificates at VDSM_PKI_PATHS instead.
 */
export async function ensureDevPki(stateDir: string, opts: DevPkiOptions = {}): Promise<DevPki> {
  return ensurePki(devPkiPaths(stateDir).dir, opts);
}

/** ensureDevPki in any directory (vdsm-tool configure makes a self-signed host PKI in the trust store). */
export async function ensurePki(dir: string, opts: DevPkiOptions = {}): Promise<DevPki> {
  const p = pkiPaths(dir);
  if (await exists(p.server.certFile) && await exists(p.client.certFile) && await exists(p.server.caFile)) return p;
  const openssl = opts.openssl ?? 'openssl';
  const days = String(opts.days ?? 3650);
  const priv = path.join(p.dir, 'private');
  await mkdir(path.join(p.dir, 'keys'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(p.dir, 'certs'), { recursive: true });
  await mkdir(priv, { recursive: true, mode: 0o700 });
  const caKey = path.join(priv, 'cakey.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!(await exists(caKey)) || !(await exists(p.server.caFile))) {
    await run(openssl, ['req', '-x509', ...ec, '-keyout', caKey, '-out', p.server.caFile, '-days', days, '-subj', opts.caSubject ?? '/O=vdsm-node/CN=vdsm-node development CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }
  const names = ['localhost', hostname(), '127.0.0.1', '::1', ...(opts.altNames ?? [])];
  const san = [...new Set(names)].map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
  await issue(openssl, p, caKey, p.server, `/O=vdsm-node/CN=${hostname()}`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`, ec, days);
  await issue(openssl, p, caKey, p.client, '/O=vdsm-node/CN=vdsm-client', 'extendedKeyUsage=clientAuth\n', ec, days);
  return p;
}

async function issue(openssl: string, p: DevPki, caKey: string, files: TlsFiles, subject: string, ext: string, ec: string[], days: string): Promise<void> {
  const csr = `${files.certFile}.csr`;
  const extFile = `${files.certFile}.ext`;
  await run(openssl, ['req', '-new', ...ec, '-keyout', files.keyFile, '-out', csr, '-subj', subject]);
  await writeFile(extFile, ext);
  await run(openssl, ['x509', '-req', '-in', csr, '-CA', p.server.caFile, '-CAkey', caKey, '-CAcreateserial', '-out', files.certFile, '-days', days, '-extfile', extFile]);
  await Promise.all([rm(csr, { force: true }), rm(extFile, { force: true })]);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
