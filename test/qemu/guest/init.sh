#!/bin/busybox sh
# /init of the QEMU guest tests' initramfs (test/helpers/qemu.ts builds it).
#
# Mounts /proc, /sys and /dev, loads the virtio-net modules (/lib/vq-modules, in dependency
# order), brings every ethN up, then runs the test's script (/vq/run.sh, from a second cpio
# archive the harness appends per run) and powers off. It talks to the harness on the serial
# console with lines that start with "VQ-":
#   VQ-BOOT                          each boot, first thing
#   VQ-UP eth0 eth1 ...              the interfaces that came up
#   VQ-ASK                           vq_ask: the harness answers with a line (the boot count)
#   VQ-COUNTERS if=eth0 rx_packets=.. tx_packets=.. rx_dropped=.. tx_dropped=..   vq_counters
#   VQ-ERROR ...                     something the test should fail on
#   VQ-DONE status=N                 run.sh returned N; poweroff follows
. /lib/vq-common.sh
vq_boot

for m in $(cat /lib/vq-modules); do
  insmod "/lib/modules/$m.ko" || echo "VQ-ERROR insmod $m"
done

# The virtio-net interfaces (virtio_net probes asynchronously): wait up to 10 s for eth0.
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/net/eth0 ] || echo "VQ-ERROR no eth0"
ip link set lo up
up=""
for d in /sys/class/net/eth*; do
  [ -e "$d" ] || continue
  n=${d##*/}
  ip link set "$n" up || echo "VQ-ERROR ip link set $n up"
  up="$up $n"
done
echo "VQ-UP$up"

# Prints this interface's statistics on one line.
vq_counters() {
  s=/sys/class/net/$1/statistics
  echo "VQ-COUNTERS if=$1 rx_packets=$(cat $s/rx_packets) tx_packets=$(cat $s/tx_packets) rx_dropped=$(cat $s/rx_dropped) tx_dropped=$(cat $s/tx_dropped) rx_bytes=$(cat $s/rx_bytes) tx_bytes=$(cat $s/tx_bytes)"
}

# Asks the harness for a line (it answers with the boot count) and prints it.
vq_ask() {
  echo "VQ-ASK" >/dev/console
  read -t 30 vq_answer </dev/console
  echo "$vq_answer"
}

vq_run_and_power_off
