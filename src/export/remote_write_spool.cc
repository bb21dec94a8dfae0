#include "export/remote_write_spool.h"

#include <fcntl.h>
#include <snappy.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <filesystem>

#include "base/file.h"
#include "base/log.h"

namespace bpfex::exporter {

using base::Error;

namespace {

constexpr uint32_t kMagic = 0x57525842;  // "BXRW" little-endian
constexpr size_t kHeader = 28;

uint32_t crc(std::string_view s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::string Spool::segmentPath(uint64_t id) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020" PRIu64 ".seg", id);
  return dir_ + "/" + name;
}

base::Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::msg("spool " + dir + ": " + ec.message());
  std::unique_ptr<Spool> s(new Spool(dir, max_bytes));
  s->segment_bytes_ = std::clamp<uint64_t>(max_bytes / 4, 64 << 10, 64 << 20);
  if (auto st = s->recover(); !st) return std::move(st).error();
  if (auto st = s->roll(); !st) return std::move(st).error();
  return s;
}

base::Status Spool::recover() {
  if (auto a = base::readFile(dir_ + "/acked", 64)) acked_ms_ = std::strtoll(a->c_str(), nullptr, 10);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    segments_[std::strtoull(name.c_str(), nullptr, 10)] = {};
  }
  if (ec) return Error::msg("spool " + dir_ + ": " + ec.message());
  for (auto& [id, seg] : segments_) {
    auto data = base::readFile(segmentPath(id), uint64_t{1} << 33);
    if (!data) {
      BPFEX_LOG_WARN("spool {}: {}", dir_, data.error().message());
      continue;
    }
    seg.bytes = data->size();
    size_t off = 0;
    while (off + kHeader <= data->size()) {
      const char* h = data->data() + off;
      const uint32_t len = load<uint32_t>(h + 4);
      if (load<uint32_t>(h) != kMagic || off + kHeader + len > data->size() ||
          crc({h + kHeader, len}) != load<uint32_t>(h + 8)) {
        ++corrupt_;  // a torn tail (a crash mid-write) or damage: the rest of this segment
        BPFEX_LOG_WARN("spool {}: segment {}: a corrupt record at byte {}; the rest of the segment is skipped",
                       dir_, id, off);
        break;
      }
      const int64_t ts = load<int64_t>(h + 12);
      const uint64_t samples = load<uint64_t>(h + 20);
      seg.ticks.emplace_back(ts, samples);
      if (ts > acked_ms_) recovered_.push_back({{id, off, static_cast<uint32_t>(kHeader + len)}, ts, samples});
      off += kHeader + len;
    }
    current_ = std::max(current_, id);
  }
  // Segments wholly delivered before the last stop.
  for (auto it = segments_.begin(); it != segments_.end();) {
    const bool done = it->second.ticks.empty() || it->second.ticks.back().first <= acked_ms_;
    ++it;
    if (done) deleteSegment(std::prev(it)->first);
  }
  return base::okStatus();
}

void Spool::deleteSegment(uint64_t id) {
  std::error_code ec;
  std::filesystem::remove(segmentPath(id), ec);
  segments_.erase(id);
}

base::Status Spool::roll() {
  if (fd_.get() >= 0) ::fsync(fd_.get());
  ++current_;  // never append to a segment of an earlier run: its tail may be torn
  const std::string path = segmentPath(current_);
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Error(errno, "spool " + path + ": " + std::strerror(errno));
  fd_ = std::move(fd);
  segments_[current_] = {};
  return base::okStatus();
}

base::Result<Spool::Location> Spool::append(int64_t ts, uint64_t samples, std::string_view text) {
  std::string record(kHeader, '\0');
  std::string payload;
  snappy::Compress(text.data(), text.size(), &payload);
  const uint32_t len = static_cast<uint32_t>(payload.size()), sum = crc(payload);
  std::memcpy(record.data(), &kMagic, 4);
  std::memcpy(record.data() + 4, &len, 4);
  std::memcpy(record.data() + 8, &sum, 4);
  std::memcpy(record.data() + 12, &ts, 8);
  std::memcpy(record.data() + 20, &samples, 8);
  record += payload;
  std::lock_guard lock(mu_);
  if (segments_[current_].bytes > 0 && segments_[current_].bytes + record.size() > segment_bytes_)
    if (auto st = roll(); !st) return std::move(st).error();
  Segment& seg = segments_[current_];
  Location loc{current_, seg.bytes, static_cast<uint32_t>(record.size())};
  size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::pwrite(fd_.get(), record.data() + done, record.size() - done, static_cast<off_t>(seg.bytes + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(errno, "spool " + segmentPath(current_) + ": write: " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  seg.bytes += record.size();
  seg.ticks.emplace_back(ts, samples);
  return loc;
}

base::Result<std::shared_ptr<const metrics::Buffer>> Spool::read(const Location& loc) const {
  const std::string path = segmentPath(loc.segment);
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Error(errno, "spool " + path + ": " + std::strerror(errno));
  std::string rec(loc.length, '\0');
  if (::pread(fd.get(), rec.data(), rec.size(), static_cast<off_t>(loc.offset)) != static_cast<ssize_t>(rec.size()))
    return Error(EIO, "spool " + path + ": a short read");
  const std::string_view payload(rec.data() + kHeader, rec.size() - kHeader);
  size_t raw = 0;
  if (load<uint32_t>(rec.data()) != kMagic || crc(payload) != load<uint32_t>(rec.data() + 8) ||
      !snappy::GetUncompressedLength(payload.data(), payload.size(), &raw))
    return Error(EIO, "spool " + path + ": a corrupt record at byte " + std::to_string(loc.offset));
  auto buf = std::make_shared<metrics::Buffer>(raw);
  if (!snappy::RawUncompress(payload.data(), payload.size(), buf->data()))
    return Error(EIO, "spool " + path + ": a record that does not uncompress");
  buf->commit(raw);
  return std::shared_ptr<const metrics::Buffer>(std::move(buf));
}

void Spool::ack(int64_t ts) {
  std::lock_guard lock(mu_);
  if (ts <= acked_ms_) return;
  acked_ms_ = ts;
  if (auto st = base::writeFileAtomic(dir_ + "/acked", std::to_string(ts) + "\n"); !st)
    BPFEX_LOG_WARN("spool {}: {}", dir_, st.error().message());
  for (auto it = segments_.begin(); it != segments_.end() && it->first != current_;) {
    const bool done = it->second.ticks.empty() || it->second.ticks.back().first <= acked_ms_;
    if (!done) break;  // in order: later segments are newer
    const uint64_t id = it->first;
    ++it;
    deleteSegment(id);
  }
}

std::vector<uint64_t> Spool::enforceCap(uint64_t* lost) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> gone;
  *lost = 0;
  auto total = [&] {
    uint64_t b = 0;
    for (const auto& [id, s] : segments_) b += s.bytes;
    return b;
  };
  while (total() > max_bytes_ && segments_.size() > 1) {
    auto it = segments_.begin();
    for (const auto& [ts, samples] : it->second.ticks)
      if (ts > acked_ms_) *lost += samples;
    gone.push_back(it->first);
    deleteSegment(it->first);
  }
  return gone;
}

uint64_t Spool::bytes() const {
  std::lock_guard lock(mu_);
  uint64_t b = 0;
  for (const auto& [id, s] : segments_) b += s.bytes;
  return b;
}

}  // namespace bpfex::exporter
