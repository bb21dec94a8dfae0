// Serving /metrics: bpfex's HttpServer vs prometheus-cpp's pull Exposer vs a
// floor (libmicrohttpd returning one pre-built buffer), the same series and
// bytes, scraped alternately in one run with a fresh connection per scrape.
//
//   serve_compare serve N SCRAPES   latency table rows (identity and gzip)
//   serve_compare mem bpfex|promcpp N   resident memory per series
//   serve_compare proto N SCRAPES   text vs protobuf: render, size, serve
#include <curl/curl.h>
#include <microhttpd.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/series_shape.h"
#include "export/http_server.h"
#include "metrics/exposition.h"
#include "metrics/registry.h"
#include "metrics/snapshot.h"

using namespace bpfex;

namespace {

size_t discard(char*, size_t s, size_t n, void* bytes) {
  *static_cast<size_t*>(bytes) += s * n;
  return s * n;
}

// One scrape on a fresh connection; returns seconds, sets *bytes.
double scrape(int port, bool gzip, size_t* bytes, const char* accept = nullptr) {
  CURL* c = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  curl_slist* h = nullptr;
  if (accept != nullptr) h = curl_slist_append(h, accept);
  // Raw gzip bytes are received, not decoded: the server's cost is measured.
  if (gzip) h = curl_slist_append(h, "Accept-Encoding: gzip");
  *bytes = 0;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, bytes);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  const auto t0 = std::chrono::steady_clock::now();
  const CURLcode rc = curl_easy_perform(c);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || code != 200) {
    std::fprintf(stderr, "scrape of port %d failed: %s (HTTP %ld)\n", port, curl_easy_strerror(rc), code);
    std::exit(1);
  }
  return dt;
}

struct Floor {
  std::string plain, gz;
  MHD_Daemon* d = nullptr;
  static MHD_Result handle(void* cls, MHD_Connection* c, const char*, const char*, const char*,
                           const char*, size_t*, void**) {
    auto* f = static_cast<Floor*>(cls);
    const char* enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    const bool gz = enc != nullptr && std::strstr(enc, "gzip") != nullptr;
    const std::string& b = gz ? f->gz : f->plain;
    MHD_Response* r = MHD_create_response_from_buffer(b.size(), const_cast<char*>(b.data()), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    if (gz) MHD_add_response_header(r, "Content-Encoding", "gzip");
    const MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
  }
  int start() {
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, nullptr, nullptr, &handle, this,
                         MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    return MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
  }
  ~Floor() {
    if (d) MHD_stop_daemon(d);
  }
};

double vmKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::strtod(line.c_str() + std::strlen(key), nullptr);
  return 0;
}

void populateBpfex(metrics::Registry& r, size_t n) {
  auto* f = r.family({.name = bench::kFamily, .help = bench::kHelp, .type = metrics::MetricType::kCounter,
                      .label_names = {"namespace", "pod", "proto"}})
                .value();
  for (size_t i = 0; i < n; ++i) {
    const auto l = bench::labelsFor(i);
    (void)f->set({l.ns, l.pod, l.proto}, bench::valueFor(i));
  }
}

std::shared_ptr<prometheus::Registry> populatePromcpp(size_t n) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto& fam = prometheus::BuildCounter().Name(bench::kFamily).Help(bench::kHelp).Register(*reg);
  for (size_t i = 0; i < n; ++i) {
    const auto l = bench::labelsFor(i);
    fam.Add({{"namespace", l.ns}, {"pod", l.pod}, {"proto", l.proto}}).Increment(bench::valueFor(i));
  }
  return reg;
}

metrics::VariantSet textPlainAndGzip() {
  metrics::VariantSet w{};
  w[static_cast<size_t>(metrics::Format::kText004)] = {true, true};
  return w;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int serve(size_t n, int scrapes) {
  metrics::Registry reg({.max_series = n + 10, .max_series_per_family = n + 10});
  populateBpfex(reg, n);
  metrics::Publisher pub;
  auto t0 = std::chrono::steady_clock::now();
  auto snap = metrics::renderSnapshot(reg, textPlainAndGzip(), 1, nullptr);
  const double render_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pub.publish(snap);
  auto srv = exporter::HttpServer::start({.listen = "127.0.0.1:0"}, pub, {}).value();

  Floor floor;
  floor.plain = std::string(snap->body(metrics::Format::kText004, false)->view());
  floor.gz = std::string(snap->body(metrics::Format::kText004, true)->view());
  const int floor_port = floor.start();

  auto preg = populatePromcpp(n);
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(preg);
  const int prom_port = exposer.GetListeningPorts().at(0);

  for (bool gz : {false, true}) {
    std::vector<double> tb, tp, tf, ratio_p, ratio_f;
    size_t bytes_b = 0, bytes_p = 0, bytes_f = 0;
    scrape(srv->port(), gz, &bytes_b);  // warm-up
    scrape(prom_port, gz, &bytes_p);
    scrape(floor_port, gz, &bytes_f);
    for (int k = 0; k < scrapes; ++k) {
      const double b = scrape(srv->port(), gz, &bytes_b);
      const double p = scrape(prom_port, gz, &bytes_p);
      const double f = scrape(floor_port, gz, &bytes_f);
      tb.push_back(b);
      tp.push_back(p);
      tf.push_back(f);
      ratio_p.push_back(p / b);
      ratio_f.push_back(b / f);
    }
    std::printf("| %zu | %s | %.2f MB | %.3f | %.3f | %.3f | %.3f | %.3f | %.1fx | %.2fx |\n", n,
                gz ? "gzip" : "identity", static_cast<double>(bytes_b) / 1e6, pct(tb, 0.5) * 1e3,
                pct(tb, 0.99) * 1e3, pct(tp, 0.5) * 1e3, pct(tp, 0.99) * 1e3, pct(tf, 0.5) * 1e3,
                pct(ratio_p, 0.5), pct(ratio_f, 0.5));
    std::fflush(stdout);
  }
  std::fprintf(stderr, "render+gzip(level 1) of %zu series: %.1f ms\n", n, render_s * 1e3);
  return 0;
}

// Text 0.0.4 vs the protobuf exposition from the same registry, in one run:
// render time, body size, and serve latency (scraped alternately).
int proto(size_t n, int scrapes) {
  metrics::Registry reg({.max_series = n + 10, .max_series_per_family = n + 10});
  populateBpfex(reg, n);
  metrics::VariantSet w{};
  w[static_cast<size_t>(metrics::Format::kText004)] = {true, true};
  w[static_cast<size_t>(metrics::Format::kProtobuf)] = {true, true};
  double render_ms[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    metrics::Buffer b;
    const auto t0 = std::chrono::steady_clock::now();
    metrics::renderRegistry(reg, k == 0 ? metrics::Format::kText004 : metrics::Format::kProtobuf, b);
    render_ms[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
  }
  metrics::Publisher pub;
  pub.publish(metrics::renderSnapshot(reg, w, 1, nullptr));
  auto srv = exporter::HttpServer::start({.listen = "127.0.0.1:0"}, pub, {}).value();
  const char* kProto = "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
  for (bool gz : {false, true}) {
    std::vector<double> tt, tp;
    size_t bt = 0, bp = 0;
    scrape(srv->port(), gz, &bt);
    scrape(srv->port(), gz, &bp, kProto);
    for (int k = 0; k < scrapes; ++k) {
      tt.push_back(scrape(srv->port(), gz, &bt));
      tp.push_back(scrape(srv->port(), gz, &bp, kProto));
    }
    std::printf("| %zu | %s | %.1f | %.2f MB | %.3f | %.1f | %.2f MB | %.3f |\n", n, gz ? "gzip" : "identity",
                render_ms[0], static_cast<double>(bt) / 1e6, pct(tt, 0.5) * 1e3, render_ms[1],
                static_cast<double>(bp) / 1e6, pct(tp, 0.5) * 1e3);
    std::fflush(stdout);
  }
  return 0;
}

int mem(const std::string& who, size_t n) {
  const double rss0 = vmKb("VmRSS:");
  double rss1 = 0, rss2 = 0;
  if (who == "bpfex") {
    metrics::Registry reg({.max_series = n + 10, .max_series_per_family = n + 10});
    populateBpfex(reg, n);
    rss1 = vmKb("VmRSS:");
    metrics::Publisher pub;
    auto srv = exporter::HttpServer::start({.listen = "127.0.0.1:0"}, pub, {}).value();
    std::shared_ptr<const metrics::Snapshot> prev;
    for (int tick = 0; tick < 3; ++tick) {  // three ticks: render, publish, scrape both encodings
      auto s = metrics::renderSnapshot(reg, textPlainAndGzip(), 1, prev.get());
      pub.publish(s);
      prev = s;
      size_t b = 0;
      scrape(srv->port(), false, &b);
      scrape(srv->port(), true, &b);
    }
    rss2 = vmKb("VmRSS:");
  } else {
    auto preg = populatePromcpp(n);
    rss1 = vmKb("VmRSS:");
    prometheus::Exposer exposer("127.0.0.1:0");
    exposer.RegisterCollectable(preg);
    const int port = exposer.GetListeningPorts().at(0);
    for (int k = 0; k < 3; ++k) {
      size_t b = 0;
      scrape(port, false, &b);
      scrape(port, true, &b);
    }
    rss2 = vmKb("VmRSS:");
  }
  const double hwm = vmKb("VmHWM:");
  std::printf("| %s | %zu | %.1f MiB | %.1f MiB | %.1f MiB | %.0f | %.0f |\n", who.c_str(), n, rss0 / 1024,
              rss1 / 1024, rss2 / 1024, (rss2 - rss0) * 1024 / static_cast<double>(n),
              (hwm - rss0) * 1024 / static_cast<double>(n));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (argc == 4 && std::string(argv[1]) == "serve") return serve(std::stoul(argv[2]), std::stoi(argv[3]));
  if (argc == 4 && std::string(argv[1]) == "mem") return mem(argv[2], std::stoul(argv[3]));
  if (argc == 4 && std::string(argv[1]) == "proto") return proto(std::stoul(argv[2]), std::stoi(argv[3]));
  std::fprintf(stderr, "usage: %s serve N SCRAPES | mem bpfex|promcpp N | proto N SCRAPES\n", argv[0]);
  return 2;
}
