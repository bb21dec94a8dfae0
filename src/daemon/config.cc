#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "bpf/trace_attach.h"
#include "daemon/endpoints.h"
#include "daemon/remote_write_config.h"
#include "daemon/settings.h"
#include "daemon/yaml_errors.h"
#include "export/http_server.h"
#include "metrics/text_format.h"

namespace bpfex::daemon {

using base::Error;
using base::Result;
using base::Status;

namespace {

struct Walker {
  std::string_view file;
  Config& cfg;

  Status scalar(const YAML::Node& n, std::string_view field, std::string& out) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a string");
    out = n.Scalar();
    return base::okStatus();
  }
  template <typename T>
  Status integer(const YAML::Node& n, std::string_view field, T& out, T lo, T hi) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a number");
    auto v = parseWholeNumber<T>(n.Scalar(), lo, hi);
    if (!v) return fieldError(file, n, field, v.error().message());
    out = v.value();
    return base::okStatus();
  }


  // A relative path in this file is relative to the file's directory.
  std::string besideThisFile(const std::string& path) const {
    if (path.empty() || path.front() == '/') return path;
    const std::string dir = std::filesystem::path(std::string(file)).parent_path().string();
    return dir.empty() ? path : dir + "/" + path;
  }

  // include: a package (its BPF objects and maps, its rules and their
  // params), applied after this file, so the file's own lists come first.
  // (A package's own keys are checked before it is walked: it cannot include.)
  std::vector<std::pair<std::string, YAML::Node>> includes;

  Status includeList(const YAML::Node& v) {
    std::vector<YAML::Node> items;
    if (v.IsScalar()) items.push_back(v);
    else if (v.IsSequence())
      for (const auto& i : v) items.push_back(i);
    else return fieldError(file, v, "include", "expected a path or a list of paths");
    for (const auto& i : items) {
      if (!i.IsScalar()) return fieldError(file, i, "include[]", "expected a path");
      includes.emplace_back(besideThisFile(i.Scalar()), i);
    }
    return base::okStatus();
  }

  Status applyIncludes() {
    for (const auto& [path, node] : includes) {
      // A package is small: at most 1 MiB (and never a device that never ends).
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec))
        return fieldError(file, node, "include", path + " is not a readable regular file");
      auto text = base::readFile(path, 1u << 20);
      if (!text) return fieldError(file, node, "include", "cannot read " + path + ": " + text.error().message());
      YAML::Node root;
      try {
        root = YAML::Load(text.value());
      } catch (const YAML::Exception& e) {
        return Error::msg(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                          ": " + e.msg);
      }
      if (root.IsMap())
        for (const auto& kv : root) {
          const std::string k = kv.first.as<std::string>();
          if (k != "rules" && k != "rule_params" && k != "bpf")
            return fieldError(path, kv.first, k, "not for a package: an included file gives rules, rule_params and bpf (objects, maps)");
          if (k == "bpf" && kv.second.IsMap())
            for (const auto& b : kv.second)
              if (b.first.as<std::string>() != "objects" && b.first.as<std::string>() != "maps")
                return fieldError(path, b.first, "bpf." + b.first.as<std::string>(),
                                  "not for a package: an included file gives bpf.objects and bpf.maps");
        }
      Config pkg;
      pkg.rules.clear();
      Walker w{path, pkg};
      if (auto st = w.walk(root); !st) return st;
      for (const auto& o : pkg.bpf.objects)
        for (const auto& mine : cfg.bpf.objects)
          if (mine.name == o.name)
            return fieldError(file, node, "include", path + " declares a BPF object " + o.name + " this file has too");
      cfg.rules.insert(cfg.rules.end(), pkg.rules.begin(), pkg.rules.end());
      cfg.bpf.objects.insert(cfg.bpf.objects.end(), pkg.bpf.objects.begin(), pkg.bpf.objects.end());
      cfg.bpf.maps.insert(cfg.bpf.maps.end(), pkg.bpf.maps.begin(), pkg.bpf.maps.end());
      for (const auto& [k, v] : pkg.rule_params) cfg.rule_params.emplace(k, v);  // the file's own win
    }
    return base::okStatus();
  }

  Status walk(const YAML::Node& root) {
    if (auto st = walkKeys(root); !st) return st;
    return applyIncludes();
  }

  // One setting from the schema (settings.h): a scalar parsed into its
  // field, or a list, mapping or section parsed here.
  Status setting(const Setting& s, const YAML::Node& key_node, const YAML::Node& v, const std::string& key) {
    if (std::holds_alternative<std::monostate>(s.field)) return custom(s.key, key_node, v, key);
    if (!v.IsScalar()) {
      const char* what = std::holds_alternative<bool& (*)(Config&)>(s.field)     ? "expected true or false"
                         : std::holds_alternative<double& (*)(Config&)>(s.field) ? "expected a duration such as 5s"
                         : std::holds_alternative<std::string& (*)(Config&)>(s.field) ? "expected a string"
                                                                                      : "expected a number";
      return fieldError(file, v, key, what);
    }
    if (auto st = parseSetting(s, v.Scalar(), cfg); !st) return fieldError(file, v, key, st.error().message());
    cfg.origins[std::string(s.key)] = where(file, v);
    if (s.path) {
      std::string& p = std::get<std::string& (*)(Config&)>(s.field)(cfg);
      if (!p.empty()) p = besideThisFile(p);
    }
    return base::okStatus();  // ranges and checks: validateConfig, whatever set the value
  }

  // The keys a section takes, for an error naming them.
  static std::string sectionKeys(std::string_view section) {
    std::string keys;
    const std::string prefix = std::string(section) + ".";
    for (const Setting& s : settings())
      if (s.key.substr(0, prefix.size()) == prefix) keys += (keys.empty() ? "" : ", ") + std::string(s.key.substr(prefix.size()));
    return keys;
  }
  static bool isSection(std::string_view key) { return !sectionKeys(key).empty(); }

  Status walkKeys(const YAML::Node& root) {
    if (root.IsNull()) return base::okStatus();
    if (!root.IsMap()) return fieldError(file, root, "(top level)", "expected a mapping of settings");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (isSection(key)) {
        if (!kv.second.IsMap()) return fieldError(file, kv.second, key, "expected a mapping");
        for (const auto& item : kv.second) {
          const std::string sub = key + "." + item.first.as<std::string>();
          const Setting* s = findSetting(sub);
          if (s == nullptr) return fieldError(file, item.first, sub, "unknown setting (" + sectionKeys(key) + ")");
          if (auto st = setting(*s, item.first, item.second, sub); !st) return st;
        }
        continue;
      }
      const Setting* s = findSetting(key);
      if (s == nullptr) return fieldError(file, kv.first, key, "unknown setting (see docs/configuration.md)");
      if (auto st = setting(*s, kv.first, kv.second, key); !st) return st;
    }
    return base::okStatus();
  }

  // Settings that are lists, mappings or sections of their own.
  Status custom(std::string_view which, const YAML::Node&, const YAML::Node& v, const std::string& key) {
    if (which == "include") return includeList(v);
    if (which == "rules") return rules(v);
    if (which == "rule_params") return stringMapping(v, key, cfg.rule_params);
    if (which == "bpf.objects") return bpfObjects(v);
    if (which == "bpf.maps") return bpfMaps(v);
    if (which == "bpf.ebpf_exporter") return ebpfExporter(v, key);
    if (which == "remote_write") {
      auto beside = [this](const std::string& p) { return besideThisFile(p); };
      if (auto st = parseRemoteWrite(v, file, beside, [](const char* n) { return std::getenv(n); }, cfg.remote_write); !st)
        return st;
      cfg.origins["remote_write"] = where(file, v);
      return base::okStatus();
    }
    if (which == "external_labels")
      return parseExternalLabels(v, file, [](const char* n) { return std::getenv(n); }, cfg.external_labels);
    if (which == "alerting.alertmanagers") return urlList(v, key, cfg.alerting.alertmanagers);
    if (which == "alerting.external_labels") {
      if (!v.IsMap()) return fieldError(file, v, key, "expected a mapping of label: value");
      for (const auto& l : v) {
        if (!metrics::isValidLabelName(l.first.as<std::string>()))
          return fieldError(file, l.first, key, "\"" + l.first.as<std::string>() + "\" is not a valid label name");
        cfg.alerting.external_labels[l.first.as<std::string>()] = l.second.as<std::string>();
      }
      return base::okStatus();
    }
    if (which == "push.labels") {
      if (!v.IsMap()) return fieldError(file, v, key, "expected a mapping of label: value");
      for (const auto& l : v) cfg.push.labels.emplace_back(l.first.as<std::string>(), l.second.as<std::string>());
      return base::okStatus();
    }
    if (which == "push.families") {
      if (!v.IsSequence()) return fieldError(file, v, key, "expected a list of regexes");
      for (const auto& f : v) {
        try {
          std::regex re(f.as<std::string>(), std::regex::extended);
        } catch (const std::regex_error&) {
          return fieldError(file, f, key, "\"" + f.as<std::string>() + "\" is not a valid regex");
        }
        cfg.push.families.push_back(f.as<std::string>());
      }
      return base::okStatus();
    }
    return fieldError(file, v, key, "not a value of its own (see docs/configuration.md)");
  }

  Status stringMapping(const YAML::Node& v, const std::string& key, std::map<std::string, std::string>& out) {
    if (!v.IsMap()) return fieldError(file, v, key, "expected a mapping of name: value");
    for (const auto& p : v) {
      if (!p.second.IsScalar())
        return fieldError(file, p.second, key + "." + p.first.as<std::string>(), "expected a scalar");
      out[p.first.as<std::string>()] = p.second.Scalar();
    }
    return base::okStatus();
  }

  Status urlList(const YAML::Node& v, const std::string& key, std::vector<std::string>& out) {
    if (!v.IsSequence()) return fieldError(file, v, key, "expected a list of URLs");
    for (const auto& u : v) {
      const std::string url = u.as<std::string>();
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        return fieldError(file, u, key, "\"" + url + "\" must start with http:// or https://");
      out.push_back(url);
    }
    return base::okStatus();
  }

  Status rules(const YAML::Node& v) {
    cfg.rules.clear();
    if (v.IsScalar()) {
      cfg.rules.push_back(v.Scalar());
      return base::okStatus();
    }
    if (!v.IsSequence()) return fieldError(file, v, "rules", "expected a path or a list of paths");
    for (const auto& item : v) {
      if (!item.IsScalar()) return fieldError(file, item, "rules[]", "expected a path");
      cfg.rules.push_back(item.Scalar());
    }
    return base::okStatus();
  }

  Status boolean(const YAML::Node& n, std::string_view field, bool& out) {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      return fieldError(file, n, field, "expected true or false");
    out = n.Scalar() == "true";
    return base::okStatus();
  }

  // Calls fn(item, "at[i]") for each item of a list of mappings; a list that
  // is not one, or an item that is not a mapping, is an error naming it.
  template <class Fn>
  Status eachMapping(const YAML::Node& v, const std::string& at, const std::string& what, Fn&& fn) {
    if (!v.IsSequence()) return fieldError(file, v, at, "expected a list of " + what);
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string here = at + "[" + std::to_string(i) + "]";
      if (!v[i].IsMap()) return fieldError(file, v[i], here, "expected a mapping");
      if (auto st = fn(v[i], here); !st) return st;
    }
    return base::okStatus();
  }

  // init: [{map: NAME, entries: [{key: {field: v, ...} | v, value: {...} | v}, ...]}, ...]
  Status fieldValues(const YAML::Node& n, const std::string& field, const char* scalar_name,
                     std::vector<std::pair<std::string, std::string>>& out) {
    if (n.IsScalar()) {
      out.emplace_back(scalar_name, n.Scalar());
      return base::okStatus();
    }
    if (!n.IsMap()) return fieldError(file, n, field, "expected a mapping of field: value, or one value");
    for (const auto& f : n) {
      if (!f.second.IsScalar()) return fieldError(file, f.second, field + "." + f.first.as<std::string>(), "expected a value");
      out.emplace_back(f.first.as<std::string>(), f.second.Scalar());
    }
    return base::okStatus();
  }

  Status initList(const YAML::Node& v, const std::string& at, bpf::ObjectSpec& spec) {
    return eachMapping(v, at, "{map, entries}", [&](const YAML::Node& m, const std::string& here) -> Status {
      bpf::MapInit init;
      for (const auto& kv : m) {
        const std::string k = kv.first.as<std::string>();
        if (k == "map") {
          if (auto st = scalar(kv.second, here + ".map", init.map); !st) return st;
        } else if (k == "entries") {
          auto st = eachMapping(kv.second, here + ".entries", "{key, value}", [&](const YAML::Node& e, const std::string& ew) -> Status {
            // value may be left out: every field zero (a set member, a blocklist entry).
            if (!e["key"]) return fieldError(file, e, ew, "expected {key: ...[, value: ...]}");
            for (const auto& ekv : e)
              if (const std::string ek = ekv.first.as<std::string>(); ek != "key" && ek != "value")
                return fieldError(file, ekv.first, ew + "." + ek, "unknown setting (key, value)");
            bpf::MapInit::Entry entry;
            entry.where = std::string(file) + ":" + std::to_string(e.Mark().line + 1) + ": " + ew;
            if (auto fs = fieldValues(e["key"], ew + ".key", "key", entry.key); !fs) return fs;
            if (e["value"])
              if (auto fs = fieldValues(e["value"], ew + ".value", "value", entry.value); !fs) return fs;
            init.entries.push_back(std::move(entry));
            return base::okStatus();
          });
          if (!st) return st;
        } else {
          return fieldError(file, kv.first, here + "." + k, "unknown setting (map, entries)");
        }
      }
      if (init.map.empty()) return fieldError(file, m, here + ".map", "required");
      spec.init.push_back(std::move(init));
      return base::okStatus();
    });
  }

  Status bpfObjects(const YAML::Node& v) {
    // ebpf_exporter's objects (bpf.ebpf_exporter, attach_all) stay, wherever that key is.
    std::erase_if(cfg.bpf.objects, [](const bpf::ObjectSpec& o) { return !o.attach_all; });
    return eachMapping(v, "bpf.objects", "objects", [&](const YAML::Node& o, const std::string& at) -> Status {
      bpf::ObjectSpec spec;
      for (const auto& kv : o) {
        const std::string k = kv.first.as<std::string>();
        const std::string field = at + "." + k;
        Status st;
        if (k == "name") st = scalar(kv.second, field, spec.name);
        else if (k == "bundled") st = scalar(kv.second, field, spec.bundled);
        else if (k == "file") st = scalar(kv.second, field, spec.path);
        else if (k == "keep_attached") st = boolean(kv.second, field, spec.keep_attached);
        else if (k == "globals") {
          if (!kv.second.IsMap()) st = fieldError(file, kv.second, field, "expected a mapping of name: value");
          else
            for (const auto& g : kv.second) {
              if (!g.second.IsScalar()) { st = fieldError(file, g.second, field + "." + g.first.as<std::string>(), "expected a number"); break; }
              spec.globals[g.first.as<std::string>()] = g.second.Scalar();
            }
        } else if (k == "attach") st = attachList(kv.second, field, spec);
        else if (k == "init") st = initList(kv.second, field, spec);
        else st = fieldError(file, kv.first, field, "unknown setting (name, bundled, file, globals, attach, init, keep_attached)");
        if (!st) return st;
      }
      if (spec.name.empty()) return fieldError(file, o, at + ".name", "required");
      if (spec.bundled.empty() == spec.path.empty())
        return fieldError(file, o, at, "set exactly one of bundled and file");
      for (const auto& other : cfg.bpf.objects)
        if (other.name == spec.name) return fieldError(file, o, at + ".name", "\"" + spec.name + "\" is used twice");
      cfg.bpf.objects.push_back(std::move(spec));
      return base::okStatus();
    });
  }

  Status attachList(const YAML::Node& v, const std::string& at, bpf::ObjectSpec& spec) {
    return eachMapping(v, at, "attachments", [&](const YAML::Node& a, const std::string& here) -> Status {
      bpf::AttachSpec as;
      std::string type = "auto", mode = "auto";
      for (const auto& kv : a) {
        const std::string k = kv.first.as<std::string>();
        Status st;
        if (k == "program") st = scalar(kv.second, here + ".program", as.program);
        else if (k == "type") st = scalar(kv.second, here + ".type", type);
        else if (k == "target" || k == "interface") st = scalar(kv.second, here + "." + k, as.target);
        else if (k == "netns") st = scalar(kv.second, here + ".netns", as.netns);
        else if (k == "mode") st = scalar(kv.second, here + ".mode", mode);
        else if (k == "interfaces") st = interfacePattern(kv.second, here + ".interfaces", as);
        else st = fieldError(file, kv.first, here + "." + k, "unknown setting (program, type, interface/target, interfaces, netns, mode)");
        if (!st) return st;
      }
      auto t = bpf::parseAttachType(type);
      if (!t) return fieldError(file, a, here + ".type", t.error().message());
      as.type = t.value();
      if (as.program.empty()) return fieldError(file, a, here + ".program", "required");
      const bool netdev = as.type == bpf::AttachType::kXdp || as.type == bpf::AttachType::kTcIngress ||
                          as.type == bpf::AttachType::kTcEgress;
      if (netdev && as.target.empty() && !as.dynamic())
        return fieldError(file, a, here + ".interface", "required for " + type + " (or interfaces: all, or a pattern)");
      if (!as.target.empty() && as.dynamic())
        return fieldError(file, a, here + ".interfaces", "give interface or interfaces, not both");
      if (as.dynamic() && !netdev) return fieldError(file, a, here + ".interfaces", "only xdp and tc attach to interfaces");
      if (!netdev && !as.netns.empty()) return fieldError(file, a, here + ".netns", "only xdp and tc attach in a namespace");
      if (auto st = bpf::checkTarget(as.type, as.target); !st) return fieldError(file, a, here + ".target", st.error().message());
      if (mode != "auto" && mode != "native" && mode != "generic")
        return fieldError(file, a, here + ".mode", "expected auto, native or generic");
      as.xdp_mode = mode == "native" ? bpf::XdpMode::kNative : mode == "generic" ? bpf::XdpMode::kGeneric : bpf::XdpMode::kAuto;
      as.where = where(file, a);
      spec.attach.push_back(std::move(as));
      return base::okStatus();
    });
  }

  // interfaces: all | REGEX | {match: REGEX, exclude: REGEX}; whole names.
  Status interfacePattern(const YAML::Node& v, const std::string& at, bpf::AttachSpec& as) {
    auto regex = [&](const YAML::Node& n, const std::string& field, std::string& out) -> Status {
      if (auto st = scalar(n, field, out); !st) return st;
      if (out == "all") out = ".*";
      try {
        std::regex re(out, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return fieldError(file, n, field, "\"" + out + "\" is not a regular expression: " + e.what());
      }
      return base::okStatus();
    };
    if (v.IsScalar()) return regex(v, at, as.match);
    if (!v.IsMap()) return fieldError(file, v, at, "expected all, a regular expression, or {match, exclude}");
    as.match = ".*";
    for (const auto& kv : v) {
      const std::string k = kv.first.as<std::string>();
      Status st;
      if (k == "match") st = regex(kv.second, at + ".match", as.match);
      else if (k == "exclude") st = regex(kv.second, at + ".exclude", as.exclude);
      else st = fieldError(file, kv.first, at + "." + k, "unknown setting (match, exclude)");
      if (!st) return st;
    }
    return base::okStatus();
  }

  // bpf.ebpf_exporter: {dir, names, prefix}. Each NAME.yaml is read now (its
  // mistakes are this configuration's, with their own file:line) and NAME.bpf.o
  // becomes an object named NAME with every program attached.
  Status ebpfExporter(const YAML::Node& v, const std::string& key) {
    if (!v.IsMap()) return fieldError(file, v, key, "expected a mapping (dir, names, prefix)");
    std::string dir;
    std::vector<std::string> names;
    for (const auto& kv : v) {
      const std::string k = kv.first.as<std::string>();
      Status st;
      if (k == "dir") st = scalar(kv.second, key + ".dir", dir);
      else if (k == "prefix") st = scalar(kv.second, key + ".prefix", cfg.bpf.ebpf_exporter_prefix);
      else if (k == "names") {
        if (!kv.second.IsSequence()) return fieldError(file, kv.second, key + ".names", "expected a list of names");
        for (const auto& n : kv.second) names.push_back(n.as<std::string>());
      } else {
        st = fieldError(file, kv.first, key + "." + k, "unknown setting (dir, names, prefix)");
      }
      if (!st) return st;
    }
    if (dir.empty()) return fieldError(file, v, key + ".dir", "required");
    if (names.empty()) return fieldError(file, v, key + ".names", "required (at least one)");
    dir = besideThisFile(dir);
    cfg.bpf.ebpf_exporter.clear();
    for (const std::string& name : names) {
      if (name.empty() || name.find('/') != std::string::npos)
        return fieldError(file, v, key + ".names", "\"" + name + "\" is not a config name");
      auto c = engine::loadEbpfExporterConfig(dir, name);
      if (!c) return fieldError(file, v, key + ".names", c.error().message());
      for (const auto& o : cfg.bpf.objects)
        if (o.name == name) return fieldError(file, v, key + ".names", "\"" + name + "\" is also a BPF object's name");
      for (const auto& m : c->metrics)
        for (const auto& other : cfg.bpf.ebpf_exporter)
          for (const auto& o : other.metrics)
            if (o.name == m.name)
              return fieldError(file, v, key + ".names", m.where + ": " + m.name + " is also " + o.where + "'s");
      bpf::ObjectSpec spec{.name = name, .path = dir + "/" + name + ".bpf.o"};
      spec.attach_all = true;
      for (const std::string& sym : c->kaddrs) {  // kaddr_<symbol> globals, as ebpf_exporter sets them
        auto a = engine::kernelSymbolAddress(sym);
        if (!a) return fieldError(file, v, key + ".names", c->kaddrs_where + ": kaddrs: " + a.error().message());
        spec.globals["kaddr_" + sym] = std::to_string(a.value());
      }
      cfg.bpf.objects.push_back(std::move(spec));
      cfg.bpf.ebpf_exporter.push_back(std::move(c).value());
    }
    return base::okStatus();
  }

  Status bpfMaps(const YAML::Node& v) {
    cfg.bpf.maps.clear();
    return eachMapping(v, "bpf.maps", "maps", [&](const YAML::Node& m, const std::string& at) -> Status {
      engine::ForeignMapSpec fm;
      for (const auto& kv : m) {
        const std::string k = kv.first.as<std::string>();
        Status st;
        if (k == "name") st = scalar(kv.second, at + ".name", fm.name);
        else if (k == "pinned") st = scalar(kv.second, at + ".pinned", fm.pinned);
        else if (k == "id") st = integer<uint32_t>(kv.second, at + ".id", fm.id, 1, UINT32_MAX);
        else if (k == "kernel_name") st = scalar(kv.second, at + ".kernel_name", fm.kernel_name);
        else if (k == "key") st = scalar(kv.second, at + ".key", fm.key_layout);
        else if (k == "value") st = scalar(kv.second, at + ".value", fm.value_layout);
        else st = fieldError(file, kv.first, at + "." + k, "unknown setting (name, pinned, id, kernel_name, key, value)");
        if (!st) return st;
      }
      if (fm.name.empty()) return fieldError(file, m, at + ".name", "required");
      const int ways = !fm.pinned.empty() + (fm.id != 0) + !fm.kernel_name.empty();
      if (ways != 1) return fieldError(file, m, at, "set exactly one of pinned, id and kernel_name");
      for (const auto* decl : {&fm.key_layout, &fm.value_layout})
        if (!decl->empty())
          if (auto l = bpf::Layout::fromDeclaration(*decl); !l)
            return fieldError(file, m, at + (decl == &fm.key_layout ? ".key" : ".value"), l.error().message());
      for (const auto& other : cfg.bpf.maps)
        if (other.name == fm.name) return fieldError(file, m, at + ".name", "\"" + fm.name + "\" is used twice");
      cfg.bpf.maps.push_back(std::move(fm));
      return base::okStatus();
    });
  }

};

}  // namespace

Status loadConfigText(std::string_view yaml, std::string_view name, Config& cfg) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Error::msg(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Walker w{name, cfg};
  try {
    return w.walk(root);
  } catch (const YAML::Exception& e) {
    return Error::msg(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Status loadConfigFile(const std::string& path, Config& cfg) {
  std::ifstream in(path);
  if (!in) return Error::fromErrno(errno, "read config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return loadConfigText(ss.str(), path, cfg);
}

EnvLookup processEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Status applyEnvOverrides(Config& cfg, const EnvLookup& env) {
  auto fail = [](std::string_view var, const std::string& v, const std::string& why) {
    return Error::msg("environment " + std::string(var) + "=\"" + v + "\": " + why);
  };
  // Every scalar setting with a variable (settings.h), in the schema's order.
  for (const Setting& s : settings()) {
    if (s.env.empty() || std::holds_alternative<std::monostate>(s.field)) continue;
    const auto v = env(std::string(s.env).c_str());
    if (!v) continue;
    if (auto st = parseSetting(s, *v, cfg); !st) return fail(s.env, *v, st.error().message());
    cfg.origins[std::string(s.key)] = "environment " + std::string(s.env);
  }
  // One half of listen each, as a deployment that sets the port alone
  // (seed 001's IRONPOST_METRICS_PORT) wants; the other half stays.
  if (auto v = env("BPFEX_LISTEN_ADDRESS")) {
    if (v->empty()) return fail("BPFEX_LISTEN_ADDRESS", *v, "must not be empty (0.0.0.0 or :: for every address)");
    auto hp = exporter::parseListenAddress(cfg.listen);
    const std::string port = hp ? std::to_string(hp->second) : "9479";
    cfg.listen = (v->find(':') != std::string::npos ? "[" + *v + "]" : *v) + ":" + port;
  }
  if (auto v = env("BPFEX_LISTEN_PORT")) {
    auto p = parseWholeNumber<unsigned>(*v, 1, 65535);
    if (!p) return fail("BPFEX_LISTEN_PORT", *v, "must be a port from 1 to 65535");
    auto hp = exporter::parseListenAddress(cfg.listen);
    std::string host = hp ? hp->first : "127.0.0.1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    cfg.listen = host + ":" + *v;
  }
  if (auto v = env("BPFEX_RULES")) {
    cfg.rules.clear();
    std::string_view s = *v;
    while (!s.empty()) {
      const size_t c = s.find(':');
      if (c != 0) cfg.rules.emplace_back(s.substr(0, c));
      if (c == std::string_view::npos) break;
      s.remove_prefix(c + 1);
    }
  }
  return base::okStatus();
}

exporter::PushTarget pushTargetOf(const Config::Push& p) {
  exporter::PushTarget t{.gateway = p.gateway, .job = p.job, .grouping = p.labels, .username = p.username,
                         .ca_file = p.ca_file, .cert_file = p.cert_file, .key_file = p.key_file,
                         .insecure_skip_verify = p.insecure, .timeout_seconds = p.timeout_seconds,
                         .retries = p.retries};
  if (const char* pw = std::getenv("BPFEX_PUSH_PASSWORD")) t.password = pw;
  return t;
}

double healthStaleAfter(const Config& cfg) {
  if (cfg.http.health_stale_after_seconds > 0) return cfg.http.health_stale_after_seconds;
  return std::max(30.0, 3 * cfg.tick_interval_seconds);
}

double ruleTimeBudget(const Config& cfg) {
  return cfg.rule_limits.time_budget_seconds > 0 ? cfg.rule_limits.time_budget_seconds
                                                 : cfg.tick_interval_seconds / 4;
}

Status validateConfig(const Config& cfg) {
  if (cfg.rule_limits.time_budget_seconds != 0 &&
      (cfg.rule_limits.time_budget_seconds < 0.01 || cfg.rule_limits.time_budget_seconds > cfg.tick_interval_seconds))
    return Error::msg("rule_limits.time_budget: must be between 10ms and tick_interval");
  if (auto hp = exporter::parseListenAddress(cfg.listen); !hp) {
    return Error::msg("listen: " + hp.error().message());
  } else if (cfg.http.enabled) {
    // As seed 001 validates its listener: an address, and a port above 0
    // (the HTTP layer takes :0 for an ephemeral port; a daemon's scrape
    // target cannot be one).
    const std::string_view l = cfg.listen;
    if (l.empty() || l.front() == ':' || l.rfind("[]", 0) == 0)
      return Error::msg("listen: \"" + cfg.listen + "\": the address must not be empty (0.0.0.0 or [::] for every address)");
    if (hp->second == 0) return Error::msg("listen: \"" + cfg.listen + "\": the port must be greater than 0");
  }
  // An error about one setting, prefixed by where it was set.
  auto about = [&](std::string_view key, const std::string& msg) {
    auto it = cfg.origins.find(std::string(key));
    return Error::msg((it != cfg.origins.end() ? it->second + ": " : std::string()) + msg);
  };
  if (cfg.metrics_path.empty() || cfg.metrics_path.front() != '/')
    return about("metrics_path", "metrics_path: \"" + cfg.metrics_path + "\" must start with /");
  // Every path the daemon serves (endpoints.h, checked against the route
  // table at start), so the exposition can never shadow one.
  for (std::string_view r : kEndpoints)
    if (cfg.metrics_path == r)
      return about("metrics_path", "metrics_path: \"" + cfg.metrics_path + "\" is served by another endpoint");
  // Each setting's range and rule (settings.h), whatever set it: the file,
  // the environment, a flag or the default.
  Config view = cfg;  // the schema's accessors take a Config to set
  for (const Setting& s : settings()) {
    std::string why = rangeProblem(s, view);
    if (why.empty() && s.check != nullptr) why = s.check(cfg);
    if (!why.empty()) return about(s.key, std::string(s.key) + ": " + why);
  }
  if (cfg.http.health_stale_after_seconds != 0 && !(cfg.http.health_stale_after_seconds > cfg.tick_interval_seconds))
    return Error::msg("http.health_stale_after: " + base::formatSeconds(cfg.http.health_stale_after_seconds) +
                      " must be longer than tick_interval (" + base::formatSeconds(cfg.tick_interval_seconds) +
                      "), or /health is stale between two ticks");
  bool auth = false;
  if (!cfg.web_config_file.empty()) {
    auto w = exporter::loadWebConfig(cfg.web_config_file);
    if (!w) return Error::msg("web_config_file: " + w.error().message());
    auth = !w->users.empty();
  }
  if (cfg.http.enable_reload) {
    auto hp = exporter::parseListenAddress(cfg.listen);
    const bool loopback = hp && (hp->first.rfind("127.", 0) == 0 || hp->first == "::1" || hp->first == "localhost");
    if (!loopback && !auth)
      return Error::msg("http.enable_reload: POST /-/reload on " + cfg.listen +
                        " would let anyone who reaches the port reload bpfex; give basic_auth_users in the "
                        "web config (web_config_file), listen on loopback, or reload with SIGHUP");
  }
  if (!cfg.push.gateway.empty() && cfg.push.job.empty()) return Error::msg("push.job: must not be empty");
  for (const auto& rw : cfg.remote_write)
    if (rw.spool_max_bytes > 0 && cfg.state_dir.empty())
      return about("remote_write", "remote_write: " + rw.name + ": spool: needs state_dir (the spool lives under it)");
  if (!cfg.bpf.objects.empty() && (cfg.bpf.pin_path.empty() || cfg.bpf.pin_path.front() != '/'))
    return Error::msg("bpf.pin_path: \"" + cfg.bpf.pin_path + "\" must be an absolute path");
  if (cfg.exposition.max_series_per_family > cfg.exposition.max_series)
    return Error::msg("exposition.max_series_per_family: " +
                      std::to_string(cfg.exposition.max_series_per_family) +
                      " is larger than exposition.max_series (" +
                      std::to_string(cfg.exposition.max_series) + ")");
  return base::okStatus();
}

}  // namespace bpfex::daemon
