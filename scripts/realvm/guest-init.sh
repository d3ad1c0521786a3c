#!/bin/sh
# /init of the real-VM tier's tiny guest (busybox sh): load the virtio modules, put a real ext4 file system
# on the virtio disk (if any) at /data, start the real qemu-ga on the org.qemu.guest_agent.0 port and a
# small ovirt-guest-agent on ovirt-guest-agent.0 (heartbeats and the guest's real host name, OS, network
# interfaces, applications and disk usage; it obeys lock-screen, login, log-off, shutdown ...); never exits.
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

# A real file system on the disk, for the agents' file system and disk usage reports.
if [ -b /dev/vda ]; then
  mkdir -p /data
  if ! mount -t ext4 /dev/vda /data 2>/dev/null; then
    mke2fs -q -L tinydata /dev/vda >/dev/null 2>&1 && mount -t ext4 /dev/vda /data
  fi
  mountpoint -q /data 2>/dev/null || grep -q ' /data ' /proc/mounts && say "/dev/vda mounted on /data"
fi

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
  # /run/qga.off (the host's qga-kill command) keeps it down until qga-start.
  ( while true; do
      if [ -e /run/qga.off ]; then sleep 0.5; continue; fi
      /usr/sbin/qemu-ga -m virtio-serial -p "$QGA" -t /run -b "$BLOCK"
      say "qemu-ga exited ($?), restarting"; sleep 1
    done ) &
else
  say "no org.qemu.guest_agent.0 port"
fi

# --- a small ovirt-guest-agent ----------------------------------------------------------------------
# Newline-delimited JSON on ovirt-guest-agent.0: what the real agent sends, from this guest's real state.

jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
jlist() { sep=''; printf '['; for x in "$@"; do printf '%s' "$sep"; jstr "$x"; sep=','; done; printf ']'; }

oga_info() {
  name=$(hostname)
  printf '{"__name__":"host-name","name":%s}\n' "$(jstr "$name")"
  printf '{"__name__":"fqdn","fqdn":%s}\n' "$(jstr "$name")"
  printf '{"__name__":"os-version","version":%s}\n' "$(jstr "$(uname -r)")"
  . /etc/os-release
  printf '{"__name__":"os-info","type":"linux","arch":%s,"kernel":%s,"distribution":%s,"version":%s,"codename":""}\n' \
    "$(jstr "$(uname -m)")" "$(jstr "$(uname -r)")" "$(jstr "$NAME")" "$(jstr "$VERSION_ID")"
  ifaces=''
  for d in /sys/class/net/*; do
    i=${d##*/}
    inet=$(ip -o -4 addr show dev "$i" 2>/dev/null | awk '{split($4,a,"/"); print a[1]}')
    inet6=$(ip -o -6 addr show dev "$i" 2>/dev/null | awk '{split($4,a,"/"); print a[1]}')
    # shellcheck disable=SC2086
    one=$(printf '{"name":%s,"hw":%s,"inet":%s,"inet6":%s}' "$(jstr "$i")" "$(jstr "$(cat "$d/address")")" "$(jlist $inet)" "$(jlist $inet6)")
    ifaces="${ifaces:+$ifaces,}$one"
  done
  printf '{"__name__":"network-interfaces","interfaces":[%s]}\n' "$ifaces"
  bb=$(busybox 2>&1 | head -n1 | awk '{print $2}')
  qv=$(/usr/sbin/qemu-ga --version 2>/dev/null | awk '{print $NF}')
  printf '{"__name__":"applications","applications":%s}\n' "$(jlist "kernel-$(uname -r)" "busybox-${bb#v}" "qemu-guest-agent-$qv" "tinyguest-init-1")"
  disks=''
  while read -r src size used _ _ mnt; do
    fs=$(awk -v m="$mnt" '$2 == m {print $3; exit}' /proc/mounts)
    case "$fs" in proc|sysfs|devpts|devtmpfs|'') continue ;; esac
    one=$(printf '{"path":%s,"fs":%s,"total":%s,"used":%s}' "$(jstr "$mnt")" "$(jstr "$fs")" "$((size * 1024))" "$((used * 1024))")
    disks="${disks:+$disks,}$one"
  done <<EOF2
$(df -kP | tail -n +2)
EOF2
  printf '{"__name__":"disks-usage","disks":[%s],"mapping":{}}\n' "$disks"
  printf '{"__name__":"number-of-cpus","count":%s}\n' "$(nproc)"
  [ -s /run/oga.user ] && printf '{"__name__":"active-user","name":%s}\n' "$(jstr "$(cat /run/oga.user)")"
  return 0
}

# A utmp login record (struct utmp, 384 bytes on x86_64), as login(1) writes it: qemu-ga's
# guest-get-users reads it, so both agents see the user the host logged in.
le32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )))"; }
pad() { printf '%s' "$1" | head -c "$2"; n=$(( $2 - ${#1} )); [ $n -gt 0 ] && head -c "$n" /dev/zero; return 0; }
utmp_login() {
  # type 7 (USER_PROCESS) and pid 1, line, id, user, then host + exit + session (264 zero bytes),
  # tv_sec, tv_usec, address and padding (36 zero bytes): 384 bytes.
  { printf '\007\000\000\000\001\000\000\000'; pad ttyS0 32; pad S0 4; pad "$1" 32; head -c 264 /dev/zero
    le32 "$(date +%s)"; head -c 4 /dev/zero; head -c 36 /dev/zero; } > /run/utmp.new
  mv /run/utmp.new /run/utmp
}

# Lines the host should survive: invalid UTF-8, not JSON, an unknown message, a line over 1 MiB.
oga_garbage() {
  printf 'this is not json\n'
  printf '{"__name__":"make-coffee","sugar":2}\n'
  head -c 1500000 /dev/zero | tr '\000' 'x'; printf '\n'
  printf '{"__name__":"applications","applications":["kernel-%s","bad-\377\376-utf8","ctl-\\u0001-char"]}\n' "$(uname -r)"
}

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }

oga_command() {
  case "$1" in
    *'"__name__":"refresh"'*) oga_info ;;
    *'"__name__":"lock-screen"'*) say "ovirt-guest-agent: lock-screen"; printf '{"__name__":"session-lock"}\n' ;;
    *'"__name__":"login"'*)
      user=$(field "$1" username); say "ovirt-guest-agent: login $user"
      printf '%s' "$user" > /run/oga.user; utmp_login "$user"
      printf '{"__name__":"session-logon"}\n{"__name__":"active-user","name":%s}\n' "$(jstr "$user")" ;;
    *'"__name__":"log-off"'*)
      say "ovirt-guest-agent: log-off"; rm -f /run/oga.user; : > /run/utmp
      printf '{"__name__":"session-logoff"}\n{"__name__":"active-user","name":"None"}\n' ;;
    *'"__name__":"set-number-of-cpus"'*) printf '{"__name__":"number-of-cpus","count":%s}\n' "$(nproc)" ;;
    *'"__name__":"lifecycle-event"'*)
      id=$(field "$1" reply_id); [ -n "$id" ] && printf '{"__name__":"completion","reply_id":%s}\n' "$(jstr "$id")" ;;
    *'"__name__":"shutdown"'*)
      t=$(field "$1" timeout); r=$(field "$1" reboot)
      say "ovirt-guest-agent: shutdown (timeout ${t:-0}, reboot ${r:-False})"
      printf '{"__name__":"session-shutdown"}\n'
      ( sleep "$(( ${t:-0} > 30 ? 30 : ${t:-0} ))"; sync; if [ "$r" = True ]; then reboot -f; else poweroff -f; fi ) & ;;
    # Host-side test controls (desktopSendHcCommand): stop, resume, kill and restart qemu-ga, bad input.
    *'"__name__":"qga-stop"'*) say "qga-stop"; kill -STOP $(pidof qemu-ga) ;;
    *'"__name__":"qga-cont"'*) say "qga-cont"; kill -CONT $(pidof qemu-ga) ;;
    *'"__name__":"qga-kill"'*) say "qga-kill"; touch /run/qga.off; kill $(pidof qemu-ga) ;;
    *'"__name__":"qga-start"'*) say "qga-start"; rm -f /run/qga.off ;;
    *'"__name__":"garbage"'*) say "ovirt-guest-agent: sending bad input"; oga_garbage ;;
  esac
}

OGA=$(port_dev ovirt-guest-agent.0)
if [ -n "$OGA" ]; then
  say "ovirt-guest-agent on $OGA"
  ( exec 3<>"$OGA"
    # Commands from the host (refresh, api-version, lock-screen ...); answers go out on the same port.
    ( while read -r line <&3; do oga_command "$line" >&3; done ) &
    oga_info >&3
    n=0
    while true; do
      total=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)
      free=$(awk '/^MemFree:/{print $2}' /proc/meminfo)
      buffers=$(awk '/^Buffers:/{print $2}' /proc/meminfo)
      cached=$(awk '/^Cached:/{print $2}' /proc/meminfo)
      printf '{"__name__":"heartbeat","free-ram":"%s","memory-stat":{"mem_total":"%s","mem_unused":"%s","mem_buffers":"%s","mem_cached":"%s","swap_in":"0","swap_out":"0","pageflt":"0","majflt":"0"},"apiVersion":3}\n' \
        "$((free / 1024))" "$total" "$free" "$buffers" "$cached" >&3
      # The real agent refreshes what it reported now and then; once a minute here.
      n=$((n + 1)); [ $((n % 12)) -eq 0 ] && oga_info >&3
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
