// Host.registerSecrets / unregisterSecrets: libvirt secrets the engine hands the host for network disks
// (Ceph), encrypted volumes and iSCSI CHAP, as vdsm does (lib/vdsm/virt/secret.py): ephemeral and
// private (libvirt keeps them in memory only and never shows their value), usage ids the engine chooses
// ("ovirt/<uuid>"). Every libvirt call goes through the executor. Values are never logged.
import type { Logger } from 'pino';
import { Errors, errorMessage, vdsmError } from '../errors.js';
import type { Libvirt } from '../libvirt/client.js';
import { isNoSupport, libvirtErrorInfo } from '../libvirt/errors.js';

/** usageType -> the element holding the usage id in the secret XML. */
const USAGE_ELEMENT: Record<string, string> = { ceph: 'name', volume: 'volume', iscsi: 'target' };
/** libvirt's VIR_ERR_NO_SECRET. */
const VIR_ERR_NO_SECRET = 66;

export interface SecretSpec {
  uuid: string;
  usageType: string;
  usageID: string;
  /** The decoded value. */
  value: Uint8Array;
  description?: string;
}

function xmlText(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Any form Python's uuid.UUID() takes (braces, urn:uuid:, no hyphens, any case) -> the canonical form. */
export function canonicalUuid(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const hex = v.trim().replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1').replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** One engine secret checked as vdsm checks it; a bad one is error 72 naming what is wrong (never the value). */
export function secretSpec(params: unknown): SecretSpec {
  const bad = (why: string): never => { throw vdsmError(Errors.BAD_SECRET, `Bad secret request: ${why}`); };
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return bad('a secret must be an object');
  const p = params as Record<string, unknown>;
  for (const k of ['uuid', 'usageType', 'usageID', 'password']) if (!(k in p)) bad(`missing required property '${k}'`);
  const uuid = canonicalUuid(p['uuid']) ?? bad(`invalid uuid ${JSON.stringify(p['uuid'])}`);
  const usageType = typeof p['usageType'] === 'string' && p['usageType'] in USAGE_ELEMENT ? p['usageType'] : bad(`invalid usageType ${JSON.stringify(p['usageType'])}, expecting one of ${Object.keys(USAGE_ELEMENT).join(', ')}`);
  const usageID = typeof p['usageID'] === 'string' && p['usageID'] !== '' ? p['usageID'] : bad('usageID must be a non-empty string');
  const password = p['password'];
  if (typeof password !== 'string' || password.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(password)) bad('unable to decode the base64 password');
  const description = typeof p['description'] === 'string' && p['description'] !== '' ? p['description'] : undefined;
  return { uuid, usageType, usageID, value: Buffer.from(password as string, 'base64'), ...(description !== undefined ? { description } : {}) };
}

/** The secret's XML (no value in it: libvirt gets that from virSecretSetValue). */
export function secretXml(s: SecretSpec): string {
  const el = USAGE_ELEMENT[s.usageType]!;
  return `<secret ephemeral="yes" private="yes">${s.description !== undefined ? `<description>${xmlText(s.description)}</description>` : ''}<uuid>${s.uuid}</uuid><usage type="${s.usageType}"><${el}>${xmlText(s.usageID)}</${el}></usage></secret>`;
}

function isNoSecret(err: unknown): boolean {
  return libvirtErrorInfo(err)?.virCode === VIR_ERR_NO_SECRET;
}

export class LibvirtSecrets {
  constructor(private readonly o: { libvirt: Libvirt; log: Logger }) {}

  /**
   * Define each secret and set its value (a secret of that uuid with another usage id is replaced);
   * with `clear`, remove every other oVirt secret (usage id "ovirt/...").
   */
  async register(secrets: readonly unknown[], clear: boolean): Promise<true> {
    const specs = secrets.map(secretSpec);
    let current = '';
    try {
      const existing = new Map((await this.o.libvirt.call('libvirt.listAllSecrets', { flags: 0 })).map((e) => [e.uuid, e]));
      for (const s of specs) {
        current = s.uuid;
        this.o.log.info({ uuid: s.uuid, usageType: s.usageType, usageID: s.usageID, ...(s.description !== undefined ? { description: s.description } : {}) }, 'registering secret');
        const old = existing.get(s.uuid);
        if (old !== undefined && old.usageID !== s.usageID) await this.#undefine(s.uuid);
        await this.o.libvirt.call('libvirt.secretDefineXML', { xml: secretXml(s), flags: 0 });
        await this.o.libvirt.call('libvirt.secretSetValue', { uuid: s.uuid, value: s.value, flags: 0 });
      }
      if (clear) {
        current = '';
        const keep = new Set(specs.map((s) => s.uuid));
        for (const e of existing.values()) {
          if (!keep.has(e.uuid) && e.usageID.startsWith('ovirt/')) {
            this.o.log.info({ uuid: e.uuid, usageID: e.usageID }, 'unregistering secret (clear)');
            await this.#undefine(e.uuid);
          }
        }
      }
    } catch (err) {
      this.o.log.error({ uuid: current || undefined, err: errorMessage(err) }, 'could not register secrets');
      throw vdsmError(Errors.SECRET_REGISTER, `Error registering Libvirt secret${current !== '' ? ` ${current}` : ''}: ${errorMessage(err)}`);
    } finally {
      for (const s of specs) s.value.fill(0);
    }
    return true;
  }

  /** Remove these secrets; unknown ones are skipped (vdsm). A malformed uuid is error 72. */
  async unregister(uuids: readonly unknown[]): Promise<true> {
    const list = uuids.map((u) => canonicalUuid(u) ?? ((): never => { throw vdsmError(Errors.BAD_SECRET, `Bad secret request: invalid uuid ${JSON.stringify(u)}`); })());
    try {
      for (const uuid of list) {
        this.o.log.info({ uuid }, 'unregistering secret');
        await this.#undefine(uuid);
      }
    } catch (err) {
      this.o.log.error({ err: errorMessage(err) }, 'could not unregister secrets');
      throw vdsmError(Errors.SECRET_UNREGISTER, `Error unregistering Libvirt secret: ${errorMessage(err)}`);
    }
    return true;
  }

  /**
   * Remove every oVirt secret (usage id "ovirt/..."), as vdsm does when it starts: the engine registers
   * the ones it needs again when it connects the host to its storage pool. Best effort: failures are
   * logged; a connection without a secret driver (libvirt's test driver) has none to clear.
   */
  async clear(): Promise<void> {
    let list;
    try {
      list = await this.o.libvirt.call('libvirt.listAllSecrets', { flags: 0 });
    } catch (err) {
      if (isNoSupport(err)) this.o.log.debug('no secret driver on this libvirt connection; no secrets to clear');
      else this.o.log.warn({ err: errorMessage(err) }, 'could not list libvirt secrets to clear them');
      return;
    }
    for (const e of list.filter((x) => x.usageID.startsWith('ovirt/'))) {
      try {
        await this.#undefine(e.uuid);
        this.o.log.info({ uuid: e.uuid, usageID: e.usageID }, 'unregistered stale secret');
      } catch (err) {
        this.o.log.warn({ uuid: e.uuid, err: errorMessage(err) }, 'could not unregister a stale secret');
      }
    }
  }

  async #undefine(uuid: string): Promise<void> {
    try {
      await this.o.libvirt.call('libvirt.secretUndefine', { uuid });
    } catch (err) {
      if (!isNoSecret(err)) throw err;
      this.o.log.debug({ uuid }, 'no such secret');
    }
  }
}
