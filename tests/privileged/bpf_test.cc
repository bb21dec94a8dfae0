// Privileged: real programs, real maps, real packets (run by run.sh, which
// provides the namespace pair through BPFEX_T_* variables).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "bpf/event_reader.h"
#include "bpf/map_reader.h"
#include "bpf/netns.h"
#include "bpf/object.h"
#include "bpfex_abi.h"
#include "decode_test.h"
#include "engine/bpf_runtime.h"

namespace bpfex::bpf {
namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

// Runs a command and returns its stdout (trimmed).
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Sends `count` datagrams from namespace `from` to `to_ip` while a sink in
// namespace `sink_ns` receives them; returns how many the sink got.
// A path as one shell word, whatever it holds (a checkout under "a home/").
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int traffic(const std::string& from, const std::string& sink_ns, const std::string& to_ip, int port, int count) {
  const std::string py = quoted(env("BPFEX_UDP_SEND"));
  auto sink = std::async(std::launch::async, [&] {
    return run("ip netns exec " + sink_ns + " python3 " + py + " sink " + std::to_string(port) + " 4");
  });
  usleep(500000);  // the sink binds before the first datagram
  run("ip netns exec " + from + " python3 " + py + " send " + to_ip + " " + std::to_string(port) + " " +
      std::to_string(count));
  return std::atoi(sink.get().c_str());
}

int ifindexIn(const std::string& netns, const std::string& ifname) {
  int idx = 0;
  (void)inNetns(netns, [&]() -> base::Status {
    idx = static_cast<int>(if_nametoindex(ifname.c_str()));
    return base::okStatus();
  });
  return idx;
}

ObjectSpec trafficSpec() {
  ObjectSpec s;
  s.name = "traffic";
  s.bundled = "iface_traffic";
  s.attach = {
      {.program = "bpfex_xdp_count", .type = AttachType::kXdp, .target = env("BPFEX_T_IF_A"), .netns = env("BPFEX_T_NS_A")},
      {.program = "bpfex_tc_ingress", .type = AttachType::kTcIngress, .target = env("BPFEX_T_IF_A"), .netns = env("BPFEX_T_NS_A")},
      {.program = "bpfex_tc_egress", .type = AttachType::kTcEgress, .target = env("BPFEX_T_IF_A"), .netns = env("BPFEX_T_NS_A")},
  };
  return s;
}

struct Counts {
  uint64_t packets = 0, bytes = 0;
};

// Reads bpfex_iface_stats and sums one (ifindex, hook) entry over CPUs.
Counts countsOf(const BpfObject& obj, int ifindex, bpfex_hook hook) {
  const Map& m = *obj.maps().at("bpfex_iface_stats");
  MapReader r(m);
  auto n = r.read();
  EXPECT_TRUE(n.ok()) << n.error().message();
  auto kl = m.keyLayout();
  auto vl = m.valueLayout();
  EXPECT_TRUE(kl.ok() && vl.ok());
  Counts c;
  const PerCpuSum plan(*vl);
  std::vector<uint8_t> sum(plan.layout().size());
  for (size_t i = 0; i < r.count(); ++i) {
    if (readUnsigned(*kl->find("ifindex"), r.key(i)) != static_cast<uint64_t>(ifindex)) continue;
    if (formatField(*kl->find("hook"), r.key(i)) !=
        (hook == BPFEX_HOOK_XDP ? "BPFEX_HOOK_XDP" : hook == BPFEX_HOOK_TC_INGRESS ? "BPFEX_HOOK_TC_INGRESS" : "BPFEX_HOOK_TC_EGRESS"))
      continue;
    plan.sum(r, i, sum.data());
    c.packets = readUnsigned(*plan.layout().find("packets"), sum.data());
    c.bytes = readUnsigned(*plan.layout().find("bytes"), sum.data());
  }
  return c;
}

uint32_t xdpProgId(const std::string& netns, int ifindex) {
  uint32_t id = 0;
  (void)inNetns(netns, [&]() -> base::Status {
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) == 0) id = q.prog_id ? q.prog_id : q.drv_prog_id;
    return base::okStatus();
  });
  return id;
}

constexpr int kFrame = 64 + 8 + 20 + 14;  // payload, UDP, IPv4, Ethernet

TEST(Traffic, ExactPacketAndByteCountsPerHook) {
  const std::string a = env("BPFEX_T_NS_A"), b = env("BPFEX_T_NS_B");
  auto obj = BpfObject::load(trafficSpec(), env("BPFEX_T_PIN"));
  ASSERT_TRUE(obj.ok()) << obj.error().message();
  const int ifa = ifindexIn(a, env("BPFEX_T_IF_A"));
  ASSERT_GT(ifa, 0);
  ASSERT_NE(xdpProgId(a, ifa), 0u);

  EXPECT_EQ(traffic(b, a, env("BPFEX_T_IP_A"), 7777, 1000), 1000);  // B -> A: ingress on A
  EXPECT_EQ(traffic(a, b, env("BPFEX_T_IP_B"), 7778, 500), 500);    // A -> B: egress on A

  const Counts xdp = countsOf(*obj.value(), ifa, BPFEX_HOOK_XDP);
  const Counts in = countsOf(*obj.value(), ifa, BPFEX_HOOK_TC_INGRESS);
  const Counts out = countsOf(*obj.value(), ifa, BPFEX_HOOK_TC_EGRESS);
  EXPECT_EQ(xdp.packets, 1000u);
  EXPECT_EQ(xdp.bytes, 1000u * kFrame);
  EXPECT_EQ(in.packets, 1000u);
  EXPECT_EQ(in.bytes, 1000u * kFrame);
  EXPECT_EQ(out.packets, 500u);
  EXPECT_EQ(out.bytes, 500u * kFrame);

  // Destroying the object detaches everything it attached.
  obj.value().reset();
  EXPECT_EQ(xdpProgId(a, ifa), 0u);
  EXPECT_EQ(run("tc -n " + a + " filter show dev " + env("BPFEX_T_IF_A") + " ingress"), "");
  EXPECT_EQ(run("tc -n " + a + " filter show dev " + env("BPFEX_T_IF_A") + " egress"), "");
}

TEST(Traffic, PinnedCountersSurviveARestart) {
  const std::string a = env("BPFEX_T_NS_A"), b = env("BPFEX_T_NS_B");
  const int ifa = ifindexIn(a, env("BPFEX_T_IF_A"));
  uint64_t before;
  {
    auto obj = BpfObject::load(trafficSpec(), env("BPFEX_T_PIN"));
    ASSERT_TRUE(obj.ok()) << obj.error().message();
    ASSERT_EQ(traffic(b, a, env("BPFEX_T_IP_A"), 7779, 200), 200);
    before = countsOf(*obj.value(), ifa, BPFEX_HOOK_XDP).packets;
    ASSERT_GE(before, 200u);
  }  // "bpfex stops": programs detached, the pinned map stays
  auto again = BpfObject::load(trafficSpec(), env("BPFEX_T_PIN"));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(countsOf(*again.value(), ifa, BPFEX_HOOK_XDP).packets, before);
  ASSERT_EQ(traffic(b, a, env("BPFEX_T_IP_A"), 7780, 50), 50);
  EXPECT_EQ(countsOf(*again.value(), ifa, BPFEX_HOOK_XDP).packets, before + 50);
}

TEST(Traffic, LoadTimeGlobalsReachTheProgram) {
  // ipv4_only=1 makes the program skip ARP: the static neighbours are removed
  // for this test, so ARP requests cross and must not be counted.
  const std::string a = env("BPFEX_T_NS_A"), b = env("BPFEX_T_NS_B");
  ObjectSpec s = trafficSpec();
  s.name = "traffic_v4";
  s.globals = {{"ipv4_only", "1"}};
  s.attach.resize(1);  // XDP only
  auto obj = BpfObject::load(s, "");  // unpinned: a fresh map
  ASSERT_TRUE(obj.ok()) << obj.error().message();
  run("ip -n " + b + " neigh del " + env("BPFEX_T_IP_A") + " dev " + env("BPFEX_T_IF_B"));
  ASSERT_EQ(traffic(b, a, env("BPFEX_T_IP_A"), 7781, 100), 100);
  const int ifa = ifindexIn(a, env("BPFEX_T_IF_A"));
  const Counts c = countsOf(*obj.value(), ifa, BPFEX_HOOK_XDP);
  EXPECT_EQ(c.packets, 100u);  // the ARP request B sent first is not among them
  EXPECT_EQ(c.bytes, 100u * kFrame);
  const std::string mac_a = run("ip -n " + a + " -o link show " + env("BPFEX_T_IF_A") +
                                " | sed -n 's/.*link\\/ether \\([0-9a-f:]*\\).*/\\1/p'");
  run("ip -n " + b + " neigh replace " + env("BPFEX_T_IP_A") + " lladdr " + mac_a + " dev " +
      env("BPFEX_T_IF_B") + " nud permanent");
  EXPECT_FALSE(BpfObject::load({.name = "x", .bundled = "iface_traffic", .globals = {{"nope", "1"}}}, "").ok());
}

class ForeignMaps : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = BpfObject::load({.name = "decode", .path = DECODE_TEST_OBJ}, env("BPFEX_T_PIN"));
    ASSERT_TRUE(o.ok()) << o.error().message();
    owner_ = std::move(o).value();
    cpus_ = possibleCpus();
  }
  test_key keyFor(int i) {
    test_key k{};
    k.u8v = static_cast<__u8>(200 + i);
    k.s8v = static_cast<__s8>(-i);
    k.u16v = static_cast<__u16>(60000 + i);
    k.s16v = static_cast<__s16>(-1000 * i);
    k.u32v = 3000000000u + i;
    k.s32v = -100000 * i;
    k.u64v = 1ull << (40 + i);
    k.s64v = -(1ll << (50 + i));
    k.col = i == 0 ? RED : i == 1 ? BLUE : NEGATIVE;
    std::snprintf(k.name, sizeof k.name, "tun-%d", i % 10);
    k.in.port = static_cast<__u16>(51820 + i);
    k.in.proto = 17;
    k.octets[0] = 10, k.octets[3] = static_cast<__u8>(i);
    k.flag = i % 2;
    return k;
  }
  std::unique_ptr<BpfObject> owner_;
  int cpus_ = 1;
};

TEST_F(ForeignMaps, PinnedPerCpuHashDecodesEveryField) {
  const Map& own = *owner_->maps().at("decode_pcpu");
  const size_t stride = (sizeof(test_value) + 7) / 8 * 8;
  for (int i = 0; i < 3; ++i) {
    test_key k = keyFor(i);
    std::vector<uint8_t> vals(stride * cpus_);
    for (int c = 0; c < cpus_; ++c) {
      test_value v{};
      v.count = 1000u * (i + 1) + c;
      v.low = 5, v.mid = 17, v.neg = -20, v.high = 200000 + i;
      v.delta = -42 - i;
      v.ratio = 0.5 * i;
      v.slots[3] = 7u * c;
      v.drops = 1u << 31;
      v.level = INT32_MIN;
      std::memcpy(vals.data() + c * stride, &v, sizeof v);
    }
    ASSERT_EQ(bpf_map_update_elem(own.fd(), &k, vals.data(), BPF_ANY), 0) << std::strerror(errno);
  }

  // Opened as another daemon's map: by pin path, read-only.
  auto m = Map::openPinned(env("BPFEX_T_PIN") + "/decode_pcpu");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m->readOnly());
  EXPECT_TRUE(m->perCpu());
  test_key probe = keyFor(9);
  std::vector<uint8_t> junk(stride * cpus_);
  EXPECT_NE(bpf_map_update_elem(m->fd(), &probe, junk.data(), BPF_ANY), 0);  // read-only for real

  MapReader r(m.value());
  auto n = r.read();
  ASSERT_TRUE(n.ok()) << n.error().message();
  ASSERT_EQ(n.value(), 3u);
  auto kl = m->keyLayout();
  auto vl = m->valueLayout();
  ASSERT_TRUE(kl.ok()) << kl.error().message();
  ASSERT_TRUE(vl.ok()) << vl.error().message();
  int seen = 0;
  for (size_t e = 0; e < r.count(); ++e) {
    const uint8_t* kb = r.key(e);
    const int i = static_cast<int>(readUnsigned(*kl->find("u8v"), kb)) - 200;
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 3);
    const test_key want = keyFor(i);
    EXPECT_EQ(readSigned(*kl->find("s8v"), kb), want.s8v);
    EXPECT_EQ(readUnsigned(*kl->find("u16v"), kb), want.u16v);
    EXPECT_EQ(readSigned(*kl->find("s16v"), kb), want.s16v);
    EXPECT_EQ(readUnsigned(*kl->find("u32v"), kb), want.u32v);
    EXPECT_EQ(readSigned(*kl->find("s32v"), kb), want.s32v);
    EXPECT_EQ(readUnsigned(*kl->find("u64v"), kb), want.u64v);
    EXPECT_EQ(readSigned(*kl->find("s64v"), kb), want.s64v);
    EXPECT_EQ(formatField(*kl->find("col"), kb), i == 0 ? "RED" : i == 1 ? "BLUE" : "NEGATIVE");
    EXPECT_EQ(formatField(*kl->find("name"), kb), "tun-" + std::to_string(i));
    EXPECT_EQ(readUnsigned(*kl->find("in.port"), kb), want.in.port);
    EXPECT_EQ(readUnsigned(*kl->find("octets"), kb, 3), static_cast<uint64_t>(i));
    EXPECT_EQ(formatField(*kl->find("flag"), kb), i % 2 ? "true" : "false");
    uint64_t count_sum = 0;
    for (int c = 0; c < cpus_; ++c) {
      const uint8_t* vb = r.value(e, c);
      EXPECT_EQ(readUnsigned(*vl->find("count"), vb), 1000u * (i + 1) + c);
      EXPECT_EQ(readSigned(*vl->find("neg"), vb), -20);
      EXPECT_EQ(readUnsigned(*vl->find("high"), vb), 200000u + i);
      EXPECT_EQ(readSigned(*vl->find("delta"), vb), -42 - i);
      EXPECT_EQ(readNumber(*vl->find("ratio"), vb), 0.5 * i);
      EXPECT_EQ(readUnsigned(*vl->find("slots"), vb, 3), 7u * c);
      count_sum += 1000u * (i + 1) + c;
    }
    const PerCpuSum plan(vl.value());
    std::vector<uint8_t> sum(plan.layout().size());
    plan.sum(r, e, sum.data());
    const Layout& sl = plan.layout();
    EXPECT_EQ(readUnsigned(*sl.find("count"), sum.data()), count_sum);
    EXPECT_EQ(readUnsigned(*sl.find("low"), sum.data()), 5u * cpus_);  // bitfields are integers: summed
    EXPECT_EQ(readSigned(*sl.find("neg"), sum.data()), -20 * cpus_);
    EXPECT_EQ(readNumber(*sl.find("ratio"), sum.data()), 0.5 * i);    // CPU 0's
    // Summed in 64 bits (at e3c187c, in the field's width: 0 on two CPUs).
    EXPECT_EQ(readUnsigned(*sl.find("drops"), sum.data()), (uint64_t{1} << 31) * static_cast<uint64_t>(cpus_));
    EXPECT_EQ(readSigned(*sl.find("level"), sum.data()), int64_t{INT32_MIN} * cpus_);
    ++seen;
  }
  EXPECT_EQ(seen, 3);
}

TEST_F(ForeignMaps, OpenByIdAndByKernelName) {
  const uint32_t id = owner_->maps().at("decode_hash")->info().id;
  auto by_id = Map::openById(id);
  ASSERT_TRUE(by_id.ok()) << by_id.error().message();
  EXPECT_EQ(by_id->info().name, "decode_hash");
  auto by_name = Map::openByName("decode_hash");
  ASSERT_TRUE(by_name.ok()) << by_name.error().message();
  EXPECT_EQ(by_name->info().id, id);
  EXPECT_EQ(by_name->info().key_size, sizeof(test_key));
  auto missing = Map::openByName("no_such_map_x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "open map by name \"no_such_map_x\": no such map");
  auto pinned_missing = Map::openPinned("/sys/fs/bpf/bpfex-no-such-pin");
  ASSERT_FALSE(pinned_missing.ok());
  EXPECT_EQ(pinned_missing.error().message(), "open pinned map /sys/fs/bpf/bpfex-no-such-pin: No such file or directory");
}

TEST_F(ForeignMaps, RuntimeReportsAMapThatDisappears) {
  // A stand-in for another daemon: it pins a map, we read it, it removes it.
  const std::string pin = env("BPFEX_T_PIN") + "/vanishing";
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "vanishing", 4, 8, 16, nullptr);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(bpf_obj_pin(fd, pin.c_str()), 0);
  engine::BpfRuntime rt;
  rt.start({.maps = {{.name = "other", .pinned = pin, .key_layout = "u32 k", .value_layout = "u64 v"}}});
  auto* e = rt.findMap("other");
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(rt.read(*e, 1).ok());
  unlink(pin.c_str());
  close(fd);
  auto gone = rt.read(*e, 2);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ((rt.errors().at({"open_map", "other"})), 1u);
  // The owner comes back under the same pin: the runtime picks it up.
  fd = bpf_map_create(BPF_MAP_TYPE_HASH, "vanishing", 4, 8, 16, nullptr);
  uint32_t k = 1;
  uint64_t v = 99;
  ASSERT_EQ(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
  ASSERT_EQ(bpf_obj_pin(fd, pin.c_str()), 0);
  auto back = rt.read(*e, 3);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back.value()->count(), 1u);
  unlink(pin.c_str());
  close(fd);
}

TEST(Reader, FallsBackToIterationWhereBatchIsUnsupported) {
  // Device hash maps have no batch operations (ENOTSUPP on 6.x kernels).
  int fd = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "devs", 4, 4, 16, nullptr);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  for (uint32_t k = 10; k < 15; ++k) {
    uint32_t ifindex = 1;  // lo
    ASSERT_EQ(bpf_map_update_elem(fd, &k, &ifindex, BPF_ANY), 0) << std::strerror(errno);
  }
  auto m = Map::fromFd(base::UniqueFd(fd), "devs");
  ASSERT_TRUE(m.ok());
  MapReader r(m.value());
  auto n = r.read();
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(n.value(), 5u);
  EXPECT_EQ(r.method(), ReadMethod::kIterate);
  uint32_t key_sum = 0;
  for (size_t i = 0; i < r.count(); ++i) {
    uint32_t k;
    std::memcpy(&k, r.key(i), 4);
    key_sum += k;
  }
  EXPECT_EQ(key_sum, 10u + 11 + 12 + 13 + 14);
  ASSERT_EQ(r.read().value(), 5u);  // and again, without retrying batch
}

// An application's counter region: an mmapable array the application adds
// to through its own mapping. The reader maps it too and copies it without a
// syscall, and sees every add of a writer racing with it, none torn.
TEST(Reader, ReadsAnMmapableArrayFromMemory) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
  const uint32_t kEntries = 3, kValue = 24;  // 3 x u64 per entry
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "region", 4, kValue, kEntries, &opts);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  auto* app = static_cast<uint64_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(app, MAP_FAILED) << std::strerror(errno);
  auto m = Map::fromFd(base::UniqueFd(fd), "region");
  ASSERT_TRUE(m.ok());
  MapReader r(m.value());
  EXPECT_EQ(r.method(), ReadMethod::kMmap);
  app[0] = 7;                // entry 0, word 0
  app[3 * 2 + 2] = 1ull << 40;  // entry 2, word 2
  ASSERT_EQ(r.read().value(), kEntries);
  for (uint32_t i = 0; i < kEntries; ++i) {
    uint32_t k;
    std::memcpy(&k, r.key(i), 4);
    EXPECT_EQ(k, i);
  }
  uint64_t v;
  std::memcpy(&v, r.value(0), 8);
  EXPECT_EQ(v, 7u);
  std::memcpy(&v, r.value(2) + 16, 8);
  EXPECT_EQ(v, 1ull << 40);
  // What the kernel holds is what the reader copied (the syscall path agrees).
  uint32_t key = 2;
  uint64_t kernel[3];
  ASSERT_EQ(bpf_map_lookup_elem(m.value().fd(), &key, kernel), 0);
  EXPECT_EQ(kernel[2], 1ull << 40);

  // A writer adding across the 32-bit boundary while the reader copies: every
  // value read is one the writer wrote (low word all ones or all zeros).
  std::atomic<bool> stop{false};
  app[1] = 0xffffffffull;
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) __atomic_fetch_add(&app[1], 0x100000000ull, __ATOMIC_RELAXED);
  });
  // Reads start once the writer runs (a loaded machine may start it late).
  while (__atomic_load_n(&app[1], __ATOMIC_RELAXED) == 0xffffffffull) std::this_thread::yield();
  uint64_t last = 0;
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(r.read().ok());
    std::memcpy(&v, r.value(0) + 8, 8);
    ASSERT_EQ(v & 0xffffffffull, 0xffffffffull) << "torn read: " << v;
    ASSERT_GE(v, last);
    last = v;
  }
  stop = true;
  writer.join();
  EXPECT_GT(last, 0xffffffffull);
  munmap(app, 4096);
}

TEST(Reader, BatchReadsAWholeHashAndReusesItsBuffers) {
  const uint32_t kN = 100000;
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "big", 4, 8, kN, nullptr);
  ASSERT_GE(fd, 0);
  std::vector<uint32_t> keys(kN);
  std::vector<uint64_t> vals(kN);
  for (uint32_t i = 0; i < kN; ++i) keys[i] = i, vals[i] = i * 3ull;
  uint32_t count = kN;
  ASSERT_EQ(bpf_map_update_batch(fd, keys.data(), vals.data(), &count, nullptr), 0);
  auto m = Map::fromFd(base::UniqueFd(fd), "big");
  MapReader r(m.value());
  ASSERT_EQ(r.read().value(), kN);
  EXPECT_EQ(r.method(), ReadMethod::kBatch);
  uint64_t sum = 0;
  for (size_t i = 0; i < r.count(); ++i) {
    uint64_t v;
    std::memcpy(&v, r.value(i), 8);
    sum += v;
  }
  EXPECT_EQ(sum, 3ull * kN * (kN - 1) / 2);
  const uint8_t* keys_before = r.keys();
  ASSERT_EQ(r.read().value(), kN);
  EXPECT_EQ(r.keys(), keys_before);  // steady state: the same buffers
}

TEST(Events, RingAndPerfBuffersDeliverEveryEvent) {
  auto obj = BpfObject::load({.name = "events", .path = EVENTS_TEST_OBJ}, "");
  ASSERT_TRUE(obj.ok()) << obj.error().message();
  auto ring = EventReader::open(*obj.value()->maps().at("events_ring"));
  ASSERT_TRUE(ring.ok()) << ring.error().message();
  auto perf = EventReader::open(*obj.value()->maps().at("events_perf"));
  ASSERT_TRUE(perf.ok()) << perf.error().message();
  EXPECT_FALSE(EventReader::open(*obj.value()->maps().at("events_seq")).ok());

  // Run the program 5000 times on a 64-byte packet (BPF_PROG_TEST_RUN).
  int prog_fd = -1;
  uint8_t pkt[64] = {};
  LIBBPF_OPTS(bpf_test_run_opts, tr, .data_in = pkt, .data_size_in = sizeof pkt, .repeat = 5000);
  auto progs = obj.value()->programStats();
  ASSERT_TRUE(progs.ok());
  prog_fd = bpf_prog_get_fd_by_id(progs->at(0).id);
  ASSERT_GE(prog_fd, 0);
  ASSERT_EQ(bpf_prog_test_run_opts(prog_fd, &tr), 0) << std::strerror(errno);
  close(prog_fd);

  struct Event {
    uint64_t seq;
    uint32_t len, marker;
  };
  for (auto* r : {ring.value().get(), perf.value().get()}) {
    auto n = r->poll();
    ASSERT_TRUE(n.ok()) << n.error().message();
    ASSERT_EQ(n.value(), 5000u);
    std::vector<bool> seen(5000);
    for (size_t i = 0; i < r->count(); ++i) {
      ASSERT_GE(r->size(i), sizeof(Event));
      Event e;
      std::memcpy(&e, r->event(i), sizeof e);
      ASSERT_LT(e.seq, 5000u);
      seen[e.seq] = true;
      EXPECT_EQ(e.len, 64u);
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 5000);
    EXPECT_EQ(r->lost(), 0u);
    EXPECT_EQ(r->poll().value(), 0u);  // drained
  }
}

TEST(Errors, NameTheObjectAndTheCause) {
  ObjectSpec s = trafficSpec();
  s.name = "bad_iface";
  s.attach = {{.program = "bpfex_xdp_count", .type = AttachType::kXdp, .target = "nope0", .netns = env("BPFEX_T_NS_A")}};
  // A program that cannot attach is an error of its own; the object and its
  // maps stay loaded.
  auto e1 = BpfObject::load(s, "");
  ASSERT_TRUE(e1.ok()) << e1.error().message();
  ASSERT_EQ(e1.value()->attachErrors().size(), 1u);
  const std::string m1 = e1.value()->attachErrors()[0].message();
  EXPECT_NE(m1.find("no interface nope0"), std::string::npos) << m1;
  EXPECT_NE(m1.find("BPF object bad_iface"), std::string::npos) << m1;
  EXPECT_FALSE(e1.value()->maps().empty());
  EXPECT_TRUE(e1.value()->attached().empty());

  s.attach = {{.program = "no_such_prog", .type = AttachType::kXdp, .target = "lo"}};
  auto e2 = BpfObject::load(s, "");
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message().find("no program named no_such_prog"), std::string::npos);

  auto e3 = BpfObject::load({.name = "rejected", .path = REJECT_TEST_OBJ}, "");
  ASSERT_FALSE(e3.ok());
  // The verifier's own words about the unchecked packet access.
  EXPECT_NE(e3.error().message().find("invalid access to packet"), std::string::npos) << e3.error().message();

  auto e4 = BpfObject::load({.name = "nofile", .path = "/nonexistent/x.bpf.o"}, "");
  ASSERT_FALSE(e4.ok());
  EXPECT_NE(e4.error().message().find("/nonexistent/x.bpf.o"), std::string::npos);

  engine::BpfRuntime rt;
  rt.start({.pin_path = env("BPFEX_T_PIN") + "/runtime",  // run.sh removes it
            .objects = {{.name = "rejected", .path = REJECT_TEST_OBJ}},
            .maps = {{.name = "ghost", .pinned = "/sys/fs/bpf/bpfex-ghost"}}});
  EXPECT_EQ((rt.errors().at({"load", "rejected"})), 1u);
  EXPECT_EQ((rt.errors().at({"open_map", "ghost"})), 1u);
  rt.stop();
}

}  // namespace
}  // namespace bpfex::bpf
