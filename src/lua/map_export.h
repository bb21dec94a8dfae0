// MapExport: the declarative fast path for the commonest rule, a family that
// re-exports one value field of a BPF map, labelled by its key fields:
//
//   bpf.export(bpf.map("flows"), metric.counter("flow_packets_total", "...",
//              {"ifindex", "proto"}), "packets")
//
// does, every tick, what this loop does, with no Lua per entry:
//
//   for k, v in flows:entries() do g:set({k.ifindex, k.proto}, v.packets) end
//
// The labels are the key fields as a rule's view shows them (integers in exact
// digits, enums by name, char arrays as text, bytes as hex, booleans as
// true/false, floats as the sandbox prints numbers), so both forms serve the
// same bytes (tests/golden/export_test.yaml holds them side by side).
//
// Series handles: an entry whose key bytes equal the previous tick's at the
// same position writes its series by handle (metrics::Family::Handle): no
// label text built, no hash lookup. A map read in the same order every tick
// (batch lookups over an unchanged hash map do) costs a memcmp per entry.
//
// Thread safety: engine thread only, as the Rule that owns it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "lua/rule.h"
#include "metrics/family.h"

namespace bpfex::lua {

struct MapExportDecl {
  std::string map;                      // the map's configured name
  size_t decl = 0;                      // the family: index into Rule::declarations()
  std::string value_field;              // a numeric value field
  std::vector<std::string> key_fields;  // one per label, in the family's label order
  std::string where;                    // "file:line" of the bpf.export call
};

class MapExport {
 public:
  explicit MapExport(MapExportDecl d) : d_(std::move(d)) {}
  const MapExportDecl& decl() const { return d_; }

  // Writes one series per entry of `v` into `f`. A layout the declaration
  // does not fit (a missing field, a value that is not a number, an array)
  // is an error naming the call's file:line, and nothing is written. Writes
  // the family refuses (a series limit, a negative counter value) are
  // counted in *refused, and the last one is kept in *refusal.
  base::Status write(const MapView& v, metrics::Family& f, size_t* refused, std::string* refusal);

 private:
  base::Status plan(const MapView& v);
  void label(const bpf::Field& k, const uint8_t* key, std::string& out) const;

  MapExportDecl d_;
  // The plan for one key/value layout pair: resolved fields.
  const bpf::Layout *key_layout_ = nullptr, *value_layout_ = nullptr;
  std::vector<const bpf::Field*> keys_;
  const bpf::Field* value_ = nullptr;
  // Last tick's key bytes, and each entry's series handle, by position.
  std::vector<uint8_t> last_keys_;
  std::vector<metrics::Family::Handle> handles_;
  uint32_t key_size_ = 0;
  std::vector<std::string> text_;  // label text scratch, one per label
};

}  // namespace bpfex::lua
