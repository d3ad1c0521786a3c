// A memory-dirtying variant of the real-VM tier's tiny guest, for migrations that must not converge: the
// stock initramfs plus an appended cpio with /dirty-init (booted with rdinit=/dirty-init), which copies a
// file of random data on a tmpfs in a loop, rewriting its pages as fast as the emulated CPU can (about
// 10 MiB/s under TCG), then hands over to the stock /init. The kernel unpacks concatenated archives in
// order, so nothing of the stock image changes. Needs busybox (cpio) and gzip, as build-initrd.sh does.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The kernel argument that runs the dirtier first. */
export const DIRTY_CMDLINE = 'rdinit=/dirty-init';

function dirtyInit(fileMiB: number): string {
  // busybox's applets are not installed yet (the stock /init does that): call them through busybox.
  // ash aborts a background job when /dev/null is missing, so /dev comes first.
  return `#!/bin/sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null || { $B mknod /dev/null c 1 3; $B mknod /dev/urandom c 1 9; }
$B mkdir -p /dirty
$B mount -t tmpfs -o size=${fileMiB * 3}m tmpfs /dirty
$B dd if=/dev/urandom of=/dirty/src bs=1M count=${fileMiB} 2>/dev/null
( while true; do $B cp /dirty/src /dirty/dst; done ) </dev/null >/dev/null 2>&1 &
echo "tinyguest: dirtying ${fileMiB} MiB in a loop" > /dev/console
exec /init
`;
}

/** Write base + overlay to `out` (readable by everyone, like the stock image). */
export async function buildDirtyInitrd(baseInitrd: string, out: string, opts: { fileMiB?: number; busybox?: string } = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'vdsm-dirty-'));
  try {
    const script = join(root, 'dirty-init');
    await writeFile(script, dirtyInit(opts.fileMiB ?? 16));
    await chmod(script, 0o755);
    const busybox = opts.busybox ?? '/bin/busybox';
    const overlay = join(root, 'overlay.cpio.gz');
    await run('bash', ['-c', `set -o pipefail; cd "$1" && printf 'dirty-init\\n' | "$2" cpio -o -H newc 2>/dev/null | gzip -1 > "$3"`, 'x', root, busybox, overlay]);
    await run('bash', ['-c', 'cat "$1" "$2" > "$3" && chmod 644 "$3"', 'x', baseInitrd, overlay, out]);
    return out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
