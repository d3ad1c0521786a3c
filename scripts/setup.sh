#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks (as root), then the npm dependencies and the native addons.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(libvirt-dev libvirt-daemon qemu-guest-agent python3-stomp pkg-config)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -d node_modules ] && [ -f build/Release/virt.node ] || npm ci
