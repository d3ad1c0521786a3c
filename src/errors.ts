// The one catalogue of errors. Every error has a stable string code (what survives a worker hop or
// the helper's IPC, where classes are lost) and, when the engine can see it, vdsm's numeric code.

export interface ErrorSpec {
  /** Stable machine code, e.g. 'ERR_RESOURCE_EXHAUSTED'. */
  readonly code: string;
  /** vdsm's numeric code on the wire (JSON-RPC error.code), when the error reaches the engine. */
  readonly vdsmCode: number;
  /** vdsm's message prefix. */
  readonly message: string;
}

const spec = (code: string, vdsmCode: number, message: string): ErrorSpec => ({ code, vdsmCode, message });

/** vdsm's codes (lib/vdsm/common/exception.py and yajsonrpc) plus our own runtime codes. */
export const Errors = {
  // JSON-RPC 2.0
  PARSE: spec('ERR_JSONRPC_PARSE', -32700, 'Invalid JSON was received by the server. An error occurred on the server while parsing the JSON text.'),
  INVALID_REQUEST: spec('ERR_JSONRPC_INVALID_REQUEST', -32600, 'Invalid request'),
  METHOD_NOT_FOUND: spec('ERR_JSONRPC_METHOD_NOT_FOUND', -32601, 'The method does not exist or is not available'),
  INVALID_PARAMS: spec('ERR_JSONRPC_INVALID_PARAMS', -32602, 'Invalid method parameter(s)'),
  INTERNAL: spec('ERR_JSONRPC_INTERNAL', -32603, 'Internal JSON-RPC error'),
  RESPONSE_TOO_LARGE: spec('ERR_RESPONSE_TOO_LARGE', -32603, 'Response too large'),
  // vdsm
  NO_VM: spec('ERR_NO_VM', 1, 'Virtual machine does not exist'),
  FENCE_FAILED: spec('ERR_FENCE_FAILED', 1, 'Fence agent failed'),
  VM_EXISTS: spec('ERR_VM_EXISTS', 4, 'Virtual machine already exists'),
  VM_DOWN: spec('ERR_VM_DOWN', 6, 'Virtual machine is down'),
  CREATE: spec('ERR_VM_CREATE', 9, 'Error creating the requested VM'),
  MISSING_PARAM: spec('ERR_MISSING_PARAM', 11, 'Missing required parameter'),
  MIGRATE: spec('ERR_MIGRATE', 12, 'Fatal error during migration'),
  UNEXPECTED: spec('ERR_UNEXPECTED', 16, 'Unexpected exception'),
  TICKET: spec('ERR_TICKET', 18, 'Error setting VM ticket'),
  GUEST_AGENT_NONRESPONSIVE: spec('ERR_GUEST_AGENT_NONRESPONSIVE', 19, 'Guest agent non-responsive'),
  UNAVAILABLE: spec('ERR_UNAVAILABLE', 40, 'Resource unavailable'),
  DESTROY: spec('ERR_VM_DESTROY', 42, 'Virtual machine destroy error'),
  UNSUPPORTED_FENCE_AGENT: spec('ERR_UNSUPPORTED_FENCE_AGENT', 43, 'Unsupported fencing agent'),
  NOT_IMPLEMENTED: spec('ERR_NOT_IMPLEMENTED', 44, 'Not implemented'),
  CHANGE_DISK: spec('ERR_CHANGE_DISK', 41, 'Failed to change disk image'),
  HOTPLUG_DISK: spec('ERR_HOTPLUG_DISK', 45, 'Failed to hotplug disk'),
  HOTUNPLUG_DISK: spec('ERR_HOTUNPLUG_DISK', 46, 'Failed to hotunplug disk'),
  HOTPLUG_NIC: spec('ERR_HOTPLUG_NIC', 49, 'Failed to hotplug NIC'),
  HOTUNPLUG_NIC: spec('ERR_HOTUNPLUG_NIC', 50, 'Failed to hotunplug NIC'),
  BALLOON: spec('ERR_BALLOON', 53, 'Balloon operation is not available'),
  CPU_TUNE: spec('ERR_CPU_TUNE', 62, 'CpuTune operation is not available'),
  UPDATE_VM_POLICY: spec('ERR_UPDATE_VM_POLICY', 63, 'Failed to update VM SLA policy'),
  UPDATE_IOTUNE: spec('ERR_UPDATE_IOTUNE', 64, 'Failed to update ioTune values'),
  MIG_CANCEL: spec('ERR_MIG_CANCEL', 47, 'Migration not in progress'),
  SNAPSHOT: spec('ERR_SNAPSHOT', 48, 'Snapshot failed'),
  MIGRATION_IN_PROGRESS: spec('ERR_MIGRATION_IN_PROGRESS', 51, 'Command not supported during migration'),
  UPDATE_DEVICE: spec('ERR_UPDATE_DEVICE', 56, 'Failed to update device'),
  HWINFO: spec('ERR_HWINFO', 57, 'Failed to read hardware information'),
  TRANSIENT_DISKS: spec('ERR_TRANSIENT_DISKS', 59, 'Action not permitted on a VM with transient disks'),
  BAD_SECRET: spec('ERR_BAD_SECRET', 72, 'Bad secret request'),
  SECRET_REGISTER: spec('ERR_SECRET_REGISTER', 73, 'Error registering Libvirt secret'),
  SECRET_UNREGISTER: spec('ERR_SECRET_UNREGISTER', 74, 'Error unregistering Libvirt secret'),
  UNSUPPORTED_OPERATION: spec('ERR_UNSUPPORTED_OPERATION', 75, 'Operation not supported'),
  FREEZE: spec('ERR_FREEZE', 76, 'Failed to freeze guest filesystems'),
  THAW: spec('ERR_THAW', 77, 'Failed to thaw guest filesystems'),
  HOOK: spec('ERR_HOOK', 78, 'Hook error'),
  MIG_NOT_IN_PROGRESS: spec('ERR_MIG_NOT_IN_PROGRESS', 81, 'Migration not in progress'),
  MIGRATE_LIMIT: spec('ERR_MIGRATE_LIMIT', 82, 'Incoming migration limit exceeded'),
  INVALID_PARAMETER: spec('ERR_INVALID_PARAMETER', 91, 'Invalid parameter'),
  RESET_FAILED: spec('ERR_RESET_FAILED', 90, 'Failed to reset VM.'),
  RECOVERY: spec('ERR_RECOVERY', 99, 'Recovering from crash or Initializing'),
  GENERAL: spec('ERR_GENERAL', 100, 'General Exception'),
  INVALID_CONFIGURATION: spec('ERR_INVALID_CONFIGURATION', 101, 'Invalid configuration'),
  MIG_OPERATION: spec('ERR_MIG_OPERATION', 102, 'Error occurred during migration'),
  RESOURCE_EXHAUSTED: spec('ERR_RESOURCE_EXHAUSTED', 1100, 'Not enough resources'),
  // runtime (not vdsm codes; reach the engine as GENERAL)
  NOT_RUNNING: spec('ERR_NOT_RUNNING', 100, 'Not running'),
  ALREADY_STARTED: spec('ERR_ALREADY_STARTED', 100, 'Already started'),
  TASK_DISCARDED: spec('ERR_TASK_DISCARDED', 100, 'Task discarded after timeout'),
  WORKER_CRASHED: spec('ERR_WORKER_CRASHED', 100, 'Executor worker crashed'),
  /**
   * Thrown in a discarded worker by a native call it was let go from (native/offload/offload.h): the
   * call goes on in its own native call thread. Its task was already failed with TASK_DISCARDED.
   */
  NATIVE_CALL_ABANDONED: spec('ERR_NATIVE_CALL_ABANDONED', 100, 'Native call abandoned'),
  UNKNOWN_OPERATION: spec('ERR_UNKNOWN_OPERATION', 100, 'Unknown executor operation'),
  LIBVIRT: spec('ERR_LIBVIRT', 100, 'libvirt error'),
  LIBVIRT_CONNECTION: spec('ERR_LIBVIRT_CONNECTION', 100, 'libvirt connection unavailable'),
  ALREADY_RUNNING: spec('ERR_ALREADY_RUNNING', 100, 'Another instance is running'),
  // supervdsm: the privileged helper and its RPC (src/supervdsm/). The codes cross the helper's socket.
  KSM: spec('ERR_KSM', 71, 'Failed to set KSM tuning parameters'),
  SVDSM_UNAVAILABLE: spec('ERR_SVDSM_UNAVAILABLE', 40, 'supervdsm is not available'),
  SVDSM_CONNECTION_LOST: spec('ERR_SVDSM_CONNECTION_LOST', 100, 'Connection to supervdsm lost during the call'),
  SVDSM_TIMEOUT: spec('ERR_SVDSM_TIMEOUT', 100, 'supervdsm call deadline passed'),
  SVDSM_PROTOCOL: spec('ERR_SVDSM_PROTOCOL', 100, 'supervdsm protocol mismatch'),
  SVDSM_PEER_REFUSED: spec('ERR_SVDSM_PEER_REFUSED', 100, 'Connection refused: the peer user may not use supervdsm'),
  SVDSM_BAD_FRAME: spec('ERR_SVDSM_BAD_FRAME', 100, 'Malformed supervdsm frame'),
  SVDSM_BAD_REQUEST: spec('ERR_SVDSM_BAD_REQUEST', 100, 'Malformed supervdsm request'),
  SVDSM_UNKNOWN_METHOD: spec('ERR_SVDSM_UNKNOWN_METHOD', 100, 'No such supervdsm function'),
  SVDSM_INVALID_ARGUMENT: spec('ERR_SVDSM_INVALID_ARGUMENT', 91, 'Invalid argument to a supervdsm function'),
  SVDSM_PATH_NOT_ALLOWED: spec('ERR_SVDSM_PATH_NOT_ALLOWED', 91, 'Path outside the roots this supervdsm function may touch'),
  SVDSM_NOT_ALLOWED: spec('ERR_SVDSM_NOT_ALLOWED', 91, 'Not on the list of what this supervdsm function may act on'),
  SVDSM_COMMAND_FAILED: spec('ERR_SVDSM_COMMAND_FAILED', 100, 'A command run by supervdsm failed'),
  SVDSM_OS_ERROR: spec('ERR_SVDSM_OS_ERROR', 100, 'A system call made by supervdsm failed'),
  SVDSM_ACCESS_DENIED: spec('ERR_SVDSM_ACCESS_DENIED', 100, 'Permission denied'),
  SVDSM_NO_DMI: spec('ERR_SVDSM_NO_DMI', 57, 'This host has no DMI (SMBIOS) tables'),
  SVDSM_RESULT_TOO_LARGE: spec('ERR_SVDSM_RESULT_TOO_LARGE', 100, 'supervdsm result larger than the frame size limit'),
  SVDSM_INTERNAL: spec('ERR_SVDSM_INTERNAL', 100, 'Unexpected error in supervdsm'),
  // storage (lib/vdsm/storage/exception.py): codes below 5000, messages as vdsm words them
  SD_STORAGE: spec('ERR_SD_STORAGE', 200, 'General Storage Exception'),
  SD_VOLUME_DOES_NOT_EXIST: spec('ERR_SD_VOLUME_DOES_NOT_EXIST', 201, 'Volume does not exist'),
  SD_INCORRECT_FORMAT: spec('ERR_SD_INCORRECT_FORMAT', 202, 'Incorrect Volume format'),
  SD_VOLUME_HAS_CHILDREN: spec('ERR_SD_VOLUME_HAS_CHILDREN', 204, 'Cannot delete volume which has children (non-ethical)'),
  SD_VOLUME_CREATION: spec('ERR_SD_VOLUME_CREATION', 205, 'Error creating a new volume'),
  SD_VOLUME_METADATA_READ: spec('ERR_SD_VOLUME_METADATA_READ', 207, 'Error while processing volume meta data'),
  SD_VOLUME_METADATA_WRITE: spec('ERR_SD_VOLUME_METADATA_WRITE', 208, 'Error while updating volume meta data'),
  SD_VOLUME_ALREADY_EXISTS: spec('ERR_SD_VOLUME_ALREADY_EXISTS', 212, 'Volume already exists'),
  SD_CANNOT_DELETE_VOLUME: spec('ERR_SD_CANNOT_DELETE_VOLUME', 222, 'Volume deletion error'),
  SD_CANNOT_DELETE_SHARED_VOLUME: spec('ERR_SD_CANNOT_DELETE_SHARED_VOLUME', 223, 'Shared Volume cannot be deleted'),
  SD_VOLUME_COPY: spec('ERR_SD_VOLUME_COPY', 225, 'Volume copy failed'),
  SD_ILLEGAL_SNAPSHOT_PARENT: spec('ERR_SD_ILLEGAL_SNAPSHOT_PARENT', 226, 'Cannot create volume snapshot from illegal volume'),
  SD_PREPARE_ILLEGAL_VOLUME: spec('ERR_SD_PREPARE_ILLEGAL_VOLUME', 227, 'Cannot prepare illegal volume'),
  SD_VOLUME_SIZE: spec('ERR_SD_VOLUME_SIZE', 229, 'Requested size is too small. Must be larger or equal to 1'),
  SD_INCORRECT_TYPE: spec('ERR_SD_INCORRECT_TYPE', 231, 'Incorrect Volume Preallocate Type'),
  SD_IMAGE_PATH: spec('ERR_SD_IMAGE_PATH', 254, 'Image path does not exist or cannot be accessed/created'),
  SD_IMAGE_DELETE: spec('ERR_SD_IMAGE_DELETE', 256, "Could not remove all image's volumes"),
  SD_COPY_IMAGE: spec('ERR_SD_COPY_IMAGE', 261, 'low level Image copy failed'),
  SD_IMAGE_NOT_IN_DOMAIN: spec('ERR_SD_IMAGE_NOT_IN_DOMAIN', 268, 'Image does not exist in domain'),
  SD_POOL_CREATION: spec('ERR_SD_POOL_CREATION', 301, 'Error creating a storage pool'),
  SD_POOL_CONNECTION: spec('ERR_SD_POOL_CONNECTION', 302, 'Error storage pool connection'),
  SD_POOL_MASTER_NOT_FOUND: spec('ERR_SD_POOL_MASTER_NOT_FOUND', 304, 'Cannot find master domain'),
  SD_POOL_UNKNOWN: spec('ERR_SD_POOL_UNKNOWN', 309, 'Unknown pool id, pool not connected'),
  SD_POOL_NOT_CONNECTED: spec('ERR_SD_POOL_NOT_CONNECTED', 313, 'Storage pool not connected'),
  SD_CANNOT_CONNECT_MULTIPLE_POOLS: spec('ERR_SD_CANNOT_CONNECT_MULTIPLE_POOLS', 323, 'Cannot connect pool, already connected to another pool'),
  SD_POOL_WRONG_MASTER: spec('ERR_SD_POOL_WRONG_MASTER', 324, 'Wrong Master domain or its version'),
  SD_POOL_CONNECTED: spec('ERR_SD_POOL_CONNECTED', 325, 'Cannot perform action while storage pool is connected'),
  SD_DOMAIN_ACTION: spec('ERR_SD_DOMAIN_ACTION', 350, 'Error in storage domain action'),
  SD_DOMAIN_CREATION: spec('ERR_SD_DOMAIN_CREATION', 351, 'Error creating a storage domain'),
  SD_DOMAIN_NOT_IN_POOL: spec('ERR_SD_DOMAIN_NOT_IN_POOL', 353, 'Storage domain not in pool'),
  SD_DOMAIN_DOES_NOT_EXIST: spec('ERR_SD_DOMAIN_DOES_NOT_EXIST', 358, 'Storage domain does not exist'),
  SD_FS_NOT_MOUNTED: spec('ERR_SD_FS_NOT_MOUNTED', 360, 'Storage domain remote path not mounted'),
  SD_DOMAIN_NOT_EMPTY: spec('ERR_SD_DOMAIN_NOT_EMPTY', 361, 'Storage domain is not empty - requires cleaning'),
  SD_DOMAIN_METADATA_CREATION: spec('ERR_SD_DOMAIN_METADATA_CREATION', 362, "Error creating a storage domain's metadata"),
  SD_DOMAIN_METADATA_NOT_FOUND: spec('ERR_SD_DOMAIN_METADATA_NOT_FOUND', 364, 'Storage domain invalid, metadata not found'),
  SD_DOMAIN_ALREADY_EXISTS: spec('ERR_SD_DOMAIN_ALREADY_EXISTS', 365, 'Storage domain already exists'),
  SD_DOMAIN_NOT_ACTIVE: spec('ERR_SD_DOMAIN_NOT_ACTIVE', 369, 'Storage domain not active'),
  SD_DOMAIN_TYPE: spec('ERR_SD_DOMAIN_TYPE', 372, 'Unsupported Storage Domain type'),
  SD_DOMAIN_NOT_MEMBER_OF_POOL: spec('ERR_SD_DOMAIN_NOT_MEMBER_OF_POOL', 375, 'Domain is not member in pool'),
  SD_DOMAIN_STATUS: spec('ERR_SD_DOMAIN_STATUS', 376, 'Unsupported Storage Domain status'),
  SD_DOMAIN_ACCESS: spec('ERR_SD_DOMAIN_ACCESS', 379, 'Domain is either partially accessible or entirely inaccessible'),
  SD_DOMAIN_ALREADY_ATTACHED: spec('ERR_SD_DOMAIN_ALREADY_ATTACHED', 380, 'Storage domain already attached to pool'),
  SD_CANNOT_DETACH_MASTER: spec('ERR_SD_CANNOT_DETACH_MASTER', 383, 'Illegal action'),
  SD_DOMAIN_CLASS: spec('ERR_SD_DOMAIN_CLASS', 386, 'Invalid domain class value'),
  SD_ILLEGAL_REMOTE_PATH: spec('ERR_SD_ILLEGAL_REMOTE_PATH', 390, 'Remote path is illegal'),
  SD_UNSUPPORTED_DOMAIN_VERSION: spec('ERR_SD_UNSUPPORTED_DOMAIN_VERSION', 394, 'Domain version is unsupported by this version of VDSM'),
  SD_NO_SPACE_LEFT: spec('ERR_SD_NO_SPACE_LEFT', 397, 'No space left on domain'),
  SD_MIXED_VERSION: spec('ERR_SD_MIXED_VERSION', 398, 'Domain version is different from the master domain version'),
  TASK_UNKNOWN: spec('ERR_TASK_UNKNOWN', 401, 'Task id unknown'),
  TASK_NOT_FINISHED: spec('ERR_TASK_NOT_FINISHED', 403, 'Task not finished'),
  TASK_ADD: spec('ERR_TASK_ADD', 405, 'TaskManager error, unable to add task'),
  TASK_METADATA_LOAD: spec('ERR_TASK_METADATA_LOAD', 408, "Can't load Task Metadata"),
  TASK_DIR: spec('ERR_TASK_DIR', 409, "can't find/access task dir"),
  TASK_STATE: spec('ERR_TASK_STATE', 410, 'Operation is not allowed in this task state'),
  TASK_ABORTED: spec('ERR_TASK_ABORTED', 411, 'Task is aborted'),
  TASK_PERSIST: spec('ERR_TASK_PERSIST', 413, "Can't persist task"),
  TASK_STATE_TRANSITION: spec('ERR_TASK_STATE_TRANSITION', 441, 'cannot move task to requested state'),
  SD_SERVER_CONNECTION: spec('ERR_SD_SERVER_CONNECTION', 451, 'Error storage server connection'),
  SD_MOUNT: spec('ERR_SD_MOUNT', 477, 'Problem while trying to mount target'),
  SD_SPM_START: spec('ERR_SD_SPM_START', 650, 'Error starting SPM'),
  SD_ACQUIRE_LOCK: spec('ERR_SD_ACQUIRE_LOCK', 651, 'Cannot obtain lock'),
  SD_SPM_STOP: spec('ERR_SD_SPM_STOP', 653, 'Error stopping SPM, SPM has unfinished task(s)'),
  SD_NOT_SPM: spec('ERR_SD_NOT_SPM', 654, 'Not SPM'),
  SD_IS_SPM: spec('ERR_SD_IS_SPM', 656, 'Operation not allowed while SPM is active'),
  SD_METADATA_SEAL_BROKEN: spec('ERR_SD_METADATA_SEAL_BROKEN', 752, 'Meta Data seal is broken (checksum mismatch)'),
  SD_INVALID_PARAMETER: spec('ERR_SD_INVALID_PARAMETER', 1000, 'Invalid parameter'),
  SD_FILE_READ: spec('ERR_SD_FILE_READ', 2001, 'Internal file read failure'),
  SD_VOLUMES_ZEROING: spec('ERR_SD_VOLUMES_ZEROING', 374, 'Cannot zero out volume'),
  ACTION_STOPPED: spec('ERR_ACTION_STOPPED', 443, 'Action was stopped'),
  HOST_FACTS: spec('ERR_HOST_FACTS', 100, 'Malformed host information'),
  LIFECYCLE_STATE: spec('ERR_LIFECYCLE_STATE', 100, 'Not allowed in this lifecycle state'),
  STATE_WRITE: spec('ERR_STATE_WRITE', 100, 'Could not record the change in the state directory (nothing was changed)'),
  // host networking (vdsm's lib/vdsm/network/errors.py): setupNetworks answers these codes with the detail alone
  NET_LOST_CONNECTION: spec('ERR_NET_LOST_CONNECTION', 10, 'connectivity check failed'),
  NET_BAD_PARAMS: spec('ERR_NET_BAD_PARAMS', 21, 'Bad network parameters'),
  NET_BAD_ADDR: spec('ERR_NET_BAD_ADDR', 22, 'Bad network address'),
  NET_BAD_NIC: spec('ERR_NET_BAD_NIC', 23, 'Bad network interface'),
  NET_USED_NIC: spec('ERR_NET_USED_NIC', 24, 'Network interface already in use'),
  NET_BAD_BONDING: spec('ERR_NET_BAD_BONDING', 25, 'Bad bonding'),
  NET_BAD_VLAN: spec('ERR_NET_BAD_VLAN', 26, 'Bad VLAN'),
  NET_BAD_BRIDGE: spec('ERR_NET_BAD_BRIDGE', 27, 'Bad network name'),
  NET_USED_BRIDGE: spec('ERR_NET_USED_BRIDGE', 28, 'Network already in use'),
  NET_FAILED_IFUP: spec('ERR_NET_FAILED_IFUP', 29, 'Failed to apply the network configuration'),
  NET_FAILED_IFDOWN: spec('ERR_NET_FAILED_IFDOWN', 30, 'Failed to remove the network configuration'),
  NET_USED_BOND: spec('ERR_NET_USED_BOND', 31, 'Bond in use'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof Errors;

/** Context values, rendered vdsm-style: "<message>: {'key': 'value'}". */
export type ErrorContext = Record<string, unknown>;

export class VdsmError extends Error {
  readonly code: string;
  readonly vdsmCode: number;
  readonly context: ErrorContext | undefined;

  constructor(which: ErrorSpec, detail?: string | ErrorContext, options?: { cause?: unknown }) {
    const context = typeof detail === 'object' ? detail : undefined;
    const text = typeof detail === 'string' ? detail : context ? `${which.message}: ${pyRepr(context)}` : which.message;
    super(text, options);
    this.name = 'VdsmError';
    this.code = which.code;
    this.vdsmCode = which.vdsmCode;
    this.context = context;
  }

  /** Plain data, for crossing a worker or IPC boundary. */
  toJSON(): { name: string; code: string; vdsmCode: number; message: string; context?: ErrorContext } {
    return { name: this.name, code: this.code, vdsmCode: this.vdsmCode, message: this.message, ...(this.context ? { context: this.context } : {}) };
  }
}

/** Construct a catalogued error. */
export function vdsmError(which: ErrorSpec, detail?: string | ErrorContext, options?: { cause?: unknown }): VdsmError {
  return new VdsmError(which, detail, options);
}

/**
 * `cause` wrapped in catalogued error `which`, vdsm-style: "<which.message>: <the cause's message>",
 * the cause kept (logs show it, libvirt's numbers stay readable through it).
 */
export function wrapError(which: ErrorSpec, cause: unknown, context?: ErrorContext): VdsmError {
  const err = new VdsmError(which, `${which.message}: ${errorMessage(cause)}`, { cause });
  if (context !== undefined) Object.defineProperty(err, 'context', { value: context, enumerable: true });
  return err;
}

/** The message of any thrown value (an Error's message, anything else as a string). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}

/** True when `err` carries the given catalogue entry's code (works across worker boundaries). */
export function isError(err: unknown, which: ErrorSpec): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === which.code;
}

const specByCode: ReadonlyMap<string, ErrorSpec> = new Map(Object.values(Errors).map((s) => [s.code, s]));

/** The catalogue entry with this stable code (errors that crossed a thread keep only their code). */
export function errorSpec(code: unknown): ErrorSpec | undefined {
  return typeof code === 'string' ? specByCode.get(code) : undefined;
}

/** Render a value the way vdsm's Python repr shows context dicts, e.g. {'vmId': 'abc'}. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return value.includes("'") && !value.includes('"') ? `"${value}"` : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
  }
  return String(value);
}

/** Python's repr of a tuple, as vdsm's GeneralException shows its args: ('a',), ('a', 1), (). */
export function pyTuple(values: readonly unknown[]): string {
  return `(${values.map(pyRepr).join(', ')}${values.length === 1 ? ',' : ''})`;
}

/**
 * A storage error worded as vdsm's GeneralException subclasses print: "<message>: ('arg',)". With
 * `value` (a string an exception sets itself, e.g. InvalidParameterException's "name=value") the text
 * is "<message>: '<value>'".
 */
export function storageError(which: ErrorSpec, args: readonly unknown[] | { value: string }, options?: { cause?: unknown }): VdsmError {
  const text = Array.isArray(args) ? `${which.message}: ${pyTuple(args)}` : `${which.message}: ${pyRepr((args as { value: string }).value)}`;
  return new VdsmError(which, text, options);
}

/**
 * pyRepr cut to about `max` characters ("..." marks the cut), without rendering more than that: safe on
 * huge or deeply nested client input.
 */
export function pyReprBounded(value: unknown, max: number): string {
  let out = '';
  const put = (t: string): boolean => {
    out += t;
    return out.length < max;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > 16) return put('...');
    if (Array.isArray(v)) {
      if (!put('[')) return false;
      for (let i = 0; i < v.length; i++) if ((i > 0 && !put(', ')) || !walk(v[i], depth + 1)) return false;
      return put(']');
    }
    if (v !== null && typeof v === 'object') {
      if (!put('{')) return false;
      let first = true;
      for (const k in v as Record<string, unknown>) {
        if (!Object.hasOwn(v, k)) continue;
        if ((!first && !put(', ')) || !put(`${pyRepr(k.length > max ? k.slice(0, max) : k)}: `) || !walk((v as Record<string, unknown>)[k], depth + 1)) return false;
        first = false;
      }
      return put('}');
    }
    if (typeof v === 'string' && v.length > max) return put(pyRepr(v.slice(0, max)));
    return put(pyRepr(v));
  };
  return walk(value, 0) ? out : `${out.slice(0, max)}...`;
}
