/*
 * vqpkt: a raw Ethernet frame sender and counter for the QEMU guest tests (test/qemu/).
 *
 * Built by the harness with `gcc -static -O2` and put into the guest's initramfs. It opens an
 * AF_PACKET socket on an interface, sends COUNT frames of SIZE bytes (destination MAC to the end
 * of the payload, no FCS) with ethertype 0x88b5 (IEEE local experimental) at RATE frames per
 * second to DST, and counts the frames of that ethertype it receives meanwhile and for WAIT ms
 * after the last one (the echo of `virtqueue vhost --fwd io` or `--fwd macswap`). It prints one
 * line the harness parses:
 *
 *   VQPKT if=eth0 cpu=0 sent=N send_errors=E rx=R rx_swapped=S rx_same=M rx_unique=U rx_dup=D rx_drops=X held_ms=H seconds=T
 *
 * rx counts every received frame with the ethertype, rx_swapped those whose destination is our
 * MAC and source DST (macswap), rx_same those that came back unchanged (io: destination DST,
 * source our MAC). rx_unique counts this run's sequence numbers (bytes 18..21 of a frame with
 * our magic) that came back at least once, rx_dup the copies beyond the first. rx_drops is what
 * the kernel dropped on the receiving socket (PACKET_STATISTICS tp_drops): frames the device
 * delivered that this program never saw. The socket's buffer is forced to RX_BUFFER bytes, more
 * than a run's frames take, so that a burst (a new back-end echoing a ring's backlog at once while
 * a loaded guest is slow to read) does not overflow the default 208 KiB, about a hundred frames.
 *
 * With -L a frame is sent only while the interface has its carrier (IFF_RUNNING): while it is
 * down (QEMU took the link down: its vhost-user back-end went away) sending waits, reading the
 * echo meanwhile, and the schedule moves by the time waited; held_ms says how long that was.
 * Without -L such frames are dropped by the guest's own stack, silently. -L also sends past the
 * qdisc (PACKET_QDISC_BYPASS), straight to the driver: a frame that races the carrier going
 * down lands on the ring (where the device, or QEMU, accounts for it), never in the qdisc that
 * a device without carrier has, which drops it unseen. Frames are paced on CLOCK_MONOTONIC; a send that finds the queue full
 * (ENOBUFS/EAGAIN) is retried after 1 ms, up to 1000 times, then counted as an error.
 *
 * With -T SECONDS (flood, for bench/vfio.bench.ts) frames go out as fast as the driver takes
 * them, for SECONDS (or COUNT frames, whichever comes first; RATE is ignored): past the qdisc
 * (PACKET_QDISC_BYPASS, straight to the driver's transmit queue, as pktgen sends), a send that
 * finds the queue full retried at once (no sleep), the echo read only every 1024 frames. Only
 * the first 2^24 sequence numbers are tracked for rx_unique.
 *
 * Usage: vqpkt -i IFACE -n COUNT [-s SIZE] [-r RATE] [-d DSTMAC] [-w WAIT_MS] [-c CPU] [-t TAG] [-L] [-T SECONDS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_VQ 0x88b5
#define MAGIC 0x76717074u /* "vqpt" */
#define RX_BUFFER (16 << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, unsigned char mac[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return -1;
    mac[i] = (unsigned char)v[i];
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: vqpkt -i IFACE -n COUNT [-s SIZE] [-r RATE] [-d DSTMAC] [-w WAIT_MS] [-c CPU] [-t TAG] [-L] [-T SECONDS]\n");
  exit(2);
}

struct counts {
  unsigned long rx, swapped, same, unique, dup;
  /* One bit per sequence number sent (count of them): seen come back. */
  unsigned char *seen;
  unsigned long count;
};

static unsigned char me[6], dst[6];

/* Whether IFACE has its carrier (IFF_RUNNING); 1 when that cannot be read. */
static int carrier(int fd, const char *ifname) {
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &r) != 0) return 1;
  return (r.ifr_flags & IFF_RUNNING) != 0;
}

/* Reads every frame waiting on the socket (non-blocking). */
static void drain(int fd, struct counts *c) {
  unsigned char buf[2048];
  for (;;) {
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0) return;
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* our own frames, seen on the way out */
    if (n < 14 || buf[12] != (ETHERTYPE_VQ >> 8) || buf[13] != (ETHERTYPE_VQ & 0xff)) continue;
    c->rx++;
    if (memcmp(buf, me, 6) == 0 && memcmp(buf + 6, dst, 6) == 0) c->swapped++;
    else if (memcmp(buf, dst, 6) == 0 && memcmp(buf + 6, me, 6) == 0) c->same++;
    uint32_t magic, seq;
    if (n < 22) continue;
    memcpy(&magic, buf + 14, 4);
    memcpy(&seq, buf + 18, 4);
    seq = ntohl(seq);
    if (ntohl(magic) != MAGIC || seq >= c->count) continue;
    if (c->seen[seq >> 3] & (1u << (seq & 7))) c->dup++;
    else { c->seen[seq >> 3] |= (unsigned char)(1u << (seq & 7)); c->unique++; }
  }
}

int main(int argc, char **argv) {
  const char *ifname = NULL, *tag = "";
  long count = -1, size = 64, wait_ms = 0, cpu = -1;
  int hold = 0;
  double rate = 1000, flood = 0;
  parse_mac("02:00:00:00:00:02", dst);
  int opt;
  while ((opt = getopt(argc, argv, "i:n:s:r:d:w:c:t:LT:")) != -1) {
    switch (opt) {
      case 'i': ifname = optarg; break;
      case 'n': count = atol(optarg); break;
      case 's': size = atol(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'd': if (parse_mac(optarg, dst)) usage(); break;
      case 'w': wait_ms = atol(optarg); break;
      case 'c': cpu = atol(optarg); break;
      case 't': tag = optarg; break;
      case 'L': hold = 1; break;
      case 'T': flood = atof(optarg); if (flood <= 0) usage(); break;
      default: usage();
    }
  }
  if (!ifname || count < 0 || size < 60 || size > 1514 || rate <= 0) usage();

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("vqpkt: sched_setaffinity"); return 1; }
  }

  /* One socket sends (protocol 0: it receives nothing), one receives our ethertype only. */
  int tx = socket(AF_PACKET, SOCK_RAW, 0);
  int rx = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_VQ));
  if (tx < 0 || rx < 0) { perror("vqpkt: socket"); return 1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(tx, SIOCGIFINDEX, &ifr) != 0) { perror("vqpkt: SIOCGIFINDEX"); return 1; }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(tx, SIOCGIFHWADDR, &ifr) != 0) { perror("vqpkt: SIOCGIFHWADDR"); return 1; }
  memcpy(me, ifr.ifr_hwaddr.sa_data, 6);

  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = htons(ETHERTYPE_VQ);
  if (bind(rx, (struct sockaddr *)&sll, sizeof sll) != 0) { perror("vqpkt: bind rx"); return 1; }
  int rxbuf = RX_BUFFER;
  if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rxbuf, sizeof rxbuf) != 0) { perror("vqpkt: SO_RCVBUFFORCE"); return 1; }
  if (hold || flood > 0) {
    int one = 1;
    if (setsockopt(tx, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) { perror("vqpkt: PACKET_QDISC_BYPASS"); return 1; }
  }
  struct sockaddr_ll to = sll;
  to.sll_halen = 6;
  memcpy(to.sll_addr, dst, 6);

  unsigned char frame[1514];
  memset(frame, 0, sizeof frame);
  memcpy(frame, dst, 6);
  memcpy(frame + 6, me, 6);
  frame[12] = ETHERTYPE_VQ >> 8;
  frame[13] = ETHERTYPE_VQ & 0xff;
  uint32_t magic = htonl(MAGIC);
  memcpy(frame + 14, &magic, 4);
  for (long i = 22; i < size; i++) frame[i] = (unsigned char)i;

  unsigned long tracked = flood > 0 && count > (1L << 24) ? 1UL << 24 : (unsigned long)count;
  struct counts c = {0, 0, 0, 0, 0, calloc(tracked / 8 + 1, 1), tracked};
  if (!c.seen) { perror("vqpkt: calloc"); return 1; }
  unsigned long sent = 0, errors = 0;
  double t0 = now();
  double held = 0;
  for (long i = 0; i < count; i++) {
    if (flood > 0) {
      /* Flood: no pacing; the clock read every 64 frames, the echo every 1024. */
      if ((i & 63) == 0 && now() - t0 >= flood) break;
      if ((i & 1023) == 0) drain(rx, &c);
      uint32_t seq = htonl((uint32_t)i);
      memcpy(frame + 18, &seq, 4);
      for (;;) {
        ssize_t n = sendto(tx, frame, (size_t)size, 0, (struct sockaddr *)&to, sizeof to);
        if (n == size) { sent++; break; }
        if (n < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
          if (now() - t0 >= flood) break;
          continue;
        }
        if (errors++ == 0) perror("vqpkt: sendto");
        break;
      }
      continue;
    }
    double due = t0 + (double)i / rate;
    for (;;) {
      double left = due - now();
      if (left <= 0) break;
      /* Wait for the due time, reading the echo meanwhile. */
      struct pollfd p = {rx, POLLIN, 0};
      int ms = (int)(left * 1000);
      if (poll(&p, 1, ms > 0 ? ms : 0) > 0) drain(rx, &c);
      else if (ms == 0) break;
    }
    if (hold) {
      /* Checked right before the send (not before the pacing wait above, which the carrier
       * can go down during): a frame handed to a device without carrier is dropped unseen. */
      double h0 = now();
      while (!carrier(tx, ifname)) {
        drain(rx, &c);
        usleep(1000);
      }
      double h = now() - h0;
      held += h;
      t0 += h; /* the schedule moves by the time waited: no burst to catch up */
    }
    uint32_t seq = htonl((uint32_t)i);
    memcpy(frame + 18, &seq, 4);
    int tries = 0;
    for (;;) {
      ssize_t n = sendto(tx, frame, (size_t)size, 0, (struct sockaddr *)&to, sizeof to);
      if (n == size) { sent++; break; }
      if (n < 0 && (errno == ENOBUFS || errno == EAGAIN) && ++tries < 1000) {
        drain(rx, &c);
        usleep(1000);
        continue;
      }
      if (errors++ == 0) perror("vqpkt: sendto");
      break;
    }
    drain(rx, &c);
  }
  double t1 = now();
  double end = t1 + (double)wait_ms / 1000;
  for (;;) {
    drain(rx, &c);
    double left = end - now();
    if (left <= 0) break;
    struct pollfd p = {rx, POLLIN, 0};
    int ms = (int)(left * 1000) + 1;
    poll(&p, 1, ms);
  }
  struct tpacket_stats st;
  socklen_t sl = sizeof st;
  if (getsockopt(rx, SOL_PACKET, PACKET_STATISTICS, &st, &sl) != 0) { perror("vqpkt: PACKET_STATISTICS"); return 1; }
  printf("VQPKT%s%s if=%s cpu=%ld sent=%lu send_errors=%lu rx=%lu rx_swapped=%lu rx_same=%lu rx_unique=%lu rx_dup=%lu rx_drops=%u held_ms=%.0f seconds=%.3f\n",
         *tag ? " tag=" : "", tag, ifname, cpu, sent, errors, c.rx, c.swapped, c.same, c.unique, c.dup, st.tp_drops, held * 1000, t1 - t0);
  fflush(stdout);
  return errors ? 1 : 0;
}
