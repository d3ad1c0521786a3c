#!/usr/bin/env bash
# The network-kernel tier: a TCG guest running Debian 12's kernel with 802.1Q, bonding and bridging
# modules, whose root is this machine's root shared read-only over virtio-9p. It exists because some
# sandboxes run a kernel built without VLAN and bonding support (CONFIG_VLAN_8021Q, CONFIG_BONDING
# unset) and host networking must still be tried against a real kernel that has them. As root,
# idempotent: downloads the kernel package the real-VM tier uses (never installed), keeps its vmlinuz
# and the modules below, builds an initramfs of busybox-static and those modules.
set -euo pipefail
DIR=${VDSM_NETVM_DIR:-/var/tmp/vdsm-netvm}
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
log() { printf 'netvm-setup: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "run as root"; exit 1; }
for p in qemu-system-x86 busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || { apt-get install -y -qq --no-install-recommends "$p" >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }; }
done
mkdir -p "$DIR"
exec 9> "$DIR/.lock"
flock 9
kpkg=${VDSM_NETVM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
[ -n "$kpkg" ] || { apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
abi=${kpkg#linux-image-}
KDIR=$DIR/$abi
# Load order (insmod resolves nothing): virtio and 9p for the shared root, then the network modules.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p
  tls bonding llc stp bridge garp mrp 8021q veth)
if [ ! -f "$KDIR/.complete" ]; then
  work=$(mktemp -d "$DIR/.kernel.XXXXXX")
  chmod 755 "$work"
  log "apt-get download $kpkg"
  (cd "$work" && apt-get download -qq "$kpkg" >/dev/null 2>&1)
  dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/x"
  mkdir -p "$KDIR.new/modules"
  cp "$work/x/boot/vmlinuz-$abi" "$KDIR.new/vmlinuz"
  for m in "${MODULES[@]}"; do
    f=$(find "$work/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
    [ -n "$f" ] || { log "module $m not in $kpkg"; exit 1; }
    case "$f" in *.xz) xz -dc "$f" > "$KDIR.new/modules/$m.ko" ;; *) cp "$f" "$KDIR.new/modules/$m.ko" ;; esac
  done
  rm -rf "$KDIR" "$work"
  mv "$KDIR.new" "$KDIR"
  touch "$KDIR/.complete"
fi
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,proc,sys,dev,host,job,lib/modules}
cp /bin/busybox "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
for m in "${MODULES[@]}"; do cp "$KDIR/modules/$m.ko" "$ROOT/lib/modules/"; done
printf '%s\n' "${MODULES[@]}" > "$ROOT/modules-order"
cp "$HERE/guest-init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$DIR/initrd.img.new"
mv "$DIR/initrd.img.new" "$DIR/initrd.img"
ln -sfn "$KDIR/vmlinuz" "$DIR/vmlinuz"
log "ready: $DIR/vmlinuz, $DIR/initrd.img"
