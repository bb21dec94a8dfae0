// Seed 001's counter region (needs root): what an application pays per
// increment and what bpfex pays per tick to read it, each against its peer in
// the same run.
//   - increment: a relaxed atomic add on a word of the mmapable BPF array,
//     against the same add on a heap std::atomic (Ironpost's Arc<AtomicU64>);
//     one thread, and two threads adding to the same word (contended);
//   - read: bpfex's MapReader over the region (448 bytes, copied from its
//     mapping) against the same map read through the bpf(2) syscall path (an
//     identical array without BPF_F_MMAPABLE, batch lookup).
//   region_bench [iterations]   (default 100,000,000 adds, 1,000,000 reads; 5 rounds, median)
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bpf/map.h"
#include "bpf/map_reader.h"
#include "ironpost_counters.h"

using namespace bpfex;
using Clock = std::chrono::steady_clock;

namespace {

double nsPer(Clock::time_point t0, uint64_t n) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(n);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ns per add of `threads` threads each adding `n` times to *word.
template <class Word>
double adds(Word* word, uint64_t n, int threads) {
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  std::vector<double> per(threads);
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      const auto t0 = Clock::now();
      for (uint64_t i = 0; i < n; ++i) __atomic_fetch_add(word, 1, __ATOMIC_RELAXED);
      per[t] = nsPer(t0, n);
    });
  for (auto& t : ts) t.join();
  return *std::max_element(per.begin(), per.end());
}

int regionMap(bool mmapable) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = mmapable ? static_cast<uint32_t>(BPF_F_MMAPABLE) : 0u);
  return bpf_map_create(BPF_MAP_TYPE_ARRAY, "region", 4, sizeof(ironpost_counters), 1, &opts);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000'000;
  const uint64_t reads = std::max<uint64_t>(n / 100, 1000);
  const int rounds = 5;
  if (geteuid() != 0) {
    std::printf("region_bench: SKIPPED (creating BPF maps needs root)\n");
    return 0;
  }
  const int fd = regionMap(true);
  if (fd < 0) {
    std::perror("bpf_map_create (mmapable)");
    return 1;
  }
  auto* region = static_cast<ironpost_counters*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  if (region == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  auto heap = std::make_unique<std::atomic<uint64_t>>(0);
  static_assert(sizeof(std::atomic<uint64_t>) == 8);
  auto* heap_word = reinterpret_cast<uint64_t*>(heap.get());

  std::vector<double> r1, h1, r2, h2;
  for (int r = 0; r < rounds; ++r) {  // interleaved: drift hits both alike
    r1.push_back(adds(&region->logs_collected, n, 1));
    h1.push_back(adds(heap_word, n, 1));
    r2.push_back(adds(&region->logs_collected, n / 4, 2));
    h2.push_back(adds(heap_word, n / 4, 2));
  }

  // Reads: bpfex's reader over the mmapable region and over an identical
  // map read with syscalls.
  auto m_mmap = bpf::Map::fromFd(base::UniqueFd(fd), "region");
  const int fd2 = regionMap(false);
  auto m_sys = bpf::Map::fromFd(base::UniqueFd(fd2), "region_syscall");
  if (!m_mmap || !m_sys) {
    std::fprintf(stderr, "map info failed\n");
    return 1;
  }
  bpf::MapReader rm(m_mmap.value()), rs(m_sys.value());
  if (rm.method() != bpf::ReadMethod::kMmap) {
    std::fprintf(stderr, "the region is not read through its mapping\n");
    return 1;
  }
  std::vector<double> tm, ts;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    for (uint64_t i = 0; i < reads; ++i) (void)rm.read();
    tm.push_back(nsPer(t0, reads));
    t0 = Clock::now();
    for (uint64_t i = 0; i < reads; ++i) (void)rs.read();
    ts.push_back(nsPer(t0, reads));
  }
  std::printf("| operation | bpfex (counter region) | peer | peer is |\n|---|---:|---:|---|\n");
  std::printf("| increment, 1 thread | %.2f ns | %.2f ns | a heap std::atomic<uint64_t> (Arc<AtomicU64>) |\n",
              median(r1), median(h1));
  std::printf("| increment, 2 threads on one word | %.2f ns | %.2f ns | the same, contended |\n", median(r2),
              median(h2));
  std::printf("| read the region (%zu B) | %.0f ns | %.0f ns | the same map through bpf(2) (batch lookup) |\n",
              sizeof(ironpost_counters), median(tm), median(ts));
  std::printf("\n%d rounds (median): %llu adds per thread and round, %llu reads per round\n", rounds,
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(reads));
  munmap(region, 4096);
  return 0;
}
