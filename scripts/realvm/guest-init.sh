#!/bin/sh
# /init of the real-VM tier's tiny guest (busybox sh): load the virtio modules, start the real qemu-ga on
# the org.qemu.guest_agent.0 port and an ovirt-guest-agent heartbeat on ovirt-guest-agent.0; never exits.
# Built into the initramfs by scripts/realvm/build-initrd.sh; messages go to the serial console (ttyS0).

/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts /run /tmp /var
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
ln -sf /run /var/run
hostname tinyguest

say() { echo "tinyguest: $*" > /dev/console; }
say "init started, uptime $(cut -d' ' -f1 /proc/uptime)s"

# Dependency order; a module built into the kernel or absent from this kernel is skipped.
for m in $(cat /etc/modules-order); do
  [ -f "/lib/modules/$m.ko" ] && insmod "/lib/modules/$m.ko" 2>/dev/null
done

# Ports appear once virtio_console has probed; give udev-less /dev a moment via the sysfs names.
port_dev() {
  for f in /sys/class/virtio-ports/*/name; do
    [ -r "$f" ] || continue
    if [ "$(cat "$f")" = "$1" ]; then
      d=${f%/name}; echo "/dev/${d##*/}"; return 0
    fi
  done
  return 1
}
n=0
while ! port_dev org.qemu.guest_agent.0 >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done

if ip link show eth0 >/dev/null 2>&1; then
  # libvirt's user-mode network always hands out 10.0.2.15 behind gateway 10.0.2.2.
  ip link set lo up
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
fi

# Host-side interaction only; a guest in a test has no business running programs or touching files.
# guest-shutdown stays enabled: it powers off this tiny guest (via /sbin/shutdown below), not the host.
BLOCK=guest-exec,guest-exec-status,guest-file-open,guest-file-close,guest-file-read,guest-file-write,\
guest-file-seek,guest-file-flush,guest-set-user-password,guest-ssh-add-authorized-keys,\
guest-ssh-remove-authorized-keys,guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid

QGA=$(port_dev org.qemu.guest_agent.0)
if [ -n "$QGA" ]; then
  say "qemu-ga on $QGA"
  ( while true; do
      /usr/sbin/qemu-ga -m virtio-serial -p "$QGA" -t /run -b "$BLOCK"
      say "qemu-ga exited ($?), restarting"; sleep 1
    done ) &
else
  say "no org.qemu.guest_agent.0 port"
fi

# A minimal ovirt-guest-agent: newline-delimited JSON heartbeats (and the host name once).
OGA=$(port_dev ovirt-guest-agent.0)
if [ -n "$OGA" ]; then
  say "ovirt-guest-agent heartbeat on $OGA"
  ( exec 3<>"$OGA"
    # Drain what the host sends (refresh, api-version ...) so its writes never block.
    ( while read -r line <&3; do :; done ) &
    echo '{"__name__":"host-name","name":"tinyguest"}' >&3
    while true; do
      total=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)
      free=$(awk '/^MemFree:/{print $2}' /proc/meminfo)
      buffers=$(awk '/^Buffers:/{print $2}' /proc/meminfo)
      cached=$(awk '/^Cached:/{print $2}' /proc/meminfo)
      printf '{"__name__":"heartbeat","free-ram":"%s","memory-stat":{"mem_total":"%s","mem_unused":"%s","mem_buffers":"%s","mem_cached":"%s","swap_in":"0","swap_out":"0","pageflt":"0","majflt":"0"},"apiVersion":3}\n' \
        "$((free / 1024))" "$total" "$free" "$buffers" "$cached" >&3
      sleep 5
    done ) &
fi

# ACPI power button -> /etc/acpi/PWRF/00000080 -> poweroff, so libvirt's ACPI shutdown works as well.
if ls /dev/input/event* >/dev/null 2>&1; then
  acpid -c /etc/acpi -l /dev/null
fi

say "ready, uptime $(cut -d' ' -f1 /proc/uptime)s"
# PID 1 must never exit; reap orphans as a side effect of wait.
while true; do wait; sleep 60; done
