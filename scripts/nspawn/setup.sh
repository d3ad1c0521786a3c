#!/usr/bin/env bash
# The systemd tier's machine: systemd-nspawn and a Debian 12 tree to boot (debootstrap from Debian's
# packages), cached under /var/cache/vdsm-node/nspawn so only the first run on a machine pays for it
# (about 40 s and 320 MB). Prints the tree's path. Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# What the tree needs beyond minbase: systemd as PID 1, libvirt's client library for the addon, openssl
# for the development PKI, procps for ps.
INCLUDE=systemd,systemd-sysv,dbus,libvirt0,openssl,procps
CACHE=/var/cache/vdsm-node/nspawn
TREE="$CACHE/bookworm-$(echo "$INCLUDE v1" | sha256sum | cut -c1-12)"
missing=()
for p in systemd-container debootstrap; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "nspawn setup: installing ${missing[*]}" >&2
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
fi
if [ ! -e "$TREE/.complete" ]; then
  echo "nspawn setup: debootstrap bookworm into $TREE (once per machine)" >&2
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/building.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase --include="$INCLUDE" bookworm "$tmp/tree" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  # No machine id: each boot of an overlay on this tree gets a fresh one.
  : > "$tmp/tree/etc/machine-id"
  touch "$tmp/tree/.complete"
  rm -rf "$TREE"
  mv "$tmp/tree" "$TREE"
fi
# What the Debian installer writes and debootstrap does not: localhost in /etc/hosts (the tools
# connect to localhost:54321 by default, and minbase has no nss-myhostname).
if ! grep -qs '^127\.0\.0\.1[[:space:]].*localhost' "$TREE/etc/hosts"; then
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$TREE/etc/hosts"
fi
echo "$TREE"
