# Sourced by each guest's /init (init.sh, vfio-init.sh) from /lib/vq-common.sh: what every guest
# does first and last. test/helpers/qemu.ts puts it into every base initramfs.

# Mounts /proc, /sys and /dev, installs busybox's applets, and says VQ-BOOT.
vq_boot() {
  /bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin /usr/bin /usr/sbin
  /bin/busybox --install -s
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null
  echo "VQ-BOOT"
}

# Sources the test's /vq/run.sh, says VQ-DONE with its status, and powers off.
vq_run_and_power_off() {
  status=0
  if [ -f /vq/run.sh ]; then
    . /vq/run.sh
    status=$?
  else
    echo "VQ-ERROR no /vq/run.sh"
  fi
  echo "VQ-DONE status=$status"
  poweroff -f
}
