// Full reads of BPF hash and per-CPU hash maps (needs root): bpfex's
// MapReader + decoding every field, against raw bpf_map_lookup_batch into
// preallocated buffers (the floor) and `bpftool map dump -j`, in one run.
// Shape as baselines.md §3: key 4 x u32 (16 B), value 2 x u64 (16 B).
//   map_read_bench N [N ...]
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/layout.h"
#include "bpf/map_reader.h"

extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);

// Counts every allocation in the process (libbpf's included), to show that a
// steady-state read allocates nothing per entry.
static size_t g_allocs = 0;
extern "C" void* malloc(size_t n) {
  ++g_allocs;
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t a, size_t b) {
  ++g_allocs;
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, size_t n) {
  ++g_allocs;
  return __libc_realloc(p, n);
}

using namespace bpfex;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int makeMap(uint32_t type, uint32_t n) {
  int fd = bpf_map_create(static_cast<bpf_map_type>(type), "bench", 16, 16, n, nullptr);
  if (fd < 0) {
    std::perror("bpf_map_create");
    std::exit(1);
  }
  const int cpus = bpf::possibleCpus();
  const bool pcpu = type == BPF_MAP_TYPE_PERCPU_HASH;
  const uint32_t chunk = 65536;
  std::vector<uint32_t> keys(chunk * 4);
  std::vector<uint64_t> vals(chunk * 2 * (pcpu ? cpus : 1));
  for (uint32_t base = 0; base < n; base += chunk) {
    const uint32_t cnt = std::min(chunk, n - base);
    for (uint32_t i = 0; i < cnt; ++i) {
      const uint32_t id = base + i;
      keys[i * 4] = id, keys[i * 4 + 1] = id * 7, keys[i * 4 + 2] = 17, keys[i * 4 + 3] = id ^ 0x5a5a;
      for (int c = 0; c < (pcpu ? cpus : 1); ++c) {
        vals[(i * (pcpu ? cpus : 1) + c) * 2] = id + c;
        vals[(i * (pcpu ? cpus : 1) + c) * 2 + 1] = (id + c) * 100ull;
      }
    }
    uint32_t count = cnt;
    if (bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr) != 0) {
      std::perror("bpf_map_update_batch");
      std::exit(1);
    }
  }
  return fd;
}

// The floor: batch lookups straight into preallocated buffers, nothing else.
size_t rawBatch(int fd, uint32_t n, uint32_t value_stride, std::vector<uint8_t>& k, std::vector<uint8_t>& v) {
  uint32_t in = 0, out = 0;
  size_t total = 0;
  bool first = true;
  for (;;) {
    uint32_t cnt = std::min<uint32_t>(4096, n - static_cast<uint32_t>(total));
    if (cnt == 0) break;
    const int rc = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, k.data() + total * 16,
                                        v.data() + total * value_stride, &cnt, nullptr);
    total += cnt;
    if (rc != 0) break;
    in = out;
    first = false;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(static_cast<uint32_t>(std::stoul(argv[i])));
  if (sizes.empty()) sizes = {10000, 100000, 1000000};
  auto key_layout = bpf::Layout::fromDeclaration("u32 a; u32 b; u32 c; u32 d").value();
  auto value_layout = bpf::Layout::fromDeclaration("u64 packets; u64 bytes").value();
  std::printf("| map | entries | raw lookup_batch ms | ns/entry | bpfex read+decode ms | ns/entry | bpfex / raw | bpftool -j ms | ns/entry | bpftool / bpfex | allocations per steady read |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (uint32_t type : {static_cast<uint32_t>(BPF_MAP_TYPE_HASH), static_cast<uint32_t>(BPF_MAP_TYPE_PERCPU_HASH)}) {
    for (uint32_t n : sizes) {
      const int fd = makeMap(type, n);
      auto map = bpf::Map::fromFd(base::UniqueFd(fd), "bench").value();
      const int reps = n >= 1000000 ? 5 : n >= 100000 ? 7 : 9;
      const uint32_t stride = map.perCpu() ? 16u * static_cast<uint32_t>(bpf::possibleCpus()) : 16u;
      std::vector<uint8_t> rk(size_t{n} * 16), rv(size_t{n} * stride);
      bpf::MapReader reader(map);
      const bpf::PerCpuSum plan(value_layout);
      std::vector<uint8_t> sum(plan.layout().size());
      uint64_t checksum = 0;
      const auto decodeAll = [&] {
        const size_t cnt = reader.read().value();
        uint64_t s = 0;
        for (size_t i = 0; i < cnt; ++i) {
          for (const auto& f : key_layout.fields()) s += bpf::readUnsigned(f, reader.key(i));
          plan.sum(reader, i, sum.data());
          for (const auto& f : plan.layout().fields()) s += bpf::readUnsigned(f, sum.data());
        }
        return std::make_pair(cnt, s);
      };
      (void)rawBatch(fd, n, stride, rk, rv);  // warm-up both
      (void)decodeAll();
      std::vector<double> raw_ms, ours_ms;
      size_t allocs = 0;
      for (int r = 0; r < reps; ++r) {
        auto t0 = Clock::now();
        const size_t got = rawBatch(fd, n, stride, rk, rv);
        raw_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        const size_t a0 = g_allocs;
        t0 = Clock::now();
        auto [cnt, s] = decodeAll();
        ours_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        allocs = std::max(allocs, g_allocs - a0);
        checksum += s;
        if (got != n || cnt != n) {
          std::fprintf(stderr, "short read: raw %zu, bpfex %zu of %u\n", got, cnt, n);
          return 1;
        }
      }
      const int tool_reps = n >= 1000000 ? 1 : 3;
      std::vector<double> tool_ms;
      const std::string cmd = "bpftool map dump id " + std::to_string(map.info().id) + " -j > /dev/null";
      for (int r = 0; r < tool_reps; ++r) {
        auto t0 = Clock::now();
        if (std::system(cmd.c_str()) != 0) return 1;
        tool_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      const double raw = median(raw_ms), ours = median(ours_ms), tool = median(tool_ms);
      std::printf("| %s | %u | %.1f | %.0f | %.1f | %.0f | %.2fx | %.0f | %.0f | %.1fx | %zu |\n",
                  type == BPF_MAP_TYPE_HASH ? "hash" : "percpu_hash", n, raw, raw * 1e6 / n, ours, ours * 1e6 / n,
                  ours / raw, tool, tool * 1e6 / n, tool / ours, allocs);
      std::fflush(stdout);
      if (checksum == 42) std::puts("");  // keeps the decode from being optimised away
    }
  }
  return 0;
}
