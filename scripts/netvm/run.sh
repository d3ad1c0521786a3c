#!/usr/bin/env bash
# Run a shell command inside the network-kernel guest (scripts/netvm/setup.sh first), with this
# repository as the working directory; prints its output and exits with its exit code.
# Usage: scripts/netvm/run.sh 'node --test dist/test/network/vlan-bond-netns.test.js'
set -euo pipefail
DIR=${VDSM_NETVM_DIR:-/var/tmp/vdsm-netvm}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
JOB=$(mktemp -d /tmp/vdsm-netvm-job.XXXXXX)
trap 'rm -rf "$JOB"' EXIT
printf '%s\n' "$1" > "$JOB/cmd.sh"
printf '%s' "$REPO" > "$JOB/cwd"
timeout "${VDSM_NETVM_TIMEOUT:-1500}" qemu-system-x86_64 -accel tcg -m "${VDSM_NETVM_MEM:-2048}" -smp 2 -nographic -no-reboot \
  -kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.img" -append "console=ttyS0 quiet panic=-1 no_timer_check" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
  -virtfs local,path="$JOB",mount_tag=job,security_model=none >&2 || true
cat "$JOB/out" 2>/dev/null || true
rc=$(cat "$JOB/rc" 2>/dev/null || echo 99)
exit "$rc"
