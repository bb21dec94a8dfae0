// The end-to-end benchmark's other processes (bench/e2e.py drives them):
//   e2e_peer fill PIN N             creates an N-entry BPF hash map with BTF
//                                   (key 4 x u32, value 2 x u64), fills it with
//                                   one batch update and pins it at PIN
//   e2e_peer exposer N PORT         prometheus-cpp's Exposer serving the same N
//                                   series bpfex's rule makes of that map
//   e2e_peer floor PORT FILE CTYPE [ENCODING]
//                                   libmicrohttpd answering every request with
//                                   FILE's bytes (bpfex's own, fetched once):
//                                   the fastest a server of those bytes can be
// The servers run until SIGTERM or SIGINT.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct FlowKey {
  uint32_t ifindex, proto, flow, zone;
};
struct FlowValue {
  uint64_t packets, bytes;
};

FlowKey keyFor(uint32_t i) {
  static const uint32_t kProtos[] = {6, 17, 1, 132};
  return {1 + i % 64, kProtos[(i / 64) % 4], i, i % 16};
}
FlowValue valueFor(uint32_t i) {
  const uint64_t p = 1000 + uint64_t{i} * 3;
  return {p, p * 100};
}

int fail(const char* what) {
  std::fprintf(stderr, "e2e_peer: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int fill(const char* pin, uint32_t n) {
  // BTF for the map, so bpfex (and bpftool) decode the fields by name.
  btf* b = btf__new_empty();
  const int u32 = btf__add_int(b, "__u32", 4, 0);
  const int u64 = btf__add_int(b, "__u64", 8, 0);
  const int key = btf__add_struct(b, "flow_key", sizeof(FlowKey));
  btf__add_field(b, "ifindex", u32, 0, 0);
  btf__add_field(b, "proto", u32, 32, 0);
  btf__add_field(b, "flow", u32, 64, 0);
  btf__add_field(b, "zone", u32, 96, 0);
  const int val = btf__add_struct(b, "flow_value", sizeof(FlowValue));
  btf__add_field(b, "packets", u64, 0, 0);
  btf__add_field(b, "bytes", u64, 64, 0);
  if (u32 < 0 || u64 < 0 || key < 0 || val < 0 || btf__load_into_kernel(b) != 0) return fail("BTF");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .btf_fd = static_cast<__u32>(btf__fd(b)),
              .btf_key_type_id = static_cast<__u32>(key), .btf_value_type_id = static_cast<__u32>(val));
  const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "e2e_flows", sizeof(FlowKey), sizeof(FlowValue), n, &opts);
  if (fd < 0) return fail("bpf_map_create");
  std::vector<FlowKey> keys(n);
  std::vector<FlowValue> values(n);
  for (uint32_t i = 0; i < n; ++i) {
    keys[i] = keyFor(i);
    values[i] = valueFor(i);
  }
  for (uint32_t done = 0; done < n;) {
    uint32_t count = n - done;
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    if (bpf_map_update_batch(fd, &keys[done], &values[done], &count, &bopts) != 0) return fail("update_batch");
    done += count;
  }
  if (bpf_obj_pin(fd, pin) != 0) return fail("pin");
  btf__free(b);
  std::printf("pinned %u entries at %s\n", n, pin);
  return 0;
}

volatile std::sig_atomic_t g_stop = 0;
void waitForSignal() {
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  while (!g_stop) pause();
}

int exposer(uint32_t n, const std::string& port) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto& fam = prometheus::BuildCounter().Name("e2e_flow_packets_total").Help("Packets per flow.").Register(*reg);
  for (uint32_t i = 0; i < n; ++i) {
    const FlowKey k = keyFor(i);
    fam.Add({{"ifindex", std::to_string(k.ifindex)},
             {"proto", std::to_string(k.proto)},
             {"flow", std::to_string(k.flow)},
             {"zone", std::to_string(k.zone)}})
        .Increment(static_cast<double>(valueFor(i).packets));
  }
  prometheus::Exposer ex("127.0.0.1:" + port, 2);
  ex.RegisterCollectable(reg);
  std::printf("exposer serving %u series on %s\n", n, port.c_str());
  std::fflush(stdout);
  waitForSignal();
  return 0;
}

struct Floor {
  std::string body, ctype, encoding;
  static MHD_Result handle(void* cls, MHD_Connection* c, const char*, const char*, const char*, const char*,
                           size_t*, void**) {
    auto* f = static_cast<Floor*>(cls);
    MHD_Response* r =
        MHD_create_response_from_buffer(f->body.size(), const_cast<char*>(f->body.data()), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", f->ctype.c_str());
    if (!f->encoding.empty()) MHD_add_response_header(r, "Content-Encoding", f->encoding.c_str());
    const MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
  }
};

int floor(uint16_t port, const char* file, const char* ctype, const char* encoding) {
  Floor f;
  std::ifstream in(file, std::ios::binary);
  f.body.assign(std::istreambuf_iterator<char>(in), {});
  f.ctype = ctype;
  f.encoding = encoding;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  MHD_Daemon* d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, port, nullptr, nullptr, &Floor::handle, &f,
                                   MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
  if (d == nullptr) return fail("MHD_start_daemon");
  std::printf("floor serving %zu bytes on %u\n", f.body.size(), port);
  std::fflush(stdout);
  waitForSignal();
  MHD_stop_daemon(d);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "fill" && argc == 4) return fill(argv[2], static_cast<uint32_t>(std::stoul(argv[3])));
  if (mode == "exposer" && argc == 4) return exposer(static_cast<uint32_t>(std::stoul(argv[2])), argv[3]);
  if (mode == "floor" && (argc == 5 || argc == 6))
    return floor(static_cast<uint16_t>(std::stoul(argv[2])), argv[3], argv[4], argc == 6 ? argv[5] : "");
  std::fprintf(stderr,
               "usage: e2e_peer fill PIN N | exposer N PORT | floor PORT FILE CONTENT_TYPE [ENCODING]\n");
  return 2;
}
