// MapReader: reads a whole map into buffers it keeps and reuses, with
// bpf_map_lookup_batch where the kernel supports it for the map type, and
// key-by-key iteration where it does not. An array created with
// BPF_F_MMAPABLE (an application's counter region) is mapped read-only once
// and copied from memory, 8-byte word by word: no syscall per read, and no
// counter an application is adding to is ever read torn. After read(), the entries are a
// zero-copy view: key(i) and value(i, cpu) point into two flat arrays, the
// shape LuaJIT's FFI can cast to struct pointers.
//
// Steady state allocates nothing: the buffers grow to the largest read seen.
// Thread safety: one reader per thread; the view is valid until the next read().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"
#include "bpf/layout.h"
#include "bpf/map.h"

namespace bpfex::bpf {

enum class ReadMethod : uint8_t { kBatch, kIterate, kMmap };

class MapReader {
 public:
  explicit MapReader(const Map& map, uint32_t batch_size = 4096);
  ~MapReader();
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  // Reads every entry. Returns the count; the map may change while it is read
  // (entries inserted or deleted during the read may or may not be seen).
  base::Result<size_t> read();

  size_t count() const { return count_; }
  uint32_t keySize() const { return key_size_; }
  // Bytes between consecutive entries' values (value size rounded to 8 and
  // multiplied by the CPU count for per-CPU maps).
  uint32_t valueStride() const { return value_stride_; }
  // Bytes between one CPU's value and the next within an entry.
  uint32_t cpuStride() const { return cpu_stride_; }
  int cpus() const { return cpus_; }
  const uint8_t* key(size_t i) const { return keys_.data() + i * key_size_; }
  const uint8_t* value(size_t i, int cpu = 0) const {
    return values_.data() + i * value_stride_ + static_cast<size_t>(cpu) * cpu_stride_;
  }
  const uint8_t* keys() const { return keys_.data(); }
  const uint8_t* values() const { return values_.data(); }
  ReadMethod method() const { return method_; }
  const Map& map() const { return map_; }

 private:
  base::Result<size_t> readBatch();
  base::Result<size_t> readIterate();
  size_t readMapped();
  void reserve(size_t entries);

  const Map& map_;
  uint32_t batch_size_;
  uint32_t key_size_, value_size_, value_stride_, cpu_stride_;
  int cpus_;
  ReadMethod method_ = ReadMethod::kBatch;
  std::vector<uint8_t> keys_, values_;
  std::vector<uint8_t> next_key_, cur_key_;          // iteration
  std::vector<uint8_t> token_in_, token_out_;         // batch positions
  size_t count_ = 0;
  const uint64_t* mapped_ = nullptr;  // kMmap: the kernel's array, read-only
  size_t mapped_len_ = 0;
};

// A per-CPU entry's copies summed into one value laid out as
// value_layout.summed(): every integer field (any width and signedness,
// bitfields and arrays included) is the sum across CPUs in a 64-bit
// accumulator, so a __u32 counter at 2^31 on two CPUs reads 2^32; bools,
// enums, floats and char arrays take CPU 0's value. For a reader of a map
// that is not per-CPU it converts the one value to the same layout.
class PerCpuSum {
 public:
  explicit PerCpuSum(const Layout& value_layout) : in_(value_layout), out_(value_layout.summed()) {}
  // The summed value's layout.
  const Layout& layout() const { return out_; }
  // Writes entry `entry` of `r` (read with the layout given above) into
  // `out`, layout().size() bytes.
  void sum(const MapReader& r, size_t entry, uint8_t* out) const;

 private:
  const Layout& in_;
  Layout out_;
};

}  // namespace bpfex::bpf
