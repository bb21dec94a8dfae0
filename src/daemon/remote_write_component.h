// The daemon's remote write: one RemoteWriter per configured endpoint, fed
// by the engine after every tick, their self-metrics (bpfex_remote_write_*,
// Prometheus' prometheus_remote_storage_* meanings), and the state the
// status page shows. Owns everything it registers, so the daemon's wiring
// is one line to create it and one to stop it.
//
// Thread safety: created and stopped by the daemon's main thread; the
// collector runs on the engine thread; endpoints() from any thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "daemon/config.h"
#include "engine/engine.h"
#include "export/remote_write.h"
#include "metrics/registry.h"

namespace bpfex::daemon {

class RemoteWriteComponent {
 public:
  // Nothing (nullptr) when the configuration has no remote_write.
  static base::Result<std::unique_ptr<RemoteWriteComponent>> create(const Config& cfg, metrics::Registry& registry,
                                                                    engine::Engine& engine);
  ~RemoteWriteComponent();

  // Flushes every endpoint in parallel for at most `flush_seconds`, then stops.
  void stop(double flush_seconds);

  struct Endpoint {
    std::string name, url;
    exporter::RemoteWriteStats stats;
  };
  std::vector<Endpoint> endpoints() const;
  size_t memoryLimit() const { return budget_.limit(); }
  size_t memoryUsed() const { return budget_.used(); }

 private:
  explicit RemoteWriteComponent(size_t memory_limit) : budget_(memory_limit) {}
  exporter::RemoteWriteBudget budget_;
  std::vector<std::unique_ptr<exporter::RemoteWriter>> writers_;
};

}  // namespace bpfex::daemon
