#include "bpf/map_reader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bpfex::bpf {

using base::Error;
using base::Result;

MapReader::MapReader(const Map& map, uint32_t batch_size)
    : map_(map), batch_size_(std::max<uint32_t>(batch_size, 64)) {
  const MapInfo& mi = map.info();
  key_size_ = mi.key_size;
  value_size_ = mi.value_size;
  if (map.perCpu()) {
    cpus_ = possibleCpus();
    cpu_stride_ = (mi.value_size + 7) / 8 * 8;  // the kernel's per-CPU value layout
    value_stride_ = cpu_stride_ * static_cast<uint32_t>(cpus_);
  } else {
    cpus_ = 1;
    cpu_stride_ = mi.value_size;
    value_stride_ = mi.value_size;
  }
  next_key_.resize(key_size_);
  cur_key_.resize(key_size_);
  token_in_.resize(std::max<uint32_t>(key_size_, 8));
  token_out_.resize(token_in_.size());
  // An mmapable array's elements are value_size rounded to 8 apart in the
  // mapping; a value size that is a multiple of 8 makes that our stride too.
  if (mi.type == BPF_MAP_TYPE_ARRAY && (mi.map_flags & BPF_F_MMAPABLE) != 0 && mi.value_size % 8 == 0 &&
      mi.max_entries > 0) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t len = (static_cast<size_t>(mi.max_entries) * mi.value_size + page - 1) / page * page;
    void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, map.fd(), 0);
    if (p != MAP_FAILED) {  // otherwise (an old kernel, a seccomp filter): syscalls
      mapped_ = static_cast<const uint64_t*>(p);
      mapped_len_ = len;
      method_ = ReadMethod::kMmap;
    }
  }
}

MapReader::~MapReader() {
  if (mapped_ != nullptr) munmap(const_cast<uint64_t*>(mapped_), mapped_len_);
}

size_t MapReader::readMapped() {
  const size_t n = map_.info().max_entries;
  if (count_ != n) {
    reserve(n);
    for (uint32_t i = 0; i < n; ++i) std::memcpy(keys_.data() + size_t{i} * key_size_, &i, sizeof i);
    count_ = n;
  }
  // Word by word with relaxed atomic loads: applications add to these words
  // with lock xadd while we read, and memcpy may copy in any granularity.
  const size_t words = n * value_size_ / 8;
  auto* out = reinterpret_cast<uint64_t*>(values_.data());  // vector storage: 16-byte aligned
  for (size_t w = 0; w < words; ++w) out[w] = __atomic_load_n(mapped_ + w, __ATOMIC_RELAXED);
  return n;
}

void MapReader::reserve(size_t entries) {
  if (keys_.size() < entries * key_size_) keys_.resize(entries * key_size_);
  if (values_.size() < entries * value_stride_) values_.resize(entries * value_stride_);
}

Result<size_t> MapReader::read() {
  if (method_ == ReadMethod::kMmap) return readMapped();
  if (method_ == ReadMethod::kBatch) {
    auto r = readBatch();
    if (r || (r.error().code() != EINVAL && r.error().code() != ENOTSUP && r.error().code() != 524 /*ENOTSUPP*/))
      return r;
    method_ = ReadMethod::kIterate;  // this map type or kernel has no batch ops: remember
  }
  return readIterate();
}

Result<size_t> MapReader::readBatch() {
  const MapInfo& mi = map_.info();
  // Batches are bounded by the map size, so a full read fits the buffers.
  const size_t cap = std::max<size_t>(mi.max_entries, 1);
  reserve(std::min<size_t>(cap, std::max<size_t>(count_ + count_ / 4, batch_size_)));
  // Hash maps hand out whole buckets: a batch smaller than a bucket fails
  // with ENOSPC, so the batch grows when that happens.
  uint32_t batch = std::min<uint32_t>(batch_size_, static_cast<uint32_t>(cap));
  bool first = true;
  size_t n = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    if (n + batch > keys_.size() / key_size_) reserve(std::min(cap, n + batch));
    uint32_t got = static_cast<uint32_t>(std::min<size_t>(batch, keys_.size() / key_size_ - n));
    if (got == 0) break;  // buffers full at max_entries: the map cannot hold more
    const int rc = bpf_map_lookup_batch(map_.fd(), first ? nullptr : token_in_.data(), token_out_.data(),
                                        keys_.data() + n * key_size_, values_.data() + n * value_stride_,
                                        &got, &opts);
    const int err = rc < 0 ? errno : 0;
    if (rc < 0 && err == ENOSPC && got == 0) {
      if (batch >= cap) return Error::fromErrno(err, "batch read of map " + map_.label());
      batch = static_cast<uint32_t>(std::min<size_t>(cap, batch * 2ull));
      continue;
    }
    if (rc < 0 && err != ENOENT) return Error::fromErrno(err, "batch read of map " + map_.label());
    n += got;
    if (rc < 0) break;  // ENOENT: the last batch
    token_in_.swap(token_out_);
    first = false;
  }
  count_ = n;
  return n;
}

Result<size_t> MapReader::readIterate() {
  const size_t cap = std::max<size_t>(map_.info().max_entries, 1);
  size_t n = 0;
  bool have_prev = false;
  reserve(std::min(cap, std::max<size_t>(count_, 64)));
  std::vector<uint8_t>& prev = cur_key_;
  std::vector<uint8_t>& next = next_key_;
  for (;;) {
    if (bpf_map_get_next_key(map_.fd(), have_prev ? prev.data() : nullptr, next.data()) != 0) {
      if (errno == ENOENT) break;
      return Error::fromErrno(errno, "iterate map " + map_.label());
    }
    if (n == keys_.size() / key_size_) {
      if (n >= cap) break;
      reserve(std::min(cap, n * 2));
    }
    std::memcpy(keys_.data() + n * key_size_, next.data(), key_size_);
    if (bpf_map_lookup_elem(map_.fd(), next.data(), values_.data() + n * value_stride_) == 0) ++n;
    else if (errno != ENOENT)  // ENOENT: deleted since get_next_key; skip it
      return Error::fromErrno(errno, "read entry of map " + map_.label());
    prev.swap(next);
    have_prev = true;
  }
  count_ = n;
  return n;
}

void PerCpuSum::sum(const MapReader& r, size_t entry, uint8_t* out) const {
  std::memset(out, 0, out_.size());
  const int cpus = r.map().perCpu() ? r.cpus() : 1;
  const uint8_t* cpu0 = r.value(entry, 0);
  for (size_t fi = 0; fi < in_.fields().size(); ++fi) {
    const Field& f = in_.fields()[fi];
    const Field& w = out_.fields()[fi];
    if (isIntegerKind(f.kind)) {
      for (uint32_t i = 0; i < f.count; ++i) {
        // Two's complement: one unsigned 64-bit sum serves both signs, with
        // each copy sign-extended first.
        uint64_t total = 0;
        for (int c = 0; c < cpus; ++c)
          total += f.kind == FieldKind::kSigned ? static_cast<uint64_t>(readSigned(f, r.value(entry, c), i))
                                                : readUnsigned(f, r.value(entry, c), i);
        std::memcpy(out + w.offset + i * 8, &total, 8);
      }
    } else if (f.kind == FieldKind::kString || f.kind == FieldKind::kBytes) {
      std::memcpy(out + w.offset, cpu0 + f.offset, f.size);
    } else if (f.kind == FieldKind::kFloat) {
      std::memcpy(out + w.offset, cpu0 + f.offset, static_cast<size_t>(f.size) * f.count);
    } else {  // bool, enum: CPU 0's value, bit position resolved
      for (uint32_t i = 0; i < f.count; ++i) {
        const uint64_t v = readUnsigned(f, cpu0, i);
        std::memcpy(out + w.offset + i * w.size, &v, w.size);  // little-endian: the low bytes
      }
    }
  }
}

}  // namespace bpfex::bpf
