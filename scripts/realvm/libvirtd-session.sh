#!/usr/bin/env bash
# Run an unprivileged libvirtd (as nobody) that serves qemu:///session and the test driver on a unix
# socket in RUN/run, with no system change: its config, state, sockets and logs all live under RUN.
#   libvirtd-session.sh start RUN   # prints the two URIs
#   libvirtd-session.sh stop RUN    # kills libvirtd, then every process still using RUN (qemu, virtlogd)
#   libvirtd-session.sh uris RUN
# Keep RUN short (e.g. /tmp/vr-XXXX): QEMU's monitor and channel sockets live below it and a unix socket
# path must stay under 108 bytes. test/support/realvm/libvirtd.ts does the same from TypeScript.
set -euo pipefail

cmd=${1:?usage: libvirtd-session.sh start|stop|uris RUN}
RUN=${2:?usage: libvirtd-session.sh start|stop|uris RUN}
USER_NAME=${VDSM_REALVM_USER:-nobody}
GROUP_NAME=${VDSM_REALVM_GROUP:-nogroup}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
SOCK="$RUN/run/libvirt-sock"

uris() {
  echo "qemu+unix:///session?socket=$SOCK"
  echo "test+unix:///default?socket=$SOCK"
}

# Every process whose command line or environment names RUN: libvirtd, virtlogd, qemu. One grep over
# /proc (unreadable and vanished entries skipped); this script's own process group (its subshells carry
# RUN in their command line too) is left out.
pids_using_run() {
  local own pid stat
  own=$(cut -d' ' -f5 /proc/$$/stat)
  for pid in $(LC_ALL=C grep -lsaF -- "$RUN/" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | sort -u); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }                          # drop "pid (comm) ": comm may contain spaces
    [ "$(echo "$stat" | cut -d' ' -f3)" = "$own" ] || echo "$pid"
  done
}

case "$cmd" in
start)
  if [ -S "$SOCK" ] && [ -f "$RUN/libvirtd.pid" ] && kill -0 "$(cat "$RUN/libvirtd.pid")" 2>/dev/null; then
    uris; exit 0
  fi
  mkdir -p "$RUN"/{run,home,cfg,rt,cache} "$RUN/cfg/libvirt"
  cat > "$RUN/libvirtd.conf" <<EOF
unix_sock_dir = "$RUN/run"
unix_sock_rw_perms = "0777"
unix_sock_ro_perms = "0777"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "3:file:$RUN/libvirtd.log"
EOF
  # QEMU writes its own stdout log: no virtlogd daemon to outlive the test. A random window of 100 VNC
  # ports below the ephemeral range, so two daemons at once do not both hand out 5900.
  VNC_MIN=$((5900 + 100 * (RANDOM % 268)))
  printf 'stdio_handler = "file"\nremote_display_port_min = %d\nremote_display_port_max = %d\n' \
    "$VNC_MIN" "$((VNC_MIN + 99))" > "$RUN/cfg/libvirt/qemu.conf"
  chown -R "$USER_NAME:$GROUP_NAME" "$RUN"
  chmod 700 "$RUN/rt"
  setsid setpriv --reuid="$USER_NAME" --regid="$GROUP_NAME" --clear-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$RUN/home" XDG_CONFIG_HOME="$RUN/cfg" \
    XDG_RUNTIME_DIR="$RUN/rt" XDG_CACHE_HOME="$RUN/cache" \
    libvirtd -f "$RUN/libvirtd.conf" > "$RUN/libvirtd.out" 2>&1 < /dev/null &
  echo $! > "$RUN/libvirtd.pid"
  for _ in $(seq 100); do
    [ -S "$SOCK" ] && { uris; exit 0; }
    kill -0 "$(cat "$RUN/libvirtd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "libvirtd did not come up; see $RUN/libvirtd.out and $RUN/libvirtd.log" >&2
  cat "$RUN/libvirtd.out" >&2 || true
  exit 1
  ;;
stop)
  if [ -f "$RUN/libvirtd.pid" ]; then
    pid=$(cat "$RUN/libvirtd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$RUN/libvirtd.pid"
  fi
  # Session QEMU processes and virtlogd are daemonized away from libvirtd and survive it.
  for _ in $(seq 50); do
    left=$(pids_using_run)
    [ -z "$left" ] && exit 0
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    sleep 0.1
  done
  echo "processes still using $RUN: $(pids_using_run)" >&2
  exit 1
  ;;
uris) uris ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
