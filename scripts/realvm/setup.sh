#!/usr/bin/env bash
# Prepare the real-VM test tier (as root, idempotent): install the hypervisor packages that are missing,
# fetch the current Debian 12 kernel without installing it, and build the tiny guest's initramfs.
# Everything lands in $VDSM_REALVM_DIR (default /var/tmp/vdsm-realvm), readable by the unprivileged
# libvirtd user; a second run only re-checks and exits. Prints what it did and how long it took.
set -euo pipefail

DIR=${VDSM_REALVM_DIR:-/var/tmp/vdsm-realvm}
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
# iproute2: the two-host migration tier's network namespace (ip netns).
PACKAGES=(qemu-system-x86 qemu-utils busybox-static qemu-guest-agent libvirt-daemon libvirt-clients iproute2)
T0=$(date +%s.%N)

log() { printf 'realvm-setup: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}'; }

[ "$(id -u)" -eq 0 ] || { log "run as root (apt-get, and files the unprivileged daemon can read)"; exit 1; }
mkdir -p "$DIR"
chmod 755 "$DIR"
exec 9> "$DIR/.lock"
flock 9

# apt lists may be missing on a fresh image: update once, only when apt cannot resolve what we ask.
apt_updated=0
apt_retry() {
  if ! "$@"; then
    [ $apt_updated -eq 1 ] && return 1
    log "apt-get update"; apt-get update -qq; apt_updated=1
    "$@"
  fi
}

# 1. Packages (only those missing).
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  t=$(date +%s.%N)
  log "apt-get install ${missing[*]}"
  apt_retry apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "packages installed in $(elapsed "$t") s"
fi

# 2. Kernel: the package linux-image-amd64 points at, downloaded and unpacked, never installed
#    (installing it pulls initramfs-tools and upgrades udev).
kpkg=${VDSM_REALVM_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}') || true
  if [ -z "$kpkg" ]; then
    apt-get update -qq; apt_updated=1
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
fi
abi=${kpkg#linux-image-}

# Find the compressed payload inside a bzImage and decompress it; fails unless the result is ELF.
extract_vmlinux() {
  local img=$1 out=$2 magic tool off
  for pair in '\xFD7zXZ\x00:xz -dc --single-stream' '\x28\xB5\x2F\xFD:zstd -qdc' '\x1F\x8B\x08:gzip -dc'; do
    magic=${pair%%:*}; tool=${pair#*:}
    off=$(LC_ALL=C grep -obUaP "$magic" "$img" | head -n1 | cut -d: -f1) || true
    [ -n "$off" ] || continue
    tail -c +$((off + 1)) "$img" | $tool > "$out" 2>/dev/null || true
    [ "$(head -c 4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ] && return 0
  done
  return 1
}
KDIR="$DIR/kernel/$abi"
# Bump KERNEL_CACHE when the set of files kept from the kernel package changes.
KERNEL_CACHE=4
if [ "$(cat "$KDIR/.complete" 2>/dev/null)" != "$KERNEL_CACHE" ]; then
  t=$(date +%s.%N)
  work=$(mktemp -d "$DIR/.kernel.XXXXXX")
  chmod 755 "$work"   # apt's _apt sandbox user downloads into it
  log "apt-get download $kpkg"
  (cd "$work" && apt_retry apt-get download -qq "$kpkg" >/dev/null 2>&1)
  dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/x"
  mkdir -p "$KDIR.new/modules"
  cp "$work/x/boot/vmlinuz-$abi" "$KDIR.new/vmlinuz"
  # The uncompressed ELF kernel boots through PVH (QEMU -kernel reads its Xen ELF note): under TCG
  # that skips seconds of in-guest decompression, halving boot to agent (measured 5.5 s -> 3 s).
  extract_vmlinux "$KDIR.new/vmlinuz" "$KDIR.new/vmlinux" || rm -f "$KDIR.new/vmlinux"
  # Keep only what the guest loads (the unpacked tree is ~400 MB): virtio, console, balloon, net, blk,
  # the ACPI button with evdev for acpid, and ext4 with its helpers for a real file system on the disk.
  find "$work/x" -path '*/modules/*' \( -name 'virtio*.ko*' -o -name 'failover.ko*' -o -name 'net_failover.ko*' \
    -o -name 'evdev.ko*' -o -path '*/acpi/button.ko*' \
    -o -name 'crc16.ko*' -o -name 'crc32c_generic.ko*' -o -name 'mbcache.ko*' -o -name 'jbd2.ko*' -o -name 'ext4.ko*' \) \
    -exec cp {} "$KDIR.new/modules/" \;
  for f in modules.builtin modules.dep; do
    src=$(find "$work/x" -path "*/modules/$abi/$f" | head -n1)
    [ -n "$src" ] && cp "$src" "$KDIR.new/"
  done
  echo "$KERNEL_CACHE" > "$KDIR.new/.complete"
  rm -rf "$work" "$KDIR"
  mkdir -p "$DIR/kernel"
  mv "$KDIR.new" "$KDIR"
  log "kernel $abi fetched in $(elapsed "$t") s"
fi

# 3. initramfs, rebuilt when any input changes (kernel, busybox, qemu-ga, the init or build script).
key=$( { echo "$abi"; sha256sum /bin/busybox /usr/sbin/qemu-ga "$HERE/guest-init.sh" "$HERE/build-initrd.sh"; \
  ls "$KDIR/modules"; } | sha256sum | cut -c1-16)
INITRD="$DIR/initrd-$key.img"
if [ ! -s "$INITRD" ]; then
  t=$(date +%s.%N)
  BUSYBOX=/bin/busybox QGA=/usr/sbin/qemu-ga "$HERE/build-initrd.sh" "$KDIR/modules" "$INITRD" >&2
  find "$DIR" -maxdepth 1 -name 'initrd-*.img' ! -name "initrd-$key.img" -delete
  log "initramfs built in $(elapsed "$t") s"
fi

# 4. Stable names and a manifest the TypeScript side reads (test/support/realvm/assets.ts).
kernel="$DIR/kernel/$abi/vmlinuz"
[ -s "$KDIR/vmlinux" ] && kernel="$DIR/kernel/$abi/vmlinux"
ln -sfn "kernel/$abi/vmlinuz" "$DIR/vmlinuz"
ln -sfn "initrd-$key.img" "$DIR/initrd.img"
qga_version=$(/usr/sbin/qemu-ga --version | awk '{print $NF}')
qemu_version=$(qemu-system-x86_64 --version | awk 'NR==1{print $4}')
cat > "$DIR/manifest.json.tmp" <<EOF
{
  "kernelPackage": "$kpkg",
  "kernelAbi": "$abi",
  "kernel": "$kernel",
  "kernelCompressed": "$DIR/kernel/$abi/vmlinuz",
  "initrd": "$INITRD",
  "qemuGaVersion": "$qga_version",
  "qemuVersion": "$qemu_version",
  "key": "$key"
}
EOF
mv "$DIR/manifest.json.tmp" "$DIR/manifest.json"
chmod -R a+rX "$DIR"
log "ready in $(elapsed "$T0") s: $DIR/manifest.json (kernel $abi, initrd $(basename "$INITRD"))"
