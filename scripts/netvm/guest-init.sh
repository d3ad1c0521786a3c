#!/bin/sh
# /init of the network-kernel guest: load the modules, mount this machine's root (9p, read-only) and a
# writable job directory (9p), build a root on tmpfs from the host's /usr, /etc and /work (merged /usr:
# /bin, /sbin, /lib are links) with its own /proc, /sys, /dev, /run and /tmp (nothing is mounted on
# the 9p tree itself: mounts on 9p dentries do not stay reachable), chroot there, run /tmp/job/cmd.sh
# in the repository, keep its exit code in the job directory and power off.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# max_bonds=0: no bond0 of the module's own; the tests create theirs.
for m in $(cat /modules-order); do
  args=; [ "$m" = bonding ] && args=max_bonds=0
  insmod /lib/modules/$m.ko $args || echo "netvm: insmod $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host || { echo "netvm: no host root"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /job || { echo "netvm: no job dir"; poweroff -f; }
R=/newroot
mkdir -p $R && mount -t tmpfs -o mode=755 root $R
for d in usr etc work opt; do
  [ -d /host/$d ] || continue
  mkdir -p $R/$d && mount --bind /host/$d $R/$d
done
for l in bin sbin lib lib64; do [ -L /host/$l ] && ln -s "$(readlink /host/$l)" $R/$l; done
mkdir -p $R/proc $R/sys $R/dev $R/tmp $R/run $R/var/tmp $R/var/lib $R/root
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mount -t tmpfs tmp $R/tmp
mount -t tmpfs run $R/run
mkdir -p $R/tmp/job && mount --bind /job $R/tmp/job
# The checkout may live anywhere (a CI clone under /tmp or /root): bind it where it is, unless one of
# the trees above already brought it.
CWD=$(cat /job/cwd)
if [ ! -d "$R$CWD" ] || [ -z "$(ls -A "$R$CWD" 2>/dev/null)" ]; then
  mkdir -p "$R$CWD" && mount --bind "/host$CWD" "$R$CWD" || echo "netvm: cannot bind $CWD"
fi
echo "netvm: running /job/cmd.sh"
chroot $R /bin/sh -c 'ip link set lo up; cd "$(cat /tmp/job/cwd)" && HOME=/tmp PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin sh /tmp/job/cmd.sh > /tmp/job/out 2>&1; echo $? > /tmp/job/rc'
sync
echo "netvm: done rc=$(cat /job/rc)"
poweroff -f
