#include "daemon/health.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json_text.h"

namespace bpfex::daemon {

HealthResponse health(const HealthInput& in) {
  std::string status = "ok";
  if (in.collections == 0 || in.last_collection_unix <= 0) status = "starting";
  else if (in.now_unix - in.last_collection_unix > in.stale_after_seconds) status = "stale";
  nlohmann::json server = {{"running", true},
                           {"port", in.port},
                           {"requests", in.requests},
                           {"metrics", in.series},
                           {"collections", in.collections}};
  // RFC 3339 in whole seconds, as the seed's example; null before the first.
  server["last_collection"] =
      in.last_collection_unix > 0 ? nlohmann::json(base::rfc3339(std::floor(in.last_collection_unix), 0)) : nullptr;
  nlohmann::json doc = {{"status", status}, {"timestamp", base::rfc3339(std::floor(in.now_unix), 0)},
                        {"server", std::move(server)}};
  if (status == "stale")
    doc["reason"] = "the last collection is older than http.health_stale_after (" +
                    base::formatSeconds(in.stale_after_seconds) + ")";
  return {status == "ok" ? 200 : 503, base::jsonText(doc, 2) + "\n"};
}

std::string tickStatus(const metrics::TickStats* last_tick, uint64_t tick) {
  if (last_tick == nullptr) return "null\n";
  nlohmann::json wall = nlohmann::json::object(), cpu = nlohmann::json::object();
  for (const auto& [name, wc] : last_tick->phases) {
    wall[name] = wc.first;
    cpu[name] = wc.second;
  }
  return base::jsonText(nlohmann::json{{"tick", tick}, {"seconds", last_tick->seconds}, {"phases", wall}, {"cpu", cpu}}, 2) + "\n";
}

}  // namespace bpfex::daemon
