#!/usr/bin/env bash
# Build the tiny guest's initramfs: static busybox, the virtio modules of the extracted Debian kernel,
# the host's /usr/sbin/qemu-ga with the libraries ldd names, and scripts/realvm/guest-init.sh as /init.
# Usage: build-initrd.sh MODULES_DIR OUTPUT.img   (MODULES_DIR = the kernel's lib/modules/<abi>)
set -euo pipefail

MODDIR=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
QGA=${QGA:-/usr/sbin/qemu-ga}

# Load order matters: insmod does not resolve dependencies.
# evdev and button let busybox acpid see the ACPI power button (virDomainShutdown's ACPI mode).
# crc16 .. ext4: a real file system on the guest's disk, which both guest agents report.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console
  virtio_balloon failover net_failover virtio_net virtio_blk evdev button crc16 crc32c_generic mbcache jbd2 ext4)

file "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || {
  # `file` may be absent; busybox-static's binary has no PT_INTERP, so ldd says "not a dynamic executable".
  ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' || { echo "build-initrd: $BUSYBOX is not static" >&2; exit 1; }
}

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vdsm-initrd.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,run,tmp,lib/modules,usr/bin,usr/sbin}
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"

: > "$ROOT/etc/modules-order"
for m in "${MODULES[@]}"; do
  f=$(find "$MODDIR" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
  if [ -z "$f" ]; then
    # Not a module in this kernel: either built in (modules.builtin) or absent; the guest skips it.
    continue
  fi
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *) cp "$f" "$ROOT/lib/modules/$m.ko" ;;
  esac
  echo "$m" >> "$ROOT/etc/modules-order"
done

# qemu-ga and exactly the shared objects the dynamic loader would map, at the same paths.
cp "$QGA" "$ROOT/usr/sbin/qemu-ga"
ldd "$QGA" | awk '/=> \//{print $3} /^\s*\/.*ld-linux/{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# /lib64 is a symlink on merged-/usr hosts; the loader path must resolve inside the guest too.
if [ ! -e "$ROOT/lib64/ld-linux-x86-64.so.2" ]; then
  mkdir -p "$ROOT/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/"
fi

# guest-shutdown runs /sbin/shutdown; busybox has no such applet, so power off the guest directly.
cat > "$ROOT/sbin/shutdown" <<'EOF'
#!/bin/sh
echo "tinyguest: shutdown $*" > /dev/console
( sleep 0.2; sync; poweroff -f ) &
exit 0
EOF
chmod 755 "$ROOT/sbin/shutdown"

# qemu-ga's guest-set-time refuses (unsupported) without /sbin/hwclock, before it sets any time; busybox
# has the applet, so the agent's time sync (virDomainSetTime) can set this guest's clock.
ln -s ../bin/busybox "$ROOT/sbin/hwclock"

# The ACPI power button (virsh shutdown --mode acpi) powers the guest off too; busybox acpid runs
# CONFDIR/PWRF/00000080 for it.
mkdir -p "$ROOT/etc/acpi/PWRF"
cat > "$ROOT/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "tinyguest: ACPI power button" > /dev/console
sync; poweroff -f
EOF
chmod 755 "$ROOT/etc/acpi/PWRF/00000080"

cat > "$ROOT/etc/os-release" <<'EOF'
PRETTY_NAME="vdsm-node tiny guest (busybox + qemu-ga)"
NAME="tinyguest"
ID=tinyguest
VERSION_ID=1
EOF
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
echo tinyguest > "$ROOT/etc/hostname"

install -m 755 "$HERE/guest-init.sh" "$ROOT/init"

# newc cpio through busybox (cpio(1) is not in a minimal Debian image), gzip for the kernel's unpacker.
(cd "$ROOT" && find . -mindepth 1 | sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -6 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
chmod 644 "$OUT"
echo "build-initrd: $OUT ($(du -k "$OUT" | cut -f1) KiB), modules: $(tr '\n' ' ' < "$ROOT/etc/modules-order")"
