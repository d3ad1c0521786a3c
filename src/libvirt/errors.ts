// libvirt errors on the main side of the worker boundary. The binding throws Errors with a stable code
// (ERR_LIBVIRT_<NAME>) and libvirt's numbers; worker operations move those numbers into `context`
// (toTransferableLibvirtError in ./binding.ts); here they are read back and mapped onto vdsm's catalogue.
import { Errors, VdsmError, type ErrorSpec } from '../errors.js';
import { VirErrorCode, VirErrorDomain } from './constants.js';
import { VIR_ERROR_NUMBERS } from './vir-error-numbers.js';

export interface LibvirtErrorInfo {
  /** ERR_LIBVIRT_<NAME>, e.g. ERR_LIBVIRT_NO_DOMAIN */
  code: string;
  /** virErrorNumber, e.g. 42 */
  virCode: number;
  /** virErrorDomain, e.g. 13 (REMOTE) */
  virDomain: number;
  virMessage: string;
  /** the libvirt function that failed */
  call?: string;
}

interface Loose {
  code?: unknown; message?: unknown; virCode?: unknown; virDomain?: unknown; virMessage?: unknown; call?: unknown;
  context?: Record<string, unknown>;
}

const PREFIX = 'ERR_LIBVIRT_';

/**
 * libvirt's error details from a binding error, a wire error or a mapped VdsmError (or its cause); undefined otherwise.
 * When only the stable code survived (an error rebuilt without its context), the number comes from the
 * code's name and the error domain is unknown (0).
 */
export function libvirtErrorInfo(err: unknown): LibvirtErrorInfo | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  // A catalogued error made from a libvirt one (NO_VM for a missing domain) keeps it as its cause.
  return ownInfo(err as Loose) ?? libvirtErrorInfo((err as { cause?: unknown }).cause);
}

function ownInfo(e: Loose): LibvirtErrorInfo | undefined {
  const src: Loose = typeof e.virCode === 'number' ? e : (e.context ?? {});
  if (typeof src.virCode !== 'number') {
    const virCode = typeof e.code === 'string' && e.code.startsWith(PREFIX) ? VIR_ERROR_NUMBERS[e.code.slice(PREFIX.length)] : undefined;
    if (virCode === undefined) return undefined;
    return { code: e.code as string, virCode, virDomain: 0, virMessage: typeof e.message === 'string' ? e.message : '' };
  }
  const info: LibvirtErrorInfo = {
    code: typeof src.code === 'string' ? src.code : typeof e.code === 'string' ? e.code : `ERR_LIBVIRT_${src.virCode}`,
    virCode: src.virCode,
    virDomain: typeof src.virDomain === 'number' ? src.virDomain : 0,
    virMessage: typeof src.virMessage === 'string' ? src.virMessage : typeof e.message === 'string' ? e.message : '',
  };
  if (typeof src.call === 'string') info.call = src.call;
  return info;
}

/** True for libvirt's "domain not found" (code 42), in any of the forms above. */
export function isNoDomain(err: unknown): boolean {
  return libvirtErrorInfo(err)?.virCode === VirErrorCode.NO_DOMAIN;
}

/** True for "not supported by the connection driver" (code 3), e.g. agent calls on the test driver. */
export function isNoSupport(err: unknown): boolean {
  return libvirtErrorInfo(err)?.virCode === VirErrorCode.NO_SUPPORT;
}

/**
 * vdsm's rule for "maybe the connection broke": an error from the REMOTE or RPC domain with code
 * SYSTEM_ERROR, INTERNAL_ERROR, NO_CONNECT or INVALID_CONN; or the binding saying the id is not open.
 * The manager then checks liveness before declaring the connection lost.
 */
export function isConnectionSuspect(err: unknown): boolean {
  if ((err as { code?: unknown } | null)?.code === 'ERR_LIBVIRT_NO_CONNECTION') return true;
  const info = libvirtErrorInfo(err);
  if (!info) return false;
  // Domain 0 (unknown, e.g. the number was recovered from the code alone): let the ping decide.
  const domainOk = info.virDomain === 0 || info.virDomain === VirErrorDomain.REMOTE || info.virDomain === VirErrorDomain.RPC;
  const codes: number[] = [VirErrorCode.SYSTEM_ERROR, VirErrorCode.INTERNAL_ERROR, VirErrorCode.NO_CONNECT, VirErrorCode.INVALID_CONN];
  return domainOk && codes.includes(info.virCode);
}

/**
 * Main side: a libvirt failure as a catalogued error. NO_DOMAIN on a call about a known VM becomes
 * Errors.NO_VM with { vmId }; other libvirt errors keep their ERR_LIBVIRT_<NAME> code (vdsm code 100)
 * with libvirt's numbers in context. Non-libvirt errors are returned unchanged.
 */
export function mapLibvirtError(err: unknown, ctx: { vmId?: string } = {}): unknown {
  const info = libvirtErrorInfo(err);
  if (!info) return err;
  if (info.virCode === VirErrorCode.NO_DOMAIN && ctx.vmId !== undefined) {
    return new VdsmError(Errors.NO_VM, { vmId: ctx.vmId }, { cause: err });
  }
  const spec: ErrorSpec = { code: info.code, vdsmCode: Errors.LIBVIRT.vdsmCode, message: info.virMessage || Errors.LIBVIRT.message };
  return new VdsmError(spec, { ...info, ...(ctx.vmId !== undefined ? { vmId: ctx.vmId } : {}) }, { cause: err });
}
