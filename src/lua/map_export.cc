#include "lua/map_export.h"

#include <charconv>
#include <cstring>

#include "metrics/text_format.h"

namespace bpfex::lua {

using base::Error;
using base::Status;

namespace {
const bpf::Field* findField(const bpf::Layout& l, const std::string& name) {
  for (const bpf::Field& f : l.fields())
    if (f.name == name) return &f;
  return nullptr;
}

std::string fieldNames(const bpf::Layout& l) {
  std::string s;
  for (const bpf::Field& f : l.fields()) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}
}  // namespace

Status MapExport::plan(const MapView& v) {
  if (v.key_layout == key_layout_ && v.value_layout == value_layout_ && v.key_size == key_size_) return {};
  const std::string at = d_.where + ": bpf.export(" + d_.map + "): ";
  keys_.clear();
  for (const std::string& name : d_.key_fields) {
    const bpf::Field* f = findField(*v.key_layout, name);
    if (f == nullptr) return Error(EINVAL, at + "no key field named " + name + " (key fields: " + fieldNames(*v.key_layout) + ")");
    if (f->count > 1) return Error(EINVAL, at + "key field " + name + " is an array; a label takes one value");
    keys_.push_back(f);
  }
  value_ = findField(*v.value_layout, d_.value_field);
  if (value_ == nullptr)
    return Error(EINVAL, at + "no value field named " + d_.value_field + " (value fields: " + fieldNames(*v.value_layout) + ")");
  if (value_->count > 1 || !(bpf::isIntegerKind(value_->kind) || value_->kind == bpf::FieldKind::kFloat) ||
      value_->kind == bpf::FieldKind::kEnum)
    return Error(EINVAL, at + "value field " + d_.value_field + " is not a number");
  key_layout_ = v.key_layout;
  value_layout_ = v.value_layout;
  key_size_ = v.key_size;
  last_keys_.clear();  // enum names and field positions may differ: no handle carries over
  handles_.clear();
  text_.resize(keys_.size());
  return {};
}

// The label text of one key field, as `g:set({k.field}, ...)` writes it.
void MapExport::label(const bpf::Field& k, const uint8_t* key, std::string& out) const {
  char buf[metrics::kMaxNumberChars];
  switch (k.kind) {
    case bpf::FieldKind::kUnsigned:
      out.assign(buf, std::to_chars(buf, buf + sizeof buf, bpf::readUnsigned(k, key)).ptr);
      return;
    case bpf::FieldKind::kSigned:
      out.assign(buf, std::to_chars(buf, buf + sizeof buf, bpf::readSigned(k, key)).ptr);
      return;
    case bpf::FieldKind::kBool: out = bpf::readUnsigned(k, key) != 0 ? "true" : "false"; return;
    case bpf::FieldKind::kFloat: out.assign(buf, metrics::formatLabelNumber(buf, bpf::readNumber(k, key))); return;
    default: out = bpf::formatField(k, key); return;  // enums, strings, bytes
  }
}

Status MapExport::write(const MapView& v, metrics::Family& f, size_t* refused, std::string* refusal) {
  if (auto st = plan(v); !st) return st;
  const size_t n = v.count, ks = v.key_size;
  // Handles are kept by position: a map read in the same order as last tick
  // finds every series by a compare of its key bytes.
  const size_t known = std::min(n, handles_.size());
  if (last_keys_.size() < n * ks) last_keys_.resize(n * ks);
  handles_.resize(n);
  std::vector<std::string_view> lv(keys_.size());
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* key = v.keys + i * ks;
    const double x = bpf::readNumber(*value_, v.values + i * v.value_size);
    uint8_t* last = last_keys_.data() + i * ks;
    if (i < known && std::memcmp(last, key, ks) == 0 && f.setAt(handles_[i], x)) continue;
    for (size_t j = 0; j < keys_.size(); ++j) {
      label(*keys_[j], key, text_[j]);
      lv[j] = text_[j];
    }
    std::memcpy(last, key, ks);
    if (auto st = f.set(metrics::LabelValues(lv), x, &handles_[i]); !st) {
      ++*refused;
      *refusal = d_.where + ": " + st.error().message();
      handles_[i] = {};
    }
  }
  return {};
}

}  // namespace bpfex::lua
