// EventReader: drains a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) or perf event
// array (BPF_MAP_TYPE_PERF_EVENT_ARRAY) without blocking, once per tick, into
// a buffer it reuses: event(i) and size(i) are then a zero-copy view of what
// arrived since the last poll. Rules turn events into counters and histograms.
//
// Bounded: at most `max_bytes` of events are kept per poll; what the kernel
// could not hand over (perf's lost records) and what did not fit are counted
// in lost().
// Thread safety: one thread (the engine's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.h"
#include "bpf/map.h"

struct ring_buffer;
struct perf_buffer;

namespace bpfex::bpf {

class EventReader {
 public:
  static base::Result<std::unique_ptr<EventReader>> open(const Map& map, size_t max_bytes = 16u << 20);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Consumes what is available now. Returns the number of events kept.
  base::Result<size_t> poll();

  size_t count() const { return offsets_.size(); }
  const uint8_t* event(size_t i) const { return data_.data() + offsets_[i]; }
  uint32_t size(size_t i) const { return sizes_[i]; }
  uint64_t total() const { return total_; }  // events kept since open
  uint64_t lost() const { return lost_; }    // events lost since open

 private:
  EventReader(const Map& map, size_t max_bytes) : map_(map), max_bytes_(max_bytes) {}
  static int onRingEvent(void* ctx, void* data, size_t size);
  static void onPerfEvent(void* ctx, int cpu, void* data, uint32_t size);
  static void onPerfLost(void* ctx, int cpu, unsigned long long n);  // libbpf's __u64
  void keep(const void* data, size_t size);

  const Map& map_;
  size_t max_bytes_;
  ring_buffer* ring_ = nullptr;
  perf_buffer* perf_ = nullptr;
  std::vector<uint8_t> data_;
  std::vector<uint32_t> offsets_, sizes_;
  size_t used_ = 0;
  uint64_t total_ = 0, lost_ = 0;
};

}  // namespace bpfex::bpf
