// Compiled by test/contracts/typed-door.test.ts, never by the build: each line marked `error:` must
// fail to compile, and nothing else may.
import type { AreaOps, OpRegistry } from '../../../src/contracts/operations.js';

export const missingOp: AreaOps<'host'> = { // error: host.capabilitiesFacts and host.hardwareInfo are missing
  'host.sample': () => ({}) as never,
};

export const extraOp: AreaOps<'sampling'> = {
  'sampling.bulkStats': () => ({ records: new ArrayBuffer(0), unresponsive: [] }),
  'sampling.bulkStat': () => null, // error: not in the contract
};

export const wrongResult: AreaOps<'sampling'> = {
  'sampling.bulkStats': () => ({ records: new ArrayBuffer(0) }), // error: unresponsive is missing
};

export const wrongArgs: AreaOps<'hostdev'> = {
  'host.devices': (args: { root: number }) => ({ pci: [], usb: [], net: [], scsiHosts: [], scsiTargets: [], scsiDevices: [], block: [], scsiGeneric: [], root: args.root }), // error: root is a string
};

declare const test: OpRegistry['test'];
declare const libvirt: OpRegistry['libvirt'];
declare const host: OpRegistry['host'];
declare const hostdev: OpRegistry['hostdev'];

export const registry: OpRegistry = { // error: the sampling area is not registered
  libvirt, host, hostdev, test,
};
