// The engine's type rules for what the agent sends (engine-wire.md §2, §5, §6, §7), as checks that return
// a list of violations (empty = the engine would accept it). Used by unit tests and the engine-sequence test.

export type Violations = string[];

type Obj = Record<string, unknown>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT_STRING_RE = /^-?\d+$/;
const NUMERIC_STRING_RE = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** The engine's VmPauseStatus names (what a pauseCode may be). */
export const PAUSE_CODES: readonly string[] = ['NONE', 'EOTHER', 'EIO', 'ENOSPC', 'EPERM', 'NOERR', 'POSTCOPY'];

export const VM_STATUSES: readonly string[] = [
  'Down', 'Up', 'Powering up', 'Powering down', 'Paused', 'WaitForLaunch', 'Migration Source', 'Migration Destination',
  'Saving State', 'Restoring state', 'RebootInProgress',
];

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return `${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v} ${s === undefined ? '' : s.length > 60 ? `${s.slice(0, 60)}...` : s}`;
}

class Checker {
  readonly out: Violations = [];

  fail(path: string, rule: string, v: unknown): void {
    this.out.push(`${path}: ${rule}, got ${describe(v)}`);
  }

  /** JSON int or integer numeric string; never a fractional number (ClassCastException / NFE). */
  intLike(path: string, v: unknown, required = true): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required int or numeric string', v);
      return;
    }
    if (typeof v === 'number' && Number.isInteger(v)) return;
    if (typeof v === 'string' && INT_STRING_RE.test(v)) return;
    this.fail(path, 'must be a JSON int or an integer string (never a float)', v);
  }

  /** A JSON integer, exactly (hard casts to Integer). */
  int(path: string, v: unknown, required = true): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required JSON int', v);
      return;
    }
    if (!(typeof v === 'number' && Number.isInteger(v))) this.fail(path, 'must be a JSON int', v);
  }

  /** Fractional/percent values: a numeric string ("1.50"). A JS number would reach Java as Integer when whole. */
  fracString(path: string, v: unknown, required = true): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required numeric string', v);
      return;
    }
    if (typeof v === 'string' && NUMERIC_STRING_RE.test(v)) return;
    this.fail(path, 'must be a numeric string like "1.50"', v);
  }

  str(path: string, v: unknown, required = true): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required string', v);
      return;
    }
    if (typeof v !== 'string') this.fail(path, 'must be a string', v);
  }

  bool(path: string, v: unknown, required = true): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required boolean', v);
      return;
    }
    if (typeof v !== 'boolean') this.fail(path, 'must be a boolean', v);
  }

  boolish(path: string, v: unknown, required = false): void {
    if (v === undefined) {
      if (required) this.fail(path, 'required bool or "true"/"false"', v);
      return;
    }
    if (typeof v === 'boolean') return;
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return;
    this.fail(path, 'must be a boolean or "true"/"false"', v);
  }

  obj(path: string, v: unknown, required = true): v is Obj {
    if (v === undefined) {
      if (required) this.fail(path, 'required object', v);
      return false;
    }
    if (!isObj(v)) {
      this.fail(path, 'must be an object', v);
      return false;
    }
    return true;
  }

  arr(path: string, v: unknown, required = true): v is unknown[] {
    if (v === undefined) {
      if (required) this.fail(path, 'required array', v);
      return false;
    }
    if (!Array.isArray(v)) {
      this.fail(path, 'must be an array', v);
      return false;
    }
    return true;
  }

  strArray(path: string, v: unknown, required = true): void {
    if (this.arr(path, v, required)) v.forEach((x, i) => this.str(`${path}[${i}]`, x));
  }

  intArray(path: string, v: unknown, required = true): void {
    if (this.arr(path, v, required)) v.forEach((x, i) => this.int(`${path}[${i}]`, x));
  }

  numericKeys(path: string, v: Obj): void {
    for (const k of Object.keys(v)) if (!INT_STRING_RE.test(k)) this.fail(`${path}.${k}`, 'keys must be numeric', k);
  }

  /** Every fractional JS number anywhere below `v` (they must travel as strings). */
  noFractions(path: string, v: unknown): void {
    if (typeof v === 'number' && !Number.isInteger(v)) this.fail(path, 'fractional values must be strings', v);
    else if (Array.isArray(v)) v.forEach((x, i) => this.noFractions(`${path}[${i}]`, x));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) this.noFractions(`${path}.${k}`, x);
  }
}

export interface CapabilitiesCheckOptions {
  /** Require vmx or svm and nx in cpuFlags (a host the engine can run VMs on). */
  requireVirtFlags?: boolean;
  /** The cluster management network that must be reported bridged (engine-wire.md §5.3). */
  managementNetwork?: string;
  /** The address the engine uses for the host; must be the management bridge's address. */
  hostAddress?: string;
}

function checkNetworkCaps(c: Checker, caps: Obj, opts: CapabilitiesCheckOptions): void {
  const addrFields = (path: string, d: Obj): void => {
    for (const k of ['addr', 'netmask', 'gateway']) c.str(`${path}.${k}`, d[k], false);
    c.strArray(`${path}.ipv6addrs`, d['ipv6addrs'], false);
    if (d['mtu'] !== undefined) c.intLike(`${path}.mtu`, d['mtu']);
  };
  for (const group of ['nics', 'bondings', 'vlans', 'bridges', 'networks'] as const) {
    if (!c.obj(group, caps[group])) continue;
    for (const [name, d] of Object.entries(caps[group] as Obj)) {
      const path = `${group}.${name}`;
      if (!c.obj(path, d)) continue;
      addrFields(path, d);
      if (group === 'nics') {
        c.int(`${path}.speed`, d['speed']);
        c.str(`${path}.hwaddr`, d['hwaddr']);
        c.str(`${path}.ad_aggregator_id`, d['ad_aggregator_id'], false);
      } else if (group === 'bondings') {
        c.strArray(`${path}.slaves`, d['slaves']);
        if (c.obj(`${path}.opts`, d['opts'])) for (const [k, v] of Object.entries(d['opts'] as Obj)) c.str(`${path}.opts.${k}`, v);
      } else if (group === 'vlans') {
        c.int(`${path}.vlanid`, d['vlanid']);
        c.str(`${path}.iface`, d['iface']);
      } else if (group === 'bridges') {
        c.strArray(`${path}.ports`, d['ports']);
      } else {
        c.str(`${path}.switch`, d['switch']);
        c.bool(`${path}.bridged`, d['bridged']);
        c.str(`${path}.iface`, d['iface']);
      }
    }
  }
  c.strArray('nameservers', caps['nameservers']);
  if (opts.managementNetwork !== undefined) {
    const name = opts.managementNetwork;
    const net = isObj(caps['networks']) ? (caps['networks'] as Obj)[name] : undefined;
    if (!isObj(net)) {
      c.fail(`networks.${name}`, 'the management network must be reported', net);
      return;
    }
    if (net['bridged'] !== true) c.fail(`networks.${name}.bridged`, 'the management network must be bridged', net['bridged']);
    const bridge = isObj(caps['bridges']) ? (caps['bridges'] as Obj)[String(net['iface'])] : undefined;
    if (!isObj(bridge)) {
      c.fail(`bridges.${String(net['iface'])}`, 'the management network bridge must be reported', bridge);
      return;
    }
    const ports = Array.isArray(bridge['ports']) ? (bridge['ports'] as unknown[]) : [];
    const known = (p: unknown): boolean => ['nics', 'bondings', 'vlans'].some((g) => isObj(caps[g]) && (caps[g] as Obj)[String(p)] !== undefined);
    if (!ports.some(known)) c.fail(`bridges.${String(net['iface'])}.ports`, 'must hold a port that exists in nics/bondings/vlans', ports);
    if (opts.hostAddress !== undefined) {
      const v6 = Array.isArray(bridge['ipv6addrs']) ? (bridge['ipv6addrs'] as string[]).map((a) => a.split('/')[0]) : [];
      if (bridge['addr'] !== opts.hostAddress && !v6.includes(opts.hostAddress)) c.fail(`bridges.${String(net['iface'])}.addr`, `must carry the host address ${opts.hostAddress}`, bridge['addr']);
    }
  }
}

export function checkCapabilities(caps: unknown, opts: CapabilitiesCheckOptions = {}): Violations {
  const c = new Checker();
  if (!c.obj('caps', caps)) return c.out;
  // MUST
  if (c.obj('HBAInventory', caps['HBAInventory'])) {
    for (const [k, v] of Object.entries(caps['HBAInventory'] as Obj)) c.arr(`HBAInventory.${k}`, v);
  }
  c.strArray('emulatedMachines', caps['emulatedMachines']);
  if (Array.isArray(caps['emulatedMachines']) && caps['emulatedMachines'].length === 0) c.fail('emulatedMachines', 'must not be empty (the cluster needs one of its machine types)', caps['emulatedMachines']);
  // NEEDED
  c.str('cpuFlags', caps['cpuFlags']);
  if (typeof caps['cpuFlags'] === 'string') {
    const flags = caps['cpuFlags'].split(',');
    if (!flags.some((f) => f.startsWith('model_'))) c.fail('cpuFlags', 'must contain model_<X> entries', caps['cpuFlags']);
    if (opts.requireVirtFlags === true && !(flags.includes('vmx') || flags.includes('svm'))) c.fail('cpuFlags', 'must contain vmx or svm', caps['cpuFlags']);
    if (opts.requireVirtFlags === true && !flags.includes('nx')) c.fail('cpuFlags', 'must contain nx', caps['cpuFlags']);
  }
  c.strArray('clusterLevels', caps['clusterLevels']);
  c.strArray('supportedENGINEs', caps['supportedENGINEs'], false);
  if (c.obj('packages2', caps['packages2'])) {
    const pk = caps['packages2'] as Obj;
    for (const [name, v] of Object.entries(pk)) {
      if (!c.obj(`packages2.${name}`, v)) continue;
      c.str(`packages2.${name}.version`, v['version']);
      c.str(`packages2.${name}.release`, v['release']);
    }
    const vdsm = pk['vdsm'];
    if (!isObj(vdsm)) c.fail('packages2.vdsm', 'required', vdsm);
    else {
      const mm = String(vdsm['version']).split('.').slice(0, 2).join('.');
      const engines = Array.isArray(caps['supportedENGINEs']) ? caps['supportedENGINEs'] : [];
      if (!['4.20', '4.30', '4.40', '4.50'].includes(mm) && engines.length === 0) c.fail('packages2.vdsm.version', 'major.minor must be 4.20/4.30/4.40/4.50', vdsm['version']);
    }
  }
  if (!(caps['kvmEnabled'] === 'true' || caps['kvmEnabled'] === 'false' || typeof caps['kvmEnabled'] === 'boolean')) c.fail('kvmEnabled', 'must be "true"/"false"', caps['kvmEnabled']);
  if (c.arr('rngSources', caps['rngSources'])) {
    const r = caps['rngSources'] as unknown[];
    if (!r.includes('random') && !r.includes('urandom')) c.fail('rngSources', 'must include "random" or "urandom"', r);
  }
  for (const k of ['cpuCores', 'cpuThreads', 'cpuSockets', 'memSize', 'reservedMem', 'guestOverhead']) c.intLike(k, caps[k]);
  for (const k of ['kdumpStatus', 'autoNumaBalancing', 'bootTime']) c.intLike(k, caps[k], false);
  if (typeof caps['cpuSpeed'] === 'number') {
    if (Number.isInteger(caps['cpuSpeed'])) c.fail('cpuSpeed', 'a JSON int becomes null: send a string', caps['cpuSpeed']);
  } else c.str('cpuSpeed', caps['cpuSpeed']);
  for (const k of ['cpuModel', 'onlineCpus', 'kernelArgs', 'ISCSIInitiatorName', 'version_name', 'software_version']) c.str(k, caps[k]);
  for (const k of ['build_name', 'tscFrequency', 'boot_uuid']) c.str(k, caps[k], false);
  if (c.obj('operatingSystem', caps['operatingSystem'])) {
    for (const k of ['name', 'version', 'release', 'pretty_name']) c.str(`operatingSystem.${k}`, (caps['operatingSystem'] as Obj)[k]);
  }
  if (c.obj('selinux', caps['selinux'], false)) {
    const mode = (caps['selinux'] as Obj)['mode'];
    if (!(typeof mode === 'string' || (typeof mode === 'number' && Number.isInteger(mode)))) c.fail('selinux.mode', 'int or string', mode);
  }
  for (const k of ['hooks', 'kernelFeatures', 'connector_info', 'openstack_binding_host_ids', 'supported_block_size']) c.obj(k, caps[k], false);
  for (const k of ['additionalFeatures', 'nameservers', 'vdsmToCpusAffinity']) c.arr(k, caps[k], false);
  c.intArray('domain_versions', caps['domain_versions'], false);
  for (const k of ['hostdevPassthrough', 'hostedEngineDeployed', 'vncEncrypted', 'backupEnabled', 'coldBackupEnabled', 'clearBitmapsEnabled', 'fipsEnabled', 'tscScaling', 'cd_change_pdiv', 'ovnConfigured', 'netConfigDirty']) {
    if (caps[k] !== undefined && !(typeof caps[k] === 'boolean' || typeof caps[k] === 'string')) c.fail(k, 'bool or string', caps[k]);
  }
  if (c.arr('cpuTopology', caps['cpuTopology'], false)) {
    (caps['cpuTopology'] as unknown[]).forEach((e, i) => {
      if (!c.obj(`cpuTopology[${i}]`, e)) return;
      for (const k of ['cpu_id', 'numa_cell_id', 'socket_id', 'core_id']) c.int(`cpuTopology[${i}].${k}`, e[k]);
    });
  }
  if (c.obj('numaNodes', caps['numaNodes'], false)) {
    const nodes = caps['numaNodes'] as Obj;
    c.numericKeys('numaNodes', nodes);
    for (const [id, n] of Object.entries(nodes)) {
      if (!c.obj(`numaNodes.${id}`, n)) continue;
      c.intLike(`numaNodes.${id}.totalMemory`, n['totalMemory']);
      c.intArray(`numaNodes.${id}.cpus`, n['cpus']);
    }
  }
  if (c.obj('numaNodeDistance', caps['numaNodeDistance'], false)) {
    const d = caps['numaNodeDistance'] as Obj;
    c.numericKeys('numaNodeDistance', d);
    for (const [id, v] of Object.entries(d)) c.intArray(`numaNodeDistance.${id}`, v);
  }
  checkNetworkCaps(c, caps, opts);
  return c.out;
}

export function checkHostStats(stats: unknown): Violations {
  const c = new Checker();
  if (!c.obj('stats', stats)) return c.out;
  const s = stats;
  for (const k of ['cpuUser', 'cpuSys', 'cpuIdle', 'cpuLoad']) c.fracString(k, s[k], false);
  for (const k of ['memFree', 'swapTotal', 'swapFree', 'memShared', 'ksmPages', 'vmCount', 'vmActive', 'vmMigrating', 'incomingVmMigrations', 'outgoingVmMigrations', 'ksmCpu', 'anonHugePages', 'bootTime', 'memUsed']) {
    c.intLike(k, s[k], ['memFree', 'swapTotal', 'swapFree', 'vmCount', 'vmActive', 'vmMigrating', 'incomingVmMigrations', 'outgoingVmMigrations'].includes(k));
  }
  c.boolish('ksmState', s['ksmState']);
  c.boolish('netConfigDirty', s['netConfigDirty']);
  if (s['thpState'] !== undefined && !['always', 'madvise', 'never'].includes(String(s['thpState']))) c.fail('thpState', 'always/madvise/never', s['thpState']);
  if (c.obj('cpuStatistics', s['cpuStatistics'], false)) {
    const cs = s['cpuStatistics'] as Obj;
    c.numericKeys('cpuStatistics', cs);
    for (const [id, e] of Object.entries(cs)) {
      if (!c.obj(`cpuStatistics.${id}`, e)) continue;
      c.int(`cpuStatistics.${id}.nodeIndex`, e['nodeIndex']);
      for (const k of ['cpuUser', 'cpuSys', 'cpuIdle']) c.fracString(`cpuStatistics.${id}.${k}`, e[k]);
    }
  }
  if (c.obj('numaNodeMemFree', s['numaNodeMemFree'], false)) {
    const n = s['numaNodeMemFree'] as Obj;
    c.numericKeys('numaNodeMemFree', n);
    for (const [id, e] of Object.entries(n)) {
      if (!c.obj(`numaNodeMemFree.${id}`, e)) continue;
      c.intLike(`numaNodeMemFree.${id}.memFree`, e['memFree']);
      c.intLike(`numaNodeMemFree.${id}.memPercent`, e['memPercent']);
    }
  }
  if (c.obj('hugepages', s['hugepages'], false)) c.numericKeys('hugepages', s['hugepages'] as Obj);
  if (c.obj('network', s['network'], false)) {
    for (const [name, e] of Object.entries(s['network'] as Obj)) {
      if (!c.obj(`network.${name}`, e)) continue;
      for (const k of ['rx', 'tx', 'rxDropped', 'txDropped', 'speed']) c.fracString(`network.${name}.${k}`, e[k]);
      c.str(`network.${name}.state`, e['state']);
      c.fracString(`network.${name}.sampleTime`, e['sampleTime']);
    }
  }
  if (c.obj('storageDomains', s['storageDomains'])) {
    for (const [sd, e] of Object.entries(s['storageDomains'] as Obj)) {
      if (!c.obj(`storageDomains.${sd}`, e)) continue;
      c.int(`storageDomains.${sd}.code`, e['code']);
      c.fracString(`storageDomains.${sd}.lastCheck`, e['lastCheck']);
      c.fracString(`storageDomains.${sd}.delay`, e['delay']);
      for (const k of ['actual', 'acquired', 'valid']) c.bool(`storageDomains.${sd}.${k}`, e[k], false);
    }
  }
  if (c.obj('diskStats', s['diskStats'], false)) {
    for (const [p, e] of Object.entries(s['diskStats'] as Obj)) if (c.obj(`diskStats.${p}`, e)) c.intLike(`diskStats.${p}.free`, e['free']);
  }
  if (c.obj('haStats', s['haStats'])) {
    const h = s['haStats'] as Obj;
    for (const k of ['configured', 'active', 'globalMaintenance', 'localMaintenance']) c.bool(`haStats.${k}`, h[k]);
    c.int('haStats.score', h['score']);
  }
  if (typeof s['dateTime'] !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2} GMT$/.test(s['dateTime'])) c.fail('dateTime', 'YYYY-MM-DDTHH:MM:SS GMT', s['dateTime']);
  if (c.obj('multipathHealth', s['multipathHealth'], false)) {
    for (const [k, e] of Object.entries(s['multipathHealth'] as Obj)) if (c.obj(`multipathHealth.${k}`, e)) c.int(`multipathHealth.${k}.valid_paths`, e['valid_paths']);
  }
  c.obj('v2vJobs', s['v2vJobs'], false);
  c.noFractions('stats', s);
  return c.out;
}

function checkVmObject(c: Checker, path: string, v: Obj, full: boolean): void {
  c.str(`${path}.vmId`, v['vmId'], full);
  if (typeof v['vmId'] === 'string' && !UUID_RE.test(v['vmId'])) c.fail(`${path}.vmId`, 'must be a UUID', v['vmId']);
  if (!VM_STATUSES.includes(String(v['status']))) c.fail(`${path}.status`, `must be one of ${VM_STATUSES.join(', ')}`, v['status']);
  if (v['statusTime'] !== undefined || full) {
    if (!(typeof v['statusTime'] === 'string' && NUMERIC_STRING_RE.test(v['statusTime']))) c.fail(`${path}.statusTime`, 'must be a numeric string', v['statusTime']);
  }
  if (v['status'] === 'Down') {
    c.intLike(`${path}.exitCode`, v['exitCode']);
    c.str(`${path}.exitMessage`, v['exitMessage']);
    c.int(`${path}.exitReason`, v['exitReason']);
  } else if (full) {
    for (const k of ['elapsedTime', 'monitorResponse', 'timeOffset']) c.fracString(`${path}.${k}`, v[k]);
    c.str(`${path}.hash`, v['hash']);
  }
  for (const k of ['cpuUser', 'cpuSys', 'memUsage', 'elapsedTime', 'monitorResponse', 'timeOffset', 'cpuUsage', 'vcpuCount']) c.fracString(`${path}.${k}`, v[k], false);
  // vdsm-api.yml RunningVmStats: pid, displayPort, displaySecurePort strings of integers
  for (const k of ['pid', 'displayPort', 'displaySecurePort']) if (v[k] !== undefined && !(typeof v[k] === 'string' && INT_STRING_RE.test(v[k]))) c.fail(`${path}.${k}`, 'must be an integer string', v[k]);
  // vdsm-api.yml RunningVmStats: vcpuQuota a string of an int, vcpuPeriod a long (a JSON integer)
  if (v['vcpuQuota'] !== undefined && !(typeof v['vcpuQuota'] === 'string' && INT_STRING_RE.test(v['vcpuQuota']))) c.fail(`${path}.vcpuQuota`, 'must be an integer string', v['vcpuQuota']);
  if (v['vcpuPeriod'] !== undefined && !Number.isSafeInteger(v['vcpuPeriod'])) c.fail(`${path}.vcpuPeriod`, 'must be a JSON integer (long)', v['vcpuPeriod']);
  // VBOB.updateVMDynamicData: VmPauseStatus.valueOf(pauseCode), an unknown name is logged as an error
  if (v['pauseCode'] !== undefined && !PAUSE_CODES.includes(String(v['pauseCode']))) c.fail(`${path}.pauseCode`, `must be one of ${PAUSE_CODES.join(', ')}`, v['pauseCode']);
  if (c.arr(`${path}.displayInfo`, v['displayInfo'], full && v['status'] !== 'Down')) {
    (v['displayInfo'] as unknown[]).forEach((d, i) => {
      if (!c.obj(`${path}.displayInfo[${i}]`, d)) return;
      c.str(`${path}.displayInfo[${i}].type`, d['type']);
      c.fracString(`${path}.displayInfo[${i}].port`, d['port']);
      c.fracString(`${path}.displayInfo[${i}].tlsPort`, d['tlsPort']);
      c.str(`${path}.displayInfo[${i}].ipAddress`, d['ipAddress'], false);
    });
  }
  for (const group of ['network', 'disks']) {
    if (!c.obj(`${path}.${group}`, v[group], false)) continue;
    for (const [name, e] of Object.entries(v[group] as Obj)) {
      if (!c.obj(`${path}.${group}.${name}`, e)) continue;
      for (const [k, x] of Object.entries(e)) c.str(`${path}.${group}.${name}.${k}`, x);
    }
  }
  c.obj(`${path}.balloonInfo`, v['balloonInfo'], false);
  c.obj(`${path}.memoryStats`, v['memoryStats'], false);
  checkGuestFields(c, path, v);
  c.noFractions(path, v);
}

/** The guest agents' part, as VdsBrokerObjectsBuilder reads it (strings, an int CPU count, lists of maps). */
function checkGuestFields(c: Checker, path: string, v: Obj): void {
  for (const k of ['username', 'session', 'guestIPs', 'guestFQDN', 'guestName', 'guestOs']) c.str(`${path}.${k}`, v[k], false);
  c.int(`${path}.guestCPUCount`, v['guestCPUCount'], false);
  if (c.arr(`${path}.appsList`, v['appsList'], false)) (v['appsList'] as unknown[]).forEach((a, i) => c.str(`${path}.appsList[${i}]`, a));
  if (c.arr(`${path}.netIfaces`, v['netIfaces'], false)) {
    (v['netIfaces'] as unknown[]).forEach((n, i) => {
      const p = `${path}.netIfaces[${i}]`;
      if (!c.obj(p, n)) return;
      c.str(`${p}.name`, n['name']);
      c.str(`${p}.hw`, n['hw']);
      for (const k of ['inet', 'inet6']) if (c.arr(`${p}.${k}`, n[k])) (n[k] as unknown[]).forEach((a, j) => c.str(`${p}.${k}[${j}]`, a));
    });
  }
  if (c.arr(`${path}.disksUsage`, v['disksUsage'], false)) {
    (v['disksUsage'] as unknown[]).forEach((d, i) => {
      const p = `${path}.disksUsage[${i}]`;
      if (!c.obj(p, d)) return;
      for (const k of ['path', 'fs']) c.str(`${p}.${k}`, d[k]);
      for (const k of ['total', 'used']) c.fracString(`${p}.${k}`, d[k]);
    });
  }
  if (c.obj(`${path}.guestOsInfo`, v['guestOsInfo'], false)) {
    for (const [k, x] of Object.entries(v['guestOsInfo'] as Obj)) c.str(`${path}.guestOsInfo.${k}`, x);
  }
  if (c.obj(`${path}.guestTimezone`, v['guestTimezone'], false)) {
    c.int(`${path}.guestTimezone.offset`, (v['guestTimezone'] as Obj)['offset']);
    c.str(`${path}.guestTimezone.zone`, (v['guestTimezone'] as Obj)['zone']);
  }
  c.arr(`${path}.guestContainers`, v['guestContainers'], false);
}

/** One element of Host.getAllVmStats / VM.getStats. */
export function checkVmStats(vm: unknown): Violations {
  const c = new Checker();
  if (c.obj('vm', vm)) checkVmObject(c, 'vm', vm, true);
  return c.out;
}

/** A `|virt|VM_status|<vmId>` notification as sent on jms.queue.events. */
export function checkVmStatusEvent(notification: unknown): Violations {
  const c = new Checker();
  if (!c.obj('event', notification)) return c.out;
  const n = notification;
  if (n['jsonrpc'] !== '2.0') c.fail('event.jsonrpc', 'must be "2.0"', n['jsonrpc']);
  if (n['id'] !== undefined && n['id'] !== null) c.fail('event.id', 'a notification has no id', n['id']);
  const method = n['method'];
  const parts = typeof method === 'string' ? method.split('|') : [];
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== 'virt' || parts[2] !== 'VM_status' || !UUID_RE.test(parts[3] ?? '')) {
    c.fail('event.method', 'must be "|virt|VM_status|<vmId>"', method);
  }
  if (!c.obj('event.params', n['params'])) return c.out;
  const params = n['params'] as Obj;
  c.int('event.params.notify_time', params['notify_time']);
  for (const [k, v] of Object.entries(params)) {
    if (k === 'notify_time') continue;
    if (!UUID_RE.test(k)) {
      c.fail(`event.params.${k}`, 'every key but notify_time must be a VM UUID', k);
      continue;
    }
    if (c.obj(`event.params.${k}`, v)) checkVmObject(c, `event.params.${k}`, v, false);
  }
  if (parts[3] !== undefined && UUID_RE.test(parts[3]) && params[parts[3]] === undefined) c.fail('event.params', `must hold the VM of the method (${parts[3]})`, Object.keys(params));
  return c.out;
}
