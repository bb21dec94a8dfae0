/* What an application needs to keep its counters in a bpfex counter region
 * (docs/ironpost.md, docs/services.md): map the pinned region, add, store,
 * observe. Header-only C, raw bpf(2) and mmap: no libbpf. Include it after
 * the region's own layout header (ironpost_counters.h, masque_counters.h,
 * ojeomneo_counters.h). Compile with _GNU_SOURCE (or _DEFAULT_SOURCE) for
 * syscall(2). */
#ifndef BPFEX_REGION_H
#define BPFEX_REGION_H

#include <errno.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpfex_liveness.h"

/* Counters: a relaxed atomic add (lock xadd: no lock, no syscall). Gauges: a
 * relaxed atomic store. Neither is ever read torn: bpfex copies the region
 * 8-byte word by word with atomic loads. */
static inline void bpfex_add(__u64 *counter, __u64 n) { __atomic_fetch_add(counter, n, __ATOMIC_RELAXED); }
static inline void bpfex_set(__u64 *gauge, __u64 v) { __atomic_store_n(gauge, v, __ATOMIC_RELAXED); }

/* One histogram observation: its bucket by an integer comparison with the
 * bounds in nanoseconds (a value on a bound is in that bound's bucket, as
 * Prometheus' le says), then the sum. `buckets` has n + 1 entries, the last
 * +Inf. */
static inline void bpfex_observe(__u64 *buckets, __u64 *sum_ns, const __u64 *bounds_ns, int n, __u64 ns) {
  int b = 0;
  while (b < n && ns > bounds_ns[b]) ++b;
  bpfex_add(&buckets[b], 1);
  bpfex_add(sum_ns, ns);
}

/* The liveness protocol (bpfex_liveness.h): at start, every second, at exit. */
static inline __u64 bpfex_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}
static inline void bpfex_writer_start(struct bpfex_liveness *l) {
  bpfex_set(&l->writer_pid, (__u64)getpid());
  bpfex_set(&l->heartbeat_ns, bpfex_realtime_ns());
  __atomic_store_n(&l->writer_state, BPFEX_WRITER_RUNNING, __ATOMIC_RELEASE);
}
static inline void bpfex_writer_beat(struct bpfex_liveness *l) { bpfex_set(&l->heartbeat_ns, bpfex_realtime_ns()); }
static inline void bpfex_writer_stop(struct bpfex_liveness *l) {
  __atomic_store_n(&l->writer_state, BPFEX_WRITER_STOPPED, __ATOMIC_RELEASE);
}

/* Copies `s` into the fixed string field `dst` (NUL-terminated), only when
 * it differs: a reader never sees a restart rewrite an unchanged identity. */
static inline void bpfex_set_string(char *dst, size_t size, const char *s) {
  char buf[256];
  if (size > sizeof buf) size = sizeof buf;
  snprintf(buf, size, "%s", s);
  if (strncmp(dst, buf, size) != 0) memcpy(dst, buf, size);
}

/* Maps the pinned array at `path` read-write and shared, after checking it is
 * an mmapable array of `entries` values of `value_size` bytes (this
 * program's layout). NULL, with the reason on stderr, otherwise. The mapping
 * keeps the map alive; the pin can go. */
static inline void *bpfex_region_map(const char *path, __u32 value_size, __u32 entries) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.pathname = (__u64)(uintptr_t)path;
  int fd = (int)syscall(__NR_bpf, BPF_OBJ_GET, &a, sizeof a);
  if (fd < 0) {
    fprintf(stderr, "open %s: %s (is bpfex running with the region's object?)\n", path, strerror(errno));
    return NULL;
  }
  struct bpf_map_info info;
  memset(&info, 0, sizeof info);
  memset(&a, 0, sizeof a);
  a.info.bpf_fd = (__u32)fd;
  a.info.info_len = sizeof info;
  a.info.info = (__u64)(uintptr_t)&info;
  if (syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a) != 0) {
    fprintf(stderr, "%s: map info: %s\n", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (info.type != BPF_MAP_TYPE_ARRAY || !(info.map_flags & BPF_F_MMAPABLE) || info.value_size != value_size ||
      info.max_entries != entries) {
    fprintf(stderr, "%s is not a counter region of this layout (%u x %u bytes, want %u x %u)\n", path,
            info.max_entries, info.value_size, entries, value_size);
    close(fd);
    return NULL;
  }
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t len = ((size_t)value_size * entries + page - 1) / page * page;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    fprintf(stderr, "mmap %s: %s\n", path, strerror(errno));
    return NULL;
  }
  return p;
}

#endif
