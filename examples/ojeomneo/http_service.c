/* ojeomneo-service: a stand-in for the ojeomneo web service (seed 003), for
 * the tests and the demo. An HTTP/1.1 server (a thread per connection, one
 * request per connection) that answers with known statuses and latencies and
 * keeps its RED and business counters in bpfex's counter region
 * (bpf/include/ojeomneo_counters.h), with atomic adds.
 *
 *   ojeomneo-service [--pin-dir DIR] [--listen 127.0.0.1:8080]
 *
 *   GET  /api/menus        200 after 20 ms
 *   GET  /api/menus/N      200 after 30 ms; a menu view of category N % 5
 *                          (path label /api/menus/:id)
 *   POST /api/orders       201 after 80 ms; an order paid by the request's
 *                          X-Payment (default card) of X-Amount won
 *   GET  /api/slow         200 after 700 ms
 *   GET  /api/error        500 after 5 ms
 *   anything else          404 (path label "other")
 * A request's X-User header makes that user active for 5 minutes
 * (ojeomneo_users_active). Request and response sizes are the bytes read and
 * written, headers included.
 * Build: cc -O2 -D_GNU_SOURCE -pthread -I bpf/include examples/ojeomneo/http_service.c -o ojeomneo-service */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ojeomneo_counters.h"
#include "bpfex_region.h"

static const __u64 kBounds[OJEOMNEO_DURATION_BUCKETS] = OJEOMNEO_DURATION_BOUNDS_NS;
static struct ojeomneo_counters *g;
static struct ojeomneo_route *routes;
static struct ojeomneo_business *business;
static pthread_mutex_t claim_mu = PTHREAD_MUTEX_INITIALIZER;

#define add bpfex_add

static __u64 now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void *map_pinned(const char *dir, const char *name, __u32 value_size, __u32 entries) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return bpfex_region_map(path, value_size, entries);
}

/* The slot of a label set, claimed on first use; NULL when all are taken. */
static struct ojeomneo_route *route(const char *method, const char *path, unsigned status) {
  for (int i = 0; i < OJEOMNEO_ROUTE_SLOTS; ++i) {
    struct ojeomneo_route *r = &routes[i];
    if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) && r->status == status && !strcmp(r->method, method) &&
        !strcmp(r->path, path))
      return r;
  }
  pthread_mutex_lock(&claim_mu);
  struct ojeomneo_route *found = NULL;
  for (int i = 0; i < OJEOMNEO_ROUTE_SLOTS && !found; ++i) {
    struct ojeomneo_route *r = &routes[i];
    if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE)) {
      if (r->status == status && !strcmp(r->method, method) && !strcmp(r->path, path)) found = r;
      continue;
    }
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->status = status;
    __atomic_store_n(&r->in_use, 1, __ATOMIC_RELEASE);
    found = r;
  }
  pthread_mutex_unlock(&claim_mu);
  if (!found) add(&g->unslotted, 1);
  return found;
}

static void count(enum ojeomneo_kind kind, const char *l1, const char *l2, __u64 n) {
  struct ojeomneo_business *found = NULL;
  pthread_mutex_lock(&claim_mu);
  for (int i = 0; i < OJEOMNEO_BUSINESS_SLOTS && !found; ++i) {
    struct ojeomneo_business *b = &business[i];
    if (__atomic_load_n(&b->in_use, __ATOMIC_ACQUIRE)) {
      if (b->kind == kind && !strcmp(b->label1, l1) && !strcmp(b->label2, l2)) found = b;
      continue;
    }
    memset(b, 0, sizeof *b);
    b->kind = kind;
    snprintf(b->label1, sizeof b->label1, "%s", l1);
    snprintf(b->label2, sizeof b->label2, "%s", l2);
    __atomic_store_n(&b->in_use, 1, __ATOMIC_RELEASE);
    found = b;
  }
  pthread_mutex_unlock(&claim_mu);
  if (found) add(&found->value, n);
  else add(&g->unslotted, 1);
}

/* Active users: X-User values seen in the last 5 minutes. */
#define MAX_USERS 1024
static struct {
  char name[32];
  __u64 seen_ns;
} users[MAX_USERS];
static void saw_user(const char *name) {
  __u64 now = now_ns(CLOCK_MONOTONIC), active = 0;
  int free_slot = -1, found = 0;
  pthread_mutex_lock(&claim_mu);
  for (int i = 0; i < MAX_USERS; ++i) {
    if (users[i].name[0] && now - users[i].seen_ns > 300000000000ull) users[i].name[0] = 0;
    if (!users[i].name[0]) {
      if (free_slot < 0) free_slot = i;
      continue;
    }
    if (!strncmp(users[i].name, name, sizeof users[i].name - 1)) users[i].seen_ns = now, found = 1;
    ++active;
  }
  if (!found && free_slot >= 0) {
    size_t len = strnlen(name, sizeof users[free_slot].name - 1);  /* longer names: their first 31 bytes */
    memcpy(users[free_slot].name, name, len);
    users[free_slot].name[len] = 0;
    users[free_slot].seen_ns = now;
    ++active;
  }
  __atomic_store_n(&g->users_active, active, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&claim_mu);
}

static const char *header(const char *req, const char *name, char *out, size_t n) {
  const char *h = strcasestr(req, name);
  if (!h) return NULL;
  h += strlen(name);
  while (*h == ' ') ++h;
  size_t i = 0;
  while (h[i] && h[i] != '\r' && i + 1 < n) out[i] = h[i], ++i;
  out[i] = 0;
  return out;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  add(&g->active_connections, 1);
  char buf[8192] = "";
  size_t got = 0;
  char *end = NULL;
  while (got + 1 < sizeof buf && !(end = strstr(buf, "\r\n\r\n"))) {
    ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = 0;
  }
  const __u64 t0 = now_ns(CLOCK_MONOTONIC);
  char method[8] = "", target[256] = "", tmp[64];
  if (end && sscanf(buf, "%7s %255s", method, target) == 2) {
    size_t body = header(buf, "\r\nContent-Length:", tmp, sizeof tmp) ? (size_t)atol(tmp) : 0;
    size_t have = got - (size_t)(end + 4 - buf);
    while (have < body && got + 1 < sizeof buf) {
      ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
      if (n <= 0) break;
      got += (size_t)n, have += (size_t)n;
    }
    if (header(buf, "\r\nX-User:", tmp, sizeof tmp)) saw_user(tmp);
    unsigned status = 404;
    const char *path = "other";
    unsigned delay_ms = 1;
    int id = -1;
    if (!strcmp(method, "GET") && !strcmp(target, "/api/menus")) status = 200, path = "/api/menus", delay_ms = 20;
    else if (!strcmp(method, "GET") && sscanf(target, "/api/menus/%d", &id) == 1 && id >= 0)
      status = 200, path = "/api/menus/:id", delay_ms = 30;
    else if (!strcmp(method, "POST") && !strcmp(target, "/api/orders")) status = 201, path = "/api/orders", delay_ms = 80;
    else if (!strcmp(method, "GET") && !strcmp(target, "/api/slow")) status = 200, path = "/api/slow", delay_ms = 700;
    else if (!strcmp(method, "GET") && !strcmp(target, "/api/error")) status = 500, path = "/api/error", delay_ms = 5;
    usleep(delay_ms * 1000);
    if (id >= 0) {
      char cat[16];
      snprintf(cat, sizeof cat, "%d", id % 5);
      count(OJEOMNEO_MENU_VIEWS, cat, "", 1);
    }
    if (status == 201) {
      char pay[32] = "card", amount[32] = "0";
      header(buf, "\r\nX-Payment:", pay, sizeof pay);
      header(buf, "\r\nX-Amount:", amount, sizeof amount);
      count(OJEOMNEO_ORDERS, "paid", pay, 1);
      count(OJEOMNEO_ORDER_AMOUNT, pay, "", strtoull(amount, NULL, 10));
    }
    char resp[512];
    const char *text = status == 200 ? "OK" : status == 201 ? "Created" : status == 500 ? "Internal Server Error" : "Not Found";
    char payload[64];
    int plen = snprintf(payload, sizeof payload, "{\"status\": %u}\n", status);
    int rlen = snprintf(resp, sizeof resp,
                        "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n%s", status, text, plen, payload);
    ssize_t sent = send(fd, resp, (size_t)rlen, MSG_NOSIGNAL);
    struct ojeomneo_route *r = route(method, path, status);
    if (r) {
      bpfex_observe(r->duration_buckets, &r->duration_sum_ns, kBounds, OJEOMNEO_DURATION_BUCKETS,
                    now_ns(CLOCK_MONOTONIC) - t0);
      add(&r->request_bytes, got);
      add(&r->response_bytes, sent > 0 ? (__u64)sent : 0);
      add(&r->requests, 1);
    }
  }
  close(fd);
  __atomic_fetch_sub(&g->active_connections, 1, __ATOMIC_RELAXED);
  return NULL;
}

static void *heartbeat(void *arg) {
  (void)arg;
  for (;;) {
    bpfex_writer_beat(&g->liveness);
    usleep(500000);
  }
  return NULL;
}

static void on_term(int sig) {
  (void)sig;
  bpfex_writer_stop(&g->liveness);
  _exit(0);
}

int main(int argc, char **argv) {
  const char *dir = "/sys/fs/bpf/bpfex", *listen_at = "127.0.0.1:8080";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--pin-dir")) dir = argv[i + 1];
    else if (!strcmp(argv[i], "--listen")) listen_at = argv[i + 1];
    else {
      fprintf(stderr, "ojeomneo-service: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  g = map_pinned(dir, "ojeomneo_counters", sizeof *g, 1);
  routes = map_pinned(dir, "ojeomneo_routes", sizeof *routes, OJEOMNEO_ROUTE_SLOTS);
  business = map_pinned(dir, "ojeomneo_business", sizeof *business, OJEOMNEO_BUSINESS_SLOTS);
  if (!g || !routes || !business) return 1;
  if (__atomic_load_n(&g->abi, __ATOMIC_ACQUIRE) != OJEOMNEO_COUNTERS_ABI) {
    memset(g, 0, sizeof *g);
    memset(routes, 0, sizeof *routes * OJEOMNEO_ROUTE_SLOTS);
    memset(business, 0, sizeof *business * OJEOMNEO_BUSINESS_SLOTS);
    __atomic_store_n(&g->abi, OJEOMNEO_COUNTERS_ABI, __ATOMIC_RELEASE);
  }
  /* Every start: its own start time and pid, and the liveness protocol
   * (bpfex_liveness.h): a heartbeat thread, "stopped" on SIGTERM. */
  bpfex_set(&g->start_time_ns, now_ns(CLOCK_REALTIME));
  __atomic_store_n(&g->pid, (__u64)getpid(), __ATOMIC_RELAXED);
  bpfex_writer_start(&g->liveness);
  pthread_t beat;
  if (pthread_create(&beat, NULL, heartbeat, NULL) == 0) pthread_detach(beat);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  __atomic_store_n(&g->active_connections, 0, __ATOMIC_RELAXED);

  char host[64];
  int port = 0;
  if (sscanf(listen_at, "%63[^:]:%d", host, &port) != 2) return 2;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 128) != 0) {
    perror("ojeomneo-service: listen");
    return 1;
  }
  printf("{\"ready\": true, \"pid\": %d}\n", getpid());
  fflush(stdout);
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, serve, (void *)(intptr_t)c) != 0) close(c);
    pthread_attr_destroy(&attr);
  }
}
