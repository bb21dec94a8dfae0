#include "daemon/status_page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "metrics/text_format.h"
#include "version.h"

namespace bpfex::daemon {

namespace {

using nlohmann::json;

std::string esc(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A URL without its userinfo (user:password@): settings never show secrets.
std::string redactUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, scheme + 3) + "(redacted)@" + url.substr(at + 1);
}

// One sample of the exposition: name, labels, value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The self-metrics (bpfex_*) of a text 0.0.4 exposition.
std::vector<Sample> selfSamples(std::string_view text) {
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("bpfex_", 0) != 0) continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    if (i == std::string_view::npos) continue;
    s.name = std::string(line.substr(0, i));
    if (line[i] == '{') {
      i += 1 + metrics::forEachEscapedLabel(line.substr(i + 1), [&](std::string_view k, std::string_view v) {
             s.labels[std::string(k)] = std::string(v);
           });
      i = line.find(' ', i);
      if (i == std::string_view::npos) continue;
    }
    s.value = std::strtod(std::string(line.substr(i + 1)).c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

std::string badge(const std::string& state) {
  const bool good = state == "ok" || state == "inactive";
  const bool warn = state == "pending" || state == "stale" || state == "starting";
  return "<span class=\"b " + std::string(good ? "ok" : warn ? "warn" : "bad") + "\">" + esc(state) + "</span>";
}

std::string row(std::initializer_list<std::string> cells) {
  std::string r = "<tr>";
  for (const auto& c : cells) r += "<td>" + c + "</td>";
  return r + "</tr>\n";
}

std::string table(std::initializer_list<const char*> head, const std::string& rows, const char* empty) {
  if (rows.empty()) return std::string("<p class=\"m\">") + empty + "</p>\n";
  std::string t = "<div class=\"t\"><table><tr>";
  for (const char* h : head) t += std::string("<th>") + h + "</th>";
  return t + "</tr>\n" + rows + "</table></div>\n";
}

constexpr const char* kStyle = R"(<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:.75rem;color:#1d1d1f;background:#fff}
h1{font-size:1.35rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #ddd}
.m{color:#666}.t{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f6f6f6;white-space:nowrap}td.n{text-align:right;white-space:nowrap}
.b{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600}
.ok{background:#e3f5e6;color:#14622a}.warn{background:#fff3d6;color:#7a5300}.bad{background:#fde4e4;color:#9b1c1c}
code{font-size:.85rem;overflow-wrap:anywhere}td:first-child{white-space:nowrap}ul{padding-left:1.2rem}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}th{background:#222}th,td{border-color:#333}}
</style>)";

}  // namespace

std::string humanBytes(double b) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? fmt("%.0f B", b) : fmt(b < 10 ? "%.1f " : "%.0f ", b) + units[u];
}

std::string humanDuration(double s) {
  if (!(s >= 0)) return "-";
  if (s < 1e-3) return fmt("%.3gµs", s * 1e6);
  if (s < 1) return fmt("%.3gms", s * 1e3);
  if (s < 60) return fmt("%.3gs", s);
  const auto t = static_cast<int64_t>(s);
  const int64_t d = t / 86400, h = t % 86400 / 3600, m = t % 3600 / 60, sec = t % 60;
  std::string o;
  if (d) o += std::to_string(d) + "d";
  if (h) o += std::to_string(h) + "h";
  if (m && !d) o += std::to_string(m) + "m";
  if (sec && !d && !h) o += std::to_string(sec) + "s";
  return o;
}

// Where the last complete tick's time went: bpfex_tick_phase_seconds.
template <class Value>
std::string tickPhases(Value& value) {
  static constexpr const char* kPhases[] = {"read", "rules", "collect", "sweep", "render", "compress"};
  std::string row;
  double total = 0;
  for (const char* p : kPhases) {
    const double v = value("bpfex_tick_phase_seconds", {{"phase", p}});
    if (!(v == v)) return "";  // before the second tick: no complete tick to show
    total += v;
    row += std::string(row.empty() ? "" : " · ") + p + " " + base::formatSeconds(std::round(v * 1e4) / 1e4);
  }
  return "<p class=\"m\">last tick " + base::formatSeconds(std::round(total * 1e4) / 1e4) + ": " + row + "</p>\n";
}

std::string renderStatusPage(const StatusInputs& in) {
  const Config& cfg = *in.config;
  const auto self = selfSamples(in.exposition);
  auto each = [&](std::string_view name, auto&& fn) {
    for (const Sample& s : self)
      if (s.name == name) fn(s);
  };
  auto value = [&](std::string_view name, const std::map<std::string, std::string>& want = {}) -> double {
    for (const Sample& s : self)
      if (s.name == name && std::all_of(want.begin(), want.end(), [&](const auto& kv) {
            auto it = s.labels.find(kv.first);
            return it != s.labels.end() && it->second == kv.second;
          }))
        return s.value;
    return NAN;
  };

  std::string h = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>bpfex status</title>";
  h += kStyle;
  h += "</head><body>\n<h1>bpfex</h1>\n<p class=\"m\">version " + esc(kVersion) + " (" + esc(kRevision) + "), up " +
       humanDuration(in.now_unix - in.started_unix) + "</p>\n";

  // Collection.
  const double age = in.last_tick_unix > 0 ? in.now_unix - in.last_tick_unix : -1;
  const std::string state = in.ticks == 0 ? "starting"
                            : age > healthStaleAfter(cfg) ? "stale"
                                                                       : "ok";
  h += "<p>" + badge(state) + " collecting every " + esc(base::formatSeconds(cfg.tick_interval_seconds)) +
       (in.ticks > 0 ? "; last collection " + humanDuration(age) + " ago (tick " + std::to_string(in.ticks) + "), " +
                           std::to_string(in.series) + " series served"
                     : "; no collection yet") +
       "</p>\n" + tickPhases(value) + "<p class=\"m\">JSON and text: <a href=\"" + esc(cfg.metrics_path) + "\">" + esc(cfg.metrics_path) +
       "</a> · <a href=\"/health\">/health</a> · <a href=\"/rules\">/rules</a> · <a href=\"/api/v1/alerts\">/api/v1/alerts</a>"
       " · <a href=\"/api/v1/rules\">/api/v1/rules</a> · <a href=\"/status/tick\">/status/tick</a> · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></p>\n";

  // Rules.
  const json rules = json::parse(in.rules_json, nullptr, false);
  std::string rows;
  const double budget = ruleTimeBudget(cfg);
  const double cap = static_cast<double>(cfg.rule_limits.memory_bytes);
  if (rules.is_object() && rules["rules"].is_array())
    for (const json& r : rules["rules"]) {
      std::string err;
      const json& e = r.contains("load_error") ? r["load_error"] : r.contains("last_error") ? r["last_error"] : json();
      if (e.is_object()) {
        // The first line: file:line and what went wrong (the traceback is on /rules).
        std::string msg = e.value("message", "");
        if (size_t tb = msg.find("\nstack traceback:"); tb != std::string::npos) msg.resize(tb);
        err = "<b>" + esc(e.value("kind", "")) + "</b>: <code>" + esc(msg) + "</code>";
      }
      double series = 0;
      if (r["metrics"].is_array())
        for (const json& m : r["metrics"]) {
          const double n = value("bpfex_registry_family_series", {{"family", m.get<std::string>()}});
          if (n == n) series += n;
        }
      const double iv = r.value("interval_seconds", 0.0);
      // The file's name; its directory on hover (every rule path is in Settings).
      const std::string path = r.value("rule", "");
      const std::string file = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
      rows += row({"<code title=\"" + esc(path) + "\">" + esc(file) + "</code>", badge(r.value("health", "")), err,
                   std::to_string(r.value("runs", 0)),
                   iv > 0 ? "every " + esc(base::formatSeconds(iv)) : "every tick",
                   humanDuration(r.value("last_duration_seconds", 0.0)) + " of " + humanDuration(budget),
                   humanBytes(r.value("memory_bytes", 0.0)) + " of " + humanBytes(cap), fmt("%.0f", series)});
    }
  h += "<h2>Rules</h2>\n";
  if (rules.is_object() && !rules.value("last_reload_successful", true))
    h += "<p>" + badge("error") + " last reload: <code>" + esc(rules.value("last_reload_error", "")) + "</code></p>\n";
  h += table({"file", "health", "last error", "runs", "interval", "last run", "memory", "series"}, rows, "no rules loaded");

  // Alerts.
  const json alerts = json::parse(in.alerts_json, nullptr, false);
  rows.clear();
  if (alerts.is_object() && alerts["data"]["alerts"].is_array())
    for (const json& a : alerts["data"]["alerts"]) {
      std::string labels, notes;
      for (const auto& [k, v] : a["labels"].items())
        if (k != "alertname") labels += "<code>" + esc(k) + "=" + esc(v.get<std::string>()) + "</code> ";
      for (const auto& [k, v] : a["annotations"].items())
        notes += "<b>" + esc(k) + "</b>: " + esc(v.get<std::string>()) + "<br>";
      // activeAt as Prometheus writes it (RFC 3339, UTC): shown as an age.
      const std::string at = a.value("activeAt", "");
      std::tm tm{};
      std::string since = esc(at);
      if (strptime(at.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr)
        since = "<span title=\"" + esc(at) + "\">" + humanDuration(in.now_unix - static_cast<double>(timegm(&tm))) +
                " ago</span>";
      const std::string v = a.value("value", "");
      rows += row({"<b>" + esc(a["labels"].value("alertname", "")) + "</b>", badge(a.value("state", "")), since,
                   v.empty() ? "" : fmt("%.6g", std::strtod(v.c_str(), nullptr)), labels, notes});
    }
  h += "<h2>Alerts</h2>\n" + table({"alert", "state", "active since", "value", "labels", "annotations"}, rows,
                                   "no alert is pending or firing");

  // BPF.
  rows.clear();
  each("bpfex_bpf_program_info", [&](const Sample& s) {
    const auto& l = s.labels;
    const std::map<std::string, std::string> key{{"object", l.at("object")}, {"program", l.at("program")}};
    const double runs = value("bpfex_bpf_program_run_count_total", key);
    const double secs = value("bpfex_bpf_program_run_time_seconds_total", key);
    const bool stats = runs == runs && runs > 0;
    rows += row({"<code>" + esc(l.at("object")) + "/" + esc(l.at("program")) + "</code>", esc(l.at("type")),
                 esc(l.at("attached").empty() ? "(not attached)" : l.at("attached")),
                 stats ? fmt("%.0f", runs) : "(stats off)", stats ? fmt("%.0f ns", secs * 1e9 / runs) : "-"});
  });
  h += "<h2>BPF</h2>\n" + table({"program", "type", "attached", "runs", "per run"}, rows, "no BPF programs loaded");
  rows.clear();
  each("bpfex_bpf_map_max_entries", [&](const Sample& s) {
    const std::string& m = s.labels.at("map");
    const double entries = value("bpfex_bpf_map_entries", {{"map", m}});
    const double usage = value("bpfex_bpf_map_usage_ratio", {{"map", m}});
    const double read = value("bpfex_bpf_map_read_duration_seconds", {{"map", m}});
    rows += row({"<code>" + esc(m) + "</code>", esc(s.labels.count("type") ? s.labels.at("type") : ""),
                 entries == entries ? fmt("%.0f", entries) : "-", fmt("%.0f", s.value),
                 usage == usage ? fmt("%.1f%%", usage * 100) : "-", read == read ? humanDuration(read) : "-"});
  });
  h += table({"map", "type", "entries", "max", "usage", "read per tick"}, rows, "no BPF maps read");

  // Peers.
  rows.clear();
  for (const auto& am : cfg.alerting.alertmanagers) {
    const double sent = value("bpfex_notifications_sent_total"), errors = value("bpfex_notifications_errors_total");
    const double dropped = value("bpfex_notifications_dropped_total"), queue = value("bpfex_notifications_queue_length");
    const double last = value("bpfex_notifications_last_success_timestamp_seconds");
    rows += row({"Alertmanager", "<code>" + esc(redactUrl(am)) + "</code>",
                 (last == last && last > 0 ? "last success " + humanDuration(in.now_unix - last) + " ago, "
                                           : std::string("no success yet, ")) +
                     "sent " + fmt("%.0f", sent == sent ? sent : 0) + ", errors " + fmt("%.0f", errors == errors ? errors : 0) +
                     ", dropped " + fmt("%.0f", dropped == dropped ? dropped : 0) + ", queued " +
                     fmt("%.0f", queue == queue ? queue : 0)});
  }
  if (!cfg.push.gateway.empty()) {
    const double last = value("bpfex_push_last_success_timestamp_seconds");
    const double ok = value("bpfex_push_total", {{"result", "ok"}});
    const double bad = value("bpfex_push_total", {{"result", "failed"}});
    rows += row({"Pushgateway", "<code>" + esc(redactUrl(cfg.push.gateway)) + "</code>",
                 (last == last && last > 0 ? "last success " + humanDuration(in.now_unix - last) + " ago"
                                           : std::string("no success yet")) +
                     ", pushes " + fmt("%.0f", ok == ok ? ok : 0) + " ok, " + fmt("%.0f", bad == bad ? bad : 0) +
                     " failed"});
  }
  for (const auto& rw : cfg.remote_write) {
    const std::map<std::string, std::string> ep = {{"remote_name", rw.name}, {"url", rw.url}};
    auto num = [&](std::string_view name, std::map<std::string, std::string> want) {
      const double v = value(name, want);
      return v == v ? v : 0;
    };
    const double last = num("bpfex_remote_write_last_success_timestamp_seconds", ep);
    const double lag = num("bpfex_remote_write_highest_queued_timestamp_seconds", ep) -
                       num("bpfex_remote_write_highest_sent_timestamp_seconds", ep);
    auto dropped = ep;
    dropped["reason"] = "memory";
    rows += row({"Remote write <code>" + esc(rw.name) + "</code>", "<code>" + esc(redactUrl(rw.url)) + "</code>",
                 (last > 0 ? "last success " + humanDuration(in.now_unix - last) + " ago, behind by " +
                                 humanDuration(std::max(0.0, lag))
                           : std::string("no success yet")) +
                     ", samples " + fmt("%.0f", num("bpfex_remote_write_samples_total", ep)) + " sent, " +
                     fmt("%.0f", num("bpfex_remote_write_samples_failed_total", ep)) + " refused, " +
                     fmt("%.0f", num("bpfex_remote_write_samples_dropped_total", dropped)) + " dropped, " +
                     fmt("%.0f", num("bpfex_remote_write_samples_pending", ep)) + " pending, " +
                     fmt("%.0f", num("bpfex_remote_write_shards", ep)) + " shard(s)"});
  }
  h += "<h2>Peers</h2>\n" + table({"peer", "address", "delivery"}, rows, "no Alertmanager, Pushgateway or remote write configured");

  // Settings: the effective configuration; URLs without userinfo, and no
  // password is ever in Config (they come from the environment).
  rows.clear();
  auto setting = [&](const std::string& k, const std::string& v) { rows += row({"<code>" + esc(k) + "</code>", esc(v)}); };
  setting("listen", cfg.listen);
  setting("metrics_path", cfg.metrics_path);
  setting("tick_interval", base::formatSeconds(cfg.tick_interval_seconds));
  std::string list;
  for (const auto& r : cfg.rules) list += (list.empty() ? "" : ", ") + r;
  setting("rules", list.empty() ? "(none)" : list);
  setting("rule_limits", "time budget " + base::formatSeconds(budget) + ", memory " + humanBytes(cap) + ", " +
                             std::to_string(cfg.rule_limits.max_families) + " families per rule");
  setting("http", std::to_string(cfg.http.threads) + " threads, " + std::to_string(cfg.http.max_connections) +
                      " connections, read timeout " + base::formatSeconds(cfg.http.timeout_seconds) +
                      ", write timeout " + base::formatSeconds(cfg.http.write_timeout_seconds) + ", headers up to " +
                      humanBytes(static_cast<double>(cfg.http.max_header_bytes)) + ", gzip " +
                      (cfg.http.gzip ? "on" : "off") + ", CORS " +
                      (cfg.http.cors_origin.empty() ? "off" : cfg.http.cors_origin) + ", reload endpoint " +
                      (cfg.http.enable_reload ? "on" : "off"));
  setting("web_config_file", cfg.web_config_file.empty() ? "(none)" : cfg.web_config_file);
  setting("exposition", "gzip level " + std::to_string(cfg.exposition.gzip_level) + ", max series " +
                            std::to_string(cfg.exposition.max_series));
  list.clear();
  for (const auto& o : cfg.bpf.objects)
    list += (list.empty() ? "" : ", ") + o.name + " (" + (o.bundled.empty() ? o.path : "bundled " + o.bundled) + ")";
  for (const auto& m : cfg.bpf.maps) list += (list.empty() ? "" : ", ") + m.name + " (foreign)";
  setting("bpf", "pin path " + cfg.bpf.pin_path + ", stats " + (cfg.bpf.stats ? "on" : "off") +
                     (list.empty() ? "" : "; " + list));
  list.clear();
  for (const auto& am : cfg.alerting.alertmanagers) list += (list.empty() ? "" : ", ") + redactUrl(am);
  setting("alerting.alertmanagers", list.empty() ? "(none)" : list);
  setting("push.gateway", cfg.push.gateway.empty() ? "(none)" : redactUrl(cfg.push.gateway) + " job " + cfg.push.job);
  setting("state_dir", cfg.state_dir.empty() ? "(none)" : cfg.state_dir);
  setting("log_level", cfg.log_level);
  h += "<h2>Settings</h2>\n" + table({"setting", "value"}, rows, "");
  return h + "</body></html>\n";
}

}  // namespace bpfex::daemon
