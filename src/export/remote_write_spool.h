// Spool: remote write's optional write-ahead log of ticks on disk, one per
// endpoint (docs/remote-write.md, "The spool"). Every tick is appended as
// one record, its text snappy-compressed:
//   u32 magic "BXRW" | u32 payload bytes | u32 crc32(payload) | i64 timestamp ms | u64 samples | payload
// into segment files (NNNNNNNNNNNNNNNNNNNN.seg, numbered in order) that roll
// at a quarter of the cap. `acked` holds the timestamp up to which every
// tick has been delivered (or refused for good); a segment entirely at or
// before it is deleted. Past max_bytes the oldest segment goes, and the
// ticks in it that were not delivered are counted lost.
//
// At open, records after `acked` are recovered, oldest first: what a
// receiver outage or a kill -9 left undelivered. A torn or corrupt record
// (a crash mid-write) ends its segment's recovery; the next segment goes on.
//
// Not fsync'd per tick: the page cache outlives the process (a crash or
// kill of bpfex loses nothing written); a host crash may lose the last
// seconds. A closed segment is fsync'd.
//
// Thread safety: append/enforceCap from one thread, read/ack from another;
// the bookkeeping is locked.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "metrics/buffer.h"

namespace bpfex::exporter {

class Spool {
 public:
  struct Location {
    uint64_t segment = 0;
    uint64_t offset = 0;
    uint32_t length = 0;  // the whole record
  };
  struct Record {
    Location loc;
    int64_t timestamp_ms = 0;
    uint64_t samples = 0;
  };

  static base::Result<std::unique_ptr<Spool>> open(const std::string& dir, uint64_t max_bytes);

  // The records found at open after the acknowledged timestamp, oldest first.
  const std::vector<Record>& recovered() const { return recovered_; }
  uint64_t corruptRecords() const { return corrupt_; }

  base::Result<Location> append(int64_t timestamp_ms, uint64_t samples, std::string_view text);
  // The text of a record (ENOENT when its segment was deleted for the cap).
  base::Result<std::shared_ptr<const metrics::Buffer>> read(const Location& loc) const;
  // Every tick up to timestamp_ms is done with: persisted, and the segments
  // wholly at or before it deleted.
  void ack(int64_t timestamp_ms);
  // Deletes the oldest segments while the spool is over max_bytes; returns
  // the segments deleted and, through lost_samples, the samples in them
  // that were never acknowledged.
  std::vector<uint64_t> enforceCap(uint64_t* lost_samples);
  uint64_t bytes() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Segment {
    uint64_t bytes = 0;
    std::vector<std::pair<int64_t, uint64_t>> ticks;  // timestamp, samples
  };
  Spool(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string segmentPath(uint64_t id) const;
  base::Status recover();
  base::Status roll();
  void deleteSegment(uint64_t id);

  std::string dir_;
  uint64_t max_bytes_;
  uint64_t segment_bytes_ = 0;  // roll size
  mutable std::mutex mu_;
  std::map<uint64_t, Segment> segments_;
  uint64_t current_ = 0;        // the segment appended to
  base::UniqueFd fd_;
  int64_t acked_ms_ = 0;
  std::vector<Record> recovered_;
  uint64_t corrupt_ = 0;
};

}  // namespace bpfex::exporter
