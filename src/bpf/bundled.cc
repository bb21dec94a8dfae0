#include "bpf/bundled.h"

#include <bpf/libbpf.h>

#include "addr_traffic.skel.h"
#include "bpfex_abi.h"
#include "iface_traffic.skel.h"
#include "ironpost_abi.h"
#include "ironpost_counters.h"
#include "ironpost_region.skel.h"
#include "ironpost_xdp.skel.h"
#include "masque_counters.h"
#include "masque_region.skel.h"
#include "ojeomneo_counters.h"
#include "ojeomneo_region.skel.h"
#include "vpn_router.skel.h"

// The C++ side reads these structs through BTF, but the layout is also the
// ABI: a change here must be a change in bpf/include/bpfex_abi.h too.
static_assert(sizeof(struct bpfex_iface_key) == 8);
static_assert(sizeof(struct bpfex_iface_counters) == 16);
static_assert(sizeof(struct vpn_if_stats) == 96);
static_assert(sizeof(struct vpn_latency) == 8 * (3 + VPN_LATENCY_SLOTS));
static_assert(sizeof(struct vpn_session) == 80);
static_assert(sizeof(struct vpn_tunnel_hdr) == 16);
static_assert(sizeof(struct ironpost_traffic) == 4 * 24);
static_assert(sizeof(struct ironpost_latency) == 8 * (2 + IRONPOST_LATENCY_SLOTS));
static_assert(sizeof(struct ironpost_block_key) == 8);
static_assert(sizeof(struct ironpost_counters) % 8 == 0);  // an mmapable array's stride
static_assert(sizeof(struct bpfex_addr_key) == 8);
static_assert(sizeof(struct masque_counters) % 8 == 0 && sizeof(struct masque_client) % 8 == 0);
static_assert(sizeof(struct ojeomneo_counters) % 8 == 0 && sizeof(struct ojeomneo_route) % 8 == 0 &&
              sizeof(struct ojeomneo_business) % 8 == 0);

namespace bpfex::bpf {

namespace {
struct Entry {
  const char* name;
  const void* (*elf)(size_t*);
};
const Entry kBundled[] = {
    {"addr_traffic", &addr_traffic_bpf__elf_bytes},
    {"iface_traffic", &iface_traffic_bpf__elf_bytes},
    {"ironpost_region", &ironpost_region_bpf__elf_bytes},
    {"ironpost_xdp", &ironpost_xdp_bpf__elf_bytes},
    {"masque_region", &masque_region_bpf__elf_bytes},
    {"ojeomneo_region", &ojeomneo_region_bpf__elf_bytes},
    {"vpn_router", &vpn_router_bpf__elf_bytes},
};
}  // namespace

base::Result<ElfImage> bundledElf(const std::string& name) {
  for (const Entry& e : kBundled) {
    if (name == e.name) {
      ElfImage img{};
      img.data = e.elf(&img.size);
      return img;
    }
  }
  std::string known;
  for (const Entry& e : kBundled) known += (known.empty() ? "" : ", ") + std::string(e.name);
  return base::Error::msg("no bundled BPF object named \"" + name + "\" (bundled: " + known + ")");
}

std::vector<std::string> bundledObjectNames() {
  std::vector<std::string> v;
  for (const Entry& e : kBundled) v.emplace_back(e.name);
  return v;
}

}  // namespace bpfex::bpf
