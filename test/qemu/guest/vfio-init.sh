#!/bin/busybox sh
# /init of the VFIO guest's initramfs (test/helpers/vfio-guest.ts builds it).
#
# Binds every modern virtio-net device (PCI 1af4:1041) to vfio-pci: their driver_override is set
# before any module loads, so virtio_pci (loaded last, for the 9p transport) never claims it.
# Then it runs the test's script (/vq/run.sh, appended per run by the harness), which mounts the
# host's files (vq_host) and runs the host's Node on them (vq_node), and powers off. Lines for
# the harness on the serial console:
#   VQ-BOOT                                first thing
#   VQ-VFIO device=0000:00:03.0 group=N driver=vfio-pci   the (first) device, its IOMMU group, its driver
#   VQ-VFIO-MORE device=... group=N driver=...            each further one
#   VQ-OUT i <line> / VQ-ERR i <line>      stdout / stderr of the i-th vq_node
#   VQ-NODE i status=N start=S end=E       its exit status, and when it ran (guest uptime, seconds)
#   VQ-ERROR ...                           something the test should fail on
#   VQ-DONE status=N                       run.sh returned N; poweroff follows
. /lib/vq-common.sh
vq_boot

nets=""
for d in /sys/bus/pci/devices/*; do
  if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1041 ]; then
    echo vfio-pci >"$d/driver_override"
    nets="$nets $d"
  fi
done
[ -n "$nets" ] || echo "VQ-ERROR no modern virtio-net PCI device (1af4:1041)"

for m in $(cat /lib/vq-modules); do
  insmod "/lib/modules/$m.ko" || echo "VQ-ERROR insmod $m"
done

# Each device bound to vfio-pci: the first is VQ_VFIO_DEVICE (its VQ-VFIO line), the others
# (VQ-VFIO-MORE lines) follow it in VQ_VFIO_DEVICES.
VQ_VFIO_DEVICES=""
for net in $nets; do
  bdf=${net##*/}
  [ -e "$net/driver" ] || echo "$bdf" >/sys/bus/pci/drivers_probe
  group=$(readlink "$net/iommu_group")
  group=${group##*/}
  i=0
  while [ ! -e "/dev/vfio/$group" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  driver=$(readlink "$net/driver")
  if [ -z "$VQ_VFIO_DEVICES" ]; then
    echo "VQ-VFIO device=$bdf group=${group:-none} driver=${driver##*/}"
    export VQ_VFIO_DEVICE="$bdf"
  else
    echo "VQ-VFIO-MORE device=$bdf group=${group:-none} driver=${driver##*/}"
  fi
  VQ_VFIO_DEVICES="${VQ_VFIO_DEVICES:+$VQ_VFIO_DEVICES }$bdf"
  [ -e "/dev/vfio/$group" ] || echo "VQ-ERROR no /dev/vfio/$group"
done
export VQ_VFIO_DEVICES

# vq_host REPO: a root for the host's Node at /newroot: the host's /usr (9p tag "usr") with the
# usual symlinks into it, the repository (tag "repo") at its host path REPO, and /proc, /sys,
# /dev and a fresh /tmp. Read-only: the guest writes nothing of the host's.
vq_host() {
  mkdir -p /newroot
  mount -t tmpfs -o size=64m tmpfs /newroot || { echo "VQ-ERROR tmpfs /newroot"; return 1; }
  mkdir -p /newroot/usr /newroot/proc /newroot/sys /newroot/dev /newroot/tmp "/newroot$1"
  for l in bin sbin lib lib64; do ln -s "usr/$l" "/newroot/$l"; done
  o=trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro
  mount -t 9p -o $o usr /newroot/usr || { echo "VQ-ERROR 9p mount of the host's /usr"; return 1; }
  mount -t 9p -o $o repo "/newroot$1" || { echo "VQ-ERROR 9p mount of the repository"; return 1; }
  mount --bind /proc /newroot/proc
  mount --bind /sys /newroot/sys
  mount --bind /dev /newroot/dev
}

# vq_rebind BDF DRIVER: moves the PCI function BDF from its driver (if any) to DRIVER (vfio-pci,
# or virtio-pci: the kernel's virtio_net then takes the virtio device, when its module is in the
# initramfs) through driver_override, and waits up to 10 s for it to be bound (for vfio-pci: for
# /dev/vfio/GROUP; for virtio-pci: for the network interface). Says VQ-ERROR and returns 1 if not.
vq_rebind() {
  d=/sys/bus/pci/devices/$1
  [ -e "$d/driver" ] && echo "$1" >"$d/driver/unbind"
  echo "$2" >"$d/driver_override"
  echo "$1" >/sys/bus/pci/drivers_probe
  i=0
  while [ $i -lt 100 ]; do
    drv=$(readlink "$d/driver")
    if [ "${drv##*/}" = "$2" ]; then
      if [ "$2" = vfio-pci ]; then
        g=$(readlink "$d/iommu_group")
        [ -e "/dev/vfio/${g##*/}" ] && return 0
      elif [ -n "$(vq_netif "$1")" ]; then
        return 0
      fi
    fi
    sleep 0.1
    i=$((i + 1))
  done
  echo "VQ-ERROR $1 not bound to $2 (driver: ${drv##*/})"
  return 1
}

# vq_netif BDF: the kernel's network interface of the PCI function BDF (virtio_net's), if any.
vq_netif() {
  for n in /sys/bus/pci/devices/$1/virtio*/net/*; do
    [ -e "$n" ] && echo "${n##*/}" && return 0
  done
}

vq_nodes=0
# vq_node ARG...: runs the host's node with these arguments in /newroot (from the repository's
# directory, $VQ_REPO; $VQ_VFIO_DEVICE is the device's PCI address), its output framed for the
# harness; returns its status.
vq_node() {
  n=$vq_nodes
  vq_nodes=$((vq_nodes + 1))
  read start _ </proc/uptime
  chroot /newroot /bin/sh -c 'cd "$0" && exec /usr/bin/node "$@"' "$VQ_REPO" "$@" </dev/null >/tmp/vq-out 2>/tmp/vq-err
  s=$?
  read end _ </proc/uptime
  sed "s/^/VQ-OUT $n /" /tmp/vq-out
  sed "s/^/VQ-ERR $n /" /tmp/vq-err
  echo "VQ-NODE $n status=$s start=$start end=$end"
  return $s
}

vq_run_and_power_off
