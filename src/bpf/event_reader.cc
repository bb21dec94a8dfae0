#include "bpf/event_reader.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>

namespace bpfex::bpf {

using base::Error;
using base::Result;

Result<std::unique_ptr<EventReader>> EventReader::open(const Map& map, size_t max_bytes) {
  std::unique_ptr<EventReader> r(new EventReader(map, max_bytes));
  if (map.info().type == BPF_MAP_TYPE_RINGBUF) {
    r->ring_ = ring_buffer__new(map.fd(), &EventReader::onRingEvent, r.get(), nullptr);
    if (r->ring_ == nullptr) return Error::fromErrno(errno, "open ring buffer " + map.label());
  } else if (map.info().type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    // 64 pages (256 KiB) per CPU: a tick's worth of events at modest rates.
    r->perf_ = perf_buffer__new(map.fd(), 64, &EventReader::onPerfEvent, &EventReader::onPerfLost, r.get(), nullptr);
    if (r->perf_ == nullptr) return Error::fromErrno(errno, "open perf buffer " + map.label());
  } else {
    return Error::msg("map " + map.label() + " is a " + std::string(mapTypeName(map.info().type)) +
                      ", not a ring buffer or perf event array");
  }
  return r;
}

EventReader::~EventReader() {
  if (ring_ != nullptr) ring_buffer__free(ring_);
  if (perf_ != nullptr) perf_buffer__free(perf_);
}

void EventReader::keep(const void* data, size_t size) {
  if (used_ + size > max_bytes_) {
    ++lost_;
    return;
  }
  if (data_.size() < used_ + size) data_.resize(std::max(data_.size() * 2, used_ + size + 4096));
  std::memcpy(data_.data() + used_, data, size);
  offsets_.push_back(static_cast<uint32_t>(used_));
  sizes_.push_back(static_cast<uint32_t>(size));
  used_ += (size + 7) / 8 * 8;  // keep events 8-byte aligned for FFI casts
  ++total_;
}

int EventReader::onRingEvent(void* ctx, void* data, size_t size) {
  static_cast<EventReader*>(ctx)->keep(data, size);
  return 0;
}

void EventReader::onPerfEvent(void* ctx, int /*cpu*/, void* data, uint32_t size) {
  static_cast<EventReader*>(ctx)->keep(data, size);
}

void EventReader::onPerfLost(void* ctx, int /*cpu*/, unsigned long long n) { static_cast<EventReader*>(ctx)->lost_ += n; }

Result<size_t> EventReader::poll() {
  offsets_.clear();
  sizes_.clear();
  used_ = 0;
  const int rc = ring_ != nullptr ? ring_buffer__consume(ring_) : perf_buffer__consume(perf_);
  if (rc < 0) return Error::fromErrno(-rc, "consume events of " + map_.label());
  return offsets_.size();
}

}  // namespace bpfex::bpf
