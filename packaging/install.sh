#!/usr/bin/env bash
# Install vdsm-node under DESTDIR laid out as a package would (packaging/README.md): the npm package in
# /usr/lib/vdsm-node with its production dependencies, the commands in /usr/bin, the units, sysusers and
# tmpfiles entries, /etc/sysconfig/vdsm and /etc/vdsm/vdsm.conf (neither overwritten when present).
# Everything comes from the package tarball (npm pack of this checkout unless TARBALL is given), so
# what is installed is what would be shipped. The native addons come prebuilt in the tarball.
#
#   packaging/install.sh DESTDIR [TARBALL]        e.g. packaging/install.sh /   or  ... /srv/image
set -euo pipefail
DESTDIR=${1:?usage: packaging/install.sh DESTDIR [TARBALL]}
TARBALL=${2:-}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$TARBALL" ]; then
  npm pack --ignore-scripts --pack-destination "$work" >/dev/null
  TARBALL=$(ls "$work"/*.tgz)
fi
LIB="$DESTDIR/usr/lib/vdsm-node"
rm -rf "$LIB"
mkdir -p "$LIB"
tar -xzf "$TARBALL" -C "$LIB" --strip-components=1 --no-same-owner
# Production dependencies only; --ignore-scripts: the addons in build/Release came with the tarball.
(cd "$LIB" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock --prefer-offline --loglevel=error >/dev/null)
mkdir -p "$DESTDIR/usr/bin"
for bin in vdsmd supervdsmd vdsm-client vdsm-tool vdsm-bench; do
  chmod 0755 "$LIB/dist/src/bin/$bin.js"
  ln -sfn "../lib/vdsm-node/dist/src/bin/$bin.js" "$DESTDIR/usr/bin/$bin"
done
for unit in "$LIB"/packaging/systemd/*; do
  install -D -m 0644 "$unit" "$DESTDIR/usr/lib/systemd/system/$(basename "$unit")"
done
install -D -m 0644 "$LIB/packaging/sysusers.d/vdsm-node.conf" "$DESTDIR/usr/lib/sysusers.d/vdsm-node.conf"
install -D -m 0644 "$LIB/packaging/tmpfiles.d/vdsm-node.conf" "$DESTDIR/usr/lib/tmpfiles.d/vdsm-node.conf"
[ -e "$DESTDIR/etc/sysconfig/vdsm" ] || install -D -m 0644 "$LIB/packaging/sysconfig/vdsm" "$DESTDIR/etc/sysconfig/vdsm"
[ -e "$DESTDIR/etc/vdsm/vdsm.conf" ] || install -D -m 0644 "$LIB/packaging/vdsm.conf" "$DESTDIR/etc/vdsm/vdsm.conf"
echo "installed vdsm-node $(node -p "require('$LIB/package.json').version") under $DESTDIR" >&2
