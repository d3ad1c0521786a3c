// Typed access to native/sys: OS thread names, unix-socket peer credentials and TCP quick ACKs (see native/sys/sys.cc).
// Loads in the main thread and in any worker_thread; each call acts on the calling thread or socket.
import { readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { getPriority, setPriority } from 'node:os';
import { loadNativeAddon } from './native.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface SysAddon {
  setThreadName(name: string): void;
  getThreadName(): string;
  peerCredentials(fd: number): PeerCredentials;
  tcpQuickAck(fd: number): boolean;
  tryLock(fd: number): boolean;
  exitNow(code: number): never;
  trimHeap(): boolean;
  addonLoaded(path: string): boolean;
}

let addon: SysAddon | undefined;
const sys = (): SysAddon => (addon ??= loadNativeAddon<SysAddon>('vdsm_sys'));

/** Longest thread name the kernel keeps (bytes, without the terminating NUL); longer names are cut. */
export const THREAD_NAME_MAX = 15;

/** Name the calling OS thread (what `top -H`, `ps -T`, /proc/<pid>/task/<tid>/comm and gdb show). */
export function setThreadName(name: string): void {
  sys().setThreadName(name);
}

/** The calling OS thread's name. */
export function getThreadName(): string {
  return sys().getThreadName();
}

/** The kernel's record of who is at the other end of a connected unix socket (SO_PEERCRED). */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw Object.assign(new Error('peerCredentials: the socket has no file descriptor (not connected, or not a unix socket)'), { code: 'ERR_NATIVE_SYSCALL' });
  return sys().peerCredentials(fd);
}

/** Set TCP_QUICKACK on a TCP descriptor (see src/rpc/quick-ack.ts); false when it is not a TCP socket. */
export function tcpQuickAck(fd: number): boolean {
  return sys().tcpQuickAck(fd);
}

/**
 * Take an exclusive flock on an open file descriptor without waiting: true when taken, false when
 * another open file holds it. The lock lasts while the descriptor stays open (the kernel drops it when
 * the process dies, so it is never stale).
 */
export function tryLock(fd: number): boolean {
  return sys().tryLock(fd);
}

/** End the process immediately (_exit): no exit handlers, no waiting for threads stuck in native code. */
export function exitNow(code: number): never {
  return sys().exitNow(code);
}

/** Give free malloc memory back to the kernel (malloc_trim); true when some was released. */
export function trimHeap(): boolean {
  return sys().trimHeap();
}

/** True when the shared object at `path` (a native addon) is already loaded in this process, by any thread. */
export function addonLoaded(path: string): boolean {
  return sys().addonLoaded(path);
}

/** Kernel thread id of the calling thread (for ps -L, top -H, gdb), or -1 where /proc has none. */
export function osThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return -1;
  }
}

/**
 * Raise the calling thread's nice value by `increment` (Linux nice values are per thread), so it
 * yields to the main thread. Where that is not allowed, or not Linux, the thread keeps its priority.
 */
export function niceThisThread(increment: number): void {
  if (!(increment > 0)) return;
  const tid = osThreadId();
  try {
    if (tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + increment));
  } catch {
    // not permitted: run at the process's priority
  }
}
