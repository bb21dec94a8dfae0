/* masque-server: a stand-in for the masque-vpn server (seed 002), for the
 * tests and the demo. It does what the real server does around its data
 * path, minus QUIC: it owns a TUN device, gives each client an address from
 * the pool, moves the clients' packets through the TUN, and keeps its
 * counters in bpfex's counter region (bpf/include/masque_counters.h) with
 * atomic adds, no syscall per increment.
 *
 *   masque-server [--pin-dir DIR] [--tun NAME] [--pool A.B.C.0/24] [--clients ID,ID,...]
 *                 [--inject N] [--failed-requests N]
 *
 *   - opens the TUN (IFF_TUN, no packet info; a persistent one made before,
 *     e.g. by `ip tuntap add mode tun`, or a new one), gives it the pool's
 *     first address and brings it up;
 *   - accepts each client: a CONNECT-IP request (timed), an address from the
 *     pool (slot i: the pool's address 2 + i), one bidirectional and two
 *     unidirectional QUIC streams; --failed-requests more requests fail
 *     authentication;
 *   - "receives" --inject packets from each client: UDP datagrams from the
 *     client's address to the server's port 9, written into the TUN (the
 *     kernel sees them arrive on the tunnel: TC ingress), of 28 + 100 + (k %
 *     50) bytes for the k-th packet;
 *   - until SIGTERM: every packet the kernel routes to a client address
 *     leaves by the TUN (TC egress); the server reads it, as it would to
 *     send it to the client over QUIC, and times it (outbound processing);
 *     an unknown destination is dropped as invalid, over 1400 bytes as
 *     oversized;
 *   - on SIGTERM: every client disconnects (connection and stream durations
 *     observed), then it prints what it moved, as JSON, and exits; the TUN
 *     goes with it.
 * Build: cc -O2 -D_GNU_SOURCE -I bpf/include examples/masque/masque_server.c -o masque-server */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "masque_counters.h"
#include "bpfex_region.h"

static const __u64 kFast[MASQUE_FAST_BUCKETS] = MASQUE_FAST_BOUNDS_NS;
static const __u64 kSlow[MASQUE_SLOW_BUCKETS] = MASQUE_SLOW_BOUNDS_NS;

#define add bpfex_add
#define set bpfex_set
static void fast(struct masque_fast_histogram *h, __u64 ns) {
  bpfex_observe(h->buckets, &h->sum_ns, kFast, MASQUE_FAST_BUCKETS, ns);
}
static void slow(struct masque_slow_histogram *h, __u64 ns) {
  bpfex_observe(h->buckets, &h->sum_ns, kSlow, MASQUE_SLOW_BUCKETS, ns);
}

static __u64 now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static __u16 csum(const void *data, size_t len) {
  const __u8 *b = data;
  __u32 s = 0;
  for (size_t i = 0; i + 1 < len; i += 2) s += (__u32)(b[i] << 8 | b[i + 1]);
  if (len & 1) s += (__u32)(b[len - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (__u16)~s;
}

/* A UDP datagram from `src` to `dst`:9 with `payload` bytes, as an IPv4 packet. */
static size_t datagram(__u8 *out, __be32 src, __be32 dst, size_t payload) {
  size_t len = 28 + payload;
  memset(out, 0, len);
  out[0] = 0x45;
  out[2] = (__u8)(len >> 8), out[3] = (__u8)len;
  out[8] = 64, out[9] = IPPROTO_UDP;
  memcpy(out + 12, &src, 4);
  memcpy(out + 16, &dst, 4);
  __u16 c = csum(out, 20);
  out[10] = (__u8)(c >> 8), out[11] = (__u8)c;
  out[20] = 0x9c, out[21] = 0x40;  /* source port 40000 */
  out[23] = 9;                     /* discard */
  out[24] = (__u8)((8 + payload) >> 8), out[25] = (__u8)(8 + payload);
  memset(out + 28, 'q', payload);
  return len;
}

int main(int argc, char **argv) {
  const char *pin_dir = "/sys/fs/bpf/bpfex", *tun = "mtun0", *pool = "10.99.0.0/24", *client_list = "alice,bob,carol";
  int inject = 10, failed = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--pin-dir")) pin_dir = argv[i + 1];
    else if (!strcmp(argv[i], "--tun")) tun = argv[i + 1];
    else if (!strcmp(argv[i], "--pool")) pool = argv[i + 1];
    else if (!strcmp(argv[i], "--clients")) client_list = argv[i + 1];
    else if (!strcmp(argv[i], "--inject")) inject = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--failed-requests")) failed = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "masque-server: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  char net[32];
  int prefixlen = 24;
  if (sscanf(pool, "%31[0-9.]/%d", net, &prefixlen) != 2 || prefixlen < 8 || prefixlen > 30) {
    fprintf(stderr, "masque-server: --pool %s is not A.B.C.D/len (8..30)\n", pool);
    return 2;
  }
  __u32 base = ntohl(inet_addr(net));
  char path[512];
  snprintf(path, sizeof path, "%s/masque_counters", pin_dir);
  struct masque_counters *r = bpfex_region_map(path, sizeof *r, 1);
  snprintf(path, sizeof path, "%s/masque_clients", pin_dir);
  struct masque_client *slots = bpfex_region_map(path, sizeof *slots, MASQUE_MAX_CLIENTS);
  if (!r || !slots) return 1;
  if (__atomic_load_n(&r->abi, __ATOMIC_ACQUIRE) != MASQUE_COUNTERS_ABI) {
    memset(r, 0, sizeof *r);
    memset(slots, 0, sizeof *slots * MASQUE_MAX_CLIENTS);
    __atomic_store_n(&r->abi, MASQUE_COUNTERS_ABI, __ATOMIC_RELEASE);
  }
  set(&r->start_time_ns, now_ns(CLOCK_REALTIME));
  bpfex_writer_start(&r->liveness); /* bpfex_liveness.h: running, with a heartbeat below */
  __u64 pool_size = (1ull << (32 - prefixlen)) - 3; /* network, broadcast, the server's own */
  if (pool_size > MASQUE_MAX_CLIENTS) pool_size = MASQUE_MAX_CLIENTS;
  set(&r->ip_pool_total, pool_size);

  /* The tunnel. */
  int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tun);
  if (tfd < 0 || ioctl(tfd, TUNSETIFF, &ifr) != 0) {
    perror("masque-server: TUN");
    add(&r->errors.tun, 1);
    return 1;
  }
  char cmd[256];
  struct in_addr server = {htonl(base + 1)};
  snprintf(cmd, sizeof cmd, "ip addr replace %s/%d dev %s && ip link set %s up", inet_ntoa(server), prefixlen, tun, tun);
  if (system(cmd) != 0) {
    add(&r->errors.tun, 1);
    return 1;
  }
  /* The server's own endpoint for what clients send it (port 9: discard). */
  int sink = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr = server};
  if (sink < 0 || bind(sink, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("masque-server: bind");
    return 1;
  }

  /* Clients: a CONNECT-IP request each, an address, three streams. */
  char *ids = strdup(client_list);
  int nclients = 0;
  __u64 connected_at[MASQUE_MAX_CLIENTS];
  for (char *id = strtok(ids, ","); id && nclients < (int)pool_size; id = strtok(NULL, ",")) {
    __u64 t0 = now_ns(CLOCK_MONOTONIC);
    struct masque_client *c = &slots[nclients];
    memset(c, 0, sizeof *c);
    c->addr = htonl(base + 2 + (__u32)nclients);
    snprintf(c->client_id, sizeof c->client_id, "%s", id);
    __atomic_store_n(&c->in_use, 1, __ATOMIC_RELEASE);
    add(&c->streams_bidirectional, 1);
    add(&c->streams_unidirectional, 2);
    add(&r->connect_requests.success, 1);
    add(&r->total_connections, 1);
    add(&r->active_connections, 1);
    add(&r->ip_pool_used, 1);
    fast(&r->connect_request, now_ns(CLOCK_MONOTONIC) - t0);
    connected_at[nclients++] = now_ns(CLOCK_MONOTONIC);
  }
  for (int i = 0; i < failed; ++i) {
    __u64 t0 = now_ns(CLOCK_MONOTONIC);
    add(&r->connect_requests.failed, 1);
    add(&r->errors.auth, 1);
    fast(&r->connect_request, now_ns(CLOCK_MONOTONIC) - t0);
  }

  /* What the clients send: into the tunnel. */
  __u8 pkt[2048];
  __u64 rx_packets[MASQUE_MAX_CLIENTS] = {0}, rx_bytes[MASQUE_MAX_CLIENTS] = {0};
  for (int i = 0; i < nclients; ++i)
    for (int k = 0; k < inject; ++k) {
      __u64 t0 = now_ns(CLOCK_MONOTONIC);
      size_t len = datagram(pkt, slots[i].addr, server.s_addr, 100 + (size_t)(k % 50));
      if (write(tfd, pkt, len) != (ssize_t)len) {
        add(&r->drops.processing_error, 1);
        add(&r->errors.packet, 1);
        continue;
      }
      fast(&r->processing_inbound, now_ns(CLOCK_MONOTONIC) - t0);
      rx_packets[i]++, rx_bytes[i] += len;
    }

  /* What goes to the clients: out of the tunnel, until SIGTERM. */
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  __u64 tx_packets[MASQUE_MAX_CLIENTS] = {0}, tx_bytes[MASQUE_MAX_CLIENTS] = {0};
  printf("{\"ready\": true}\n");
  fflush(stdout);
  while (!stop) {
    bpfex_writer_beat(&r->liveness);  /* at least every 200 ms (the poll's timeout) */
    struct pollfd p[2] = {{.fd = tfd, .events = POLLIN}, {.fd = sink, .events = POLLIN}};
    if (poll(p, 2, 200) <= 0) continue;
    if (p[1].revents & POLLIN)
      while (recv(sink, pkt, sizeof pkt, 0) > 0) {
      }
    if (!(p[0].revents & POLLIN)) continue;
    ssize_t n = read(tfd, pkt, sizeof pkt);
    if (n < 20) continue;
    __u64 t0 = now_ns(CLOCK_MONOTONIC);
    __be32 dst;
    memcpy(&dst, pkt + 16, 4);
    int who = -1;
    for (int i = 0; i < nclients; ++i)
      if (slots[i].addr == dst) who = i;
    if ((pkt[0] >> 4) != 4 || who < 0) {
      add(&r->drops.invalid, 1);
      continue;
    }
    if (n > 1400) {
      add(&r->drops.oversized, 1);
      continue;
    }
    tx_packets[who]++, tx_bytes[who] += (__u64)n;
    fast(&r->processing_outbound, now_ns(CLOCK_MONOTONIC) - t0);
  }

  /* Everyone disconnects. */
  for (int i = 0; i < nclients; ++i) {
    __u64 d = now_ns(CLOCK_MONOTONIC) - connected_at[i];
    slow(&slots[i].connection_duration, d);
    for (int s = 0; s < 3; ++s) slow(&slots[i].stream_duration, d);
    __atomic_fetch_sub(&r->ip_pool_used, 1, __ATOMIC_RELAXED);
  }
  set(&r->active_connections, 0);
  bpfex_writer_stop(&r->liveness);
  printf("{\"clients\": {");
  for (int i = 0; i < nclients; ++i)
    printf("%s\"%s\": {\"received_packets\": %llu, \"received_bytes\": %llu, \"sent_packets\": %llu, "
           "\"sent_bytes\": %llu}", i ? ", " : "", slots[i].client_id, (unsigned long long)rx_packets[i],
           (unsigned long long)rx_bytes[i], (unsigned long long)tx_packets[i], (unsigned long long)tx_bytes[i]);
  printf("}}\n");
  free(ids);
  return 0;
}
