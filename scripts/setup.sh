#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) to run vdsm-node from this checkout: the Debian packages
# the native libvirt binding and the tests need, the npm dependencies (npm ci also builds the native
# addons with node-gyp), and the TypeScript build. Idempotent: a second run does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# libvirt-dev: headers and libvirt.so for the addon; libvirt-daemon: an unprivileged libvirtd for the
# reconnect tests; sasl2-bin: saslpasswd2 for the SCRAM-SHA-256 login test; qemu-guest-agent: a real guest-agent peer; python3-stomp: an independent STOMP peer;
# prometheus: the real scraper of /metrics (and promtool, its linter); the tests run their own instance
# on a free loopback port, so the package's own service is stopped where systemd runs.
# chromium: opens vdsm-bench's report page headless in the installed-layout test.
# dmidecode, psmisc (fuser): programs supervdsmd runs (setpriv, mount, getent come with the base system).
# iproute2 (ip, applies host networking), isc-dhcp-client (dhclient: DHCP networks), dnsmasq-base (the DHCP server
# of the host-networking tests; the binary only: the dnsmasq package would start a resolver on the machine).
APT_PACKAGES=(libvirt-dev libvirt-daemon qemu-guest-agent python3-stomp pkg-config openssl sasl2-bin prometheus chromium dmidecode psmisc iproute2 isc-dhcp-client dnsmasq-base)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then systemctl disable --now prometheus.service >/dev/null 2>&1 || true; fi
fi
if [ ! -d node_modules ] || [ ! -f build/Release/virt.node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (builds the native addons)" >&2
  npm ci --no-audit --no-fund
fi
echo "setup: building TypeScript" >&2
npm run -s build
