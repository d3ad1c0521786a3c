// The real-VM test tier's public surface: assets, the session daemon, the guest's XML, virsh as a peer.
// Used by test/realvm/ and by agent-level tests that drive VM.create / VM.destroy against real QEMU.

export { ensureRealVmAssets, realVmDir, realVmSkip, setupScriptPath, DEFAULT_REALVM_DIR, REALVM_TOOLS } from './assets.js';
export type { RealVmAssets, RealVmCheck, RealVmManifest, EnsureRealVmOptions, RealVmTool } from './assets.js';
export { startSessionLibvirtd, pidsUsingDir } from './libvirtd.js';
export type { SessionLibvirtd, SessionLibvirtdOptions, LibvirtDriver } from './libvirtd.js';
export { tinyGuestXml, DEFAULT_CHANNELS } from './guest-xml.js';
export type { TinyGuestOptions, GuestChannel, GuestDisk } from './guest-xml.js';
export { createGuestDisk } from './guest-disk.js';
export type { GuestDiskOptions } from './guest-disk.js';
export { Virsh, VirshEventWatcher, parseDomstats } from './virsh.js';
export type { VirshEvent, VirshOptions } from './virsh.js';
export { waitFor } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
export { startStorageHost, withStorageDisk } from './storage-host.js';
export type { StorageHost } from './storage-host.js';
