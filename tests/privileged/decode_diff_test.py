#!/usr/bin/env python3
"""bpfex's map decoder against decoders nobody here wrote.

A generator writes random C types (integers of every width and sign, bool,
enums small, negative, packed and 64-bit, char arrays with and without a NUL,
nested and anonymous structs and unions, arrays of scalars and of structs,
bitfields, typedef chains and qualifiers, packed and aligned layouts, floats),
compiles them with `clang -g -target bpf` (clang 14 and, where installed,
clang 16, which emits BTF_KIND_ENUM64 and signed-enum flags) into objects with
maps of every readable type (hash, array, per-CPU hash and array, LRU, LRU
per-CPU, LPM trie), and has bpftool load them and pin the maps: another
daemon's maps, as an operator meets them. The maps are filled with random
bytes (keys through their fields, so padding stays zero, as C programs leave
it; values entirely random, padding and bools included).

bpfex opens them as foreign maps (bpf.maps, by pin path) and a generated Lua
rule reads every field the way an operator does, through the entry views and
through lookup(), and writes each as a label. The reference is bpftool's
BTF-formatted dump (`bpftool -j map dump`, its "formatted" section), produced
by libbpf's btf_dump code. Where bpftool is silent or wrong, the test says so
and uses a second reference, Python reading the raw bytes at the offsets of
bpftool's own BTF dump:
  - per-CPU sums (bpftool prints each CPU's copy): Python sums them;
  - floats (bpftool 7.1 prints "(unsupported-kind" into its JSON and stops
    the value there): struct.unpack of the raw bytes;
  - fields after a float in the same value, for the same reason.

  decode_diff_test.py [--seed N] [--types N] [--keep]
  BPFEX=path/to/bpfex; BPFEX_DIFF_SEED / BPFEX_DIFF_TYPES override the defaults.
A failure prints the seed and the C type it came from, for replay.
"""
import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, private_bpffs  # noqa: E402

MAP_TYPES = ["hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash", "lpm_trie"]
PER_CPU = {"percpu_hash", "percpu_array", "lru_percpu_hash"}
BPF_MAP_TYPE = {"hash": "BPF_MAP_TYPE_HASH", "array": "BPF_MAP_TYPE_ARRAY",
                "percpu_hash": "BPF_MAP_TYPE_PERCPU_HASH", "percpu_array": "BPF_MAP_TYPE_PERCPU_ARRAY",
                "lru_hash": "BPF_MAP_TYPE_LRU_HASH", "lru_percpu_hash": "BPF_MAP_TYPE_LRU_PERCPU_HASH",
                "lpm_trie": "BPF_MAP_TYPE_LPM_TRIE"}
INTS = ["char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int",
        "long long", "unsigned long long", "__u8", "__s8", "__u16", "__s16", "__u32", "__s32", "__u64", "__s64",
        "long", "unsigned long"]


# ---- the generator ------------------------------------------------------------------

class Gen:
    """Random C declarations. Every named type it makes goes into self.decls."""

    def __init__(self, rng, allow_enum64):
        self.rng = rng
        self.decls = []
        self.n = 0
        self.allow_enum64 = allow_enum64

    def name(self, prefix):
        self.n += 1
        return "%s%d" % (prefix, self.n)

    def typedef_chain(self, base):
        t = base
        for _ in range(self.rng.randrange(1, 3)):
            nm = self.name("td")
            self.decls.append("typedef %s %s;" % (t, nm))
            t = nm
        return t

    def enum(self):
        r = self.rng
        nm = self.name("en")
        kind = r.choice(["small", "negative", "packed", "big"] if self.allow_enum64 else ["small", "negative", "packed"])
        vals = []
        if kind == "small":
            vals = sorted(r.sample(range(0, 1000), r.randrange(1, 6)))
        elif kind == "negative":
            vals = sorted(r.sample(range(-1000, 1000), r.randrange(2, 6)))
            vals[0] = -abs(vals[0]) - 1
        elif kind == "packed":
            vals = sorted(r.sample(range(0, 200), r.randrange(1, 5)))
        else:
            vals = [r.randrange(1 << 33, 1 << 64) for _ in range(r.randrange(1, 4))] + [0]
            if r.random() < 0.5:
                vals = [-(1 << 40), -1, 5]
        body = ", ".join("%s_%d = %s" % (nm.upper(), i, ("%dULL" % v) if v >= (1 << 63) else ("%dLL" % v)
                                         if abs(v) > (1 << 31) else str(v)) for i, v in enumerate(vals))
        attr = " __attribute__((packed))" if kind == "packed" else ""
        self.decls.append("enum%s %s { %s };" % (attr, nm, body))
        return "enum " + nm

    def scalar(self, floats):
        r = self.rng
        c = r.random()
        if c < 0.55:
            t = r.choice(INTS)
        elif c < 0.65:
            t = "_Bool"
        elif c < 0.8:
            t = self.enum()
        elif c < 0.88 and floats:
            t = r.choice(["float", "double"])
        elif c < 0.9:
            t = r.choice(["__int128", "unsigned __int128"])
        else:
            t = r.choice(INTS)
        if r.random() < 0.15:
            t = self.typedef_chain(t)
        if r.random() < 0.1:
            t = r.choice(["const ", "volatile "]) + t
        return t

    def members(self, depth, floats, budget):
        """Member declarations of a struct or union body."""
        r = self.rng
        out = []
        for _ in range(r.randrange(1, budget + 1)):
            m = self.name("f")
            c = r.random()
            if c < 0.45 or depth >= 3:
                out.append("%s %s;" % (self.scalar(floats), m))
            elif c < 0.55:
                out.append("char %s[%d];" % (m, r.randrange(1, 17)))
            elif c < 0.63:
                out.append("%s %s[%d];" % (r.choice(INTS + ["_Bool"]), m, r.randrange(1, 5)))
            elif c < 0.75:
                base = r.choice(["unsigned int", "int", "unsigned long long", "long long", "__u8", "unsigned short"])
                width = {"unsigned int": 32, "int": 32, "unsigned long long": 64, "long long": 64,
                         "__u8": 8, "unsigned short": 16}[base]
                for _ in range(r.randrange(1, 4)):
                    out.append("%s %s : %d;" % (base, self.name("b"), r.randrange(1, width)))
            elif c < 0.85:
                # anonymous struct or union member: its fields join the parent's
                kw = r.choice(["struct", "union"])
                out.append("%s { %s };" % (kw, " ".join(self.members(depth + 1, floats, 3))))
            elif c < 0.93:
                t = self.struct(depth + 1, floats, r.choice(["struct", "union"]))
                out.append("%s %s;" % (t, m))
            else:
                t = self.struct(depth + 1, floats, "struct")
                out.append("%s %s[%d];" % (t, m, r.randrange(1, 4)))
        return out

    def struct(self, depth, floats, kw="struct", budget=6):
        nm = self.name("s")
        attr = self.rng.choice(["", "", "", " __attribute__((packed))", " __attribute__((aligned(8)))"])
        self.decls.append("%s%s %s { %s };" % (kw, attr, nm, " ".join(self.members(depth, floats, budget))))
        return "%s %s" % (kw, nm)


def write_object(path_c, rng, nmaps, first_index, allow_enum64):
    """A C file with `nmaps` maps; returns [(map name, map type, key C type, value C type, C text)]."""
    g = Gen(rng, allow_enum64)
    maps = []
    for i in range(nmaps):
        mt = MAP_TYPES[(first_index + i) % len(MAP_TYPES)]
        floats = rng.random() < 0.25
        vt = g.struct(0, floats, "struct", budget=8)
        if rng.random() < 0.1:
            vt = rng.choice(INTS)  # a scalar value
        if mt in ("array", "percpu_array"):
            kt = "__u32"
        elif mt == "lpm_trie":
            kn = g.name("lpm")
            g.decls.append("struct %s { __u32 prefixlen; __u8 data[%d]; };" % (kn, rng.choice([4, 8, 16])))
            kt = "struct " + kn
        else:
            kt = g.struct(0, False, "struct", budget=5) if rng.random() < 0.85 else rng.choice(INTS)
        maps.append(("m%d" % (first_index + i), mt, kt, vt))
    lines = ["#include <linux/bpf.h>", "#include <linux/types.h>", "#include <bpf/bpf_helpers.h>", ""]
    lines += g.decls
    for name, mt, kt, vt in maps:
        flags = "__uint(map_flags, BPF_F_NO_PREALLOC);" if mt == "lpm_trie" else ""
        lines.append("struct { __uint(type, %s); __uint(max_entries, %d); %s __type(key, %s); __type(value, %s); } %s SEC(\".maps\");"
                     % (BPF_MAP_TYPE[mt], 8, flags, kt, vt, name))
    # libbpf creates every map in .maps; bpftool loadall needs one program
    lines.append("SEC(\"xdp\") int touch(struct xdp_md *ctx) { return XDP_PASS; }")
    lines.append("char LICENSE[] SEC(\"license\") = \"GPL\";")
    text = "\n".join(lines) + "\n"
    with open(path_c, "w") as f:
        f.write(text)
    return [(n, mt, kt, vt) for n, mt, kt, vt in maps], text


# ---- BTF (from bpftool's dump) -------------------------------------------------------

class Btf:
    def __init__(self, obj):
        d = json.loads(subprocess.check_output(["bpftool", "-j", "btf", "dump", "file", obj]))
        self.t = {t["id"]: t for t in d["types"]}

    def resolve(self, tid):
        while self.t[tid]["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            tid = self.t[tid]["type_id"]
        return tid

    def size(self, tid):
        t = self.t[self.resolve(tid)]
        if t["kind"] == "ARRAY":
            return t["nr_elems"] * self.size(t["type_id"])
        if t["kind"] == "PTR":
            return 8
        return t["size"]

    def by_c_name(self, cname):
        """The type id of a C type spelled as the generator wrote it."""
        kw, _, nm = cname.partition(" ")
        want_kind = {"struct": "STRUCT", "union": "UNION", "enum": None}.get(kw)
        if want_kind is None:  # a scalar: typedef or int name
            nm = cname
            for t in self.t.values():
                if t.get("name") == nm and t["kind"] in ("INT", "TYPEDEF"):
                    return t["id"]
            raise KeyError(cname)
        for t in self.t.values():
            if t.get("name") == nm and t["kind"] == want_kind:
                return t["id"]
        raise KeyError(cname)

    def leaves(self, tid, name="", bit_off=0, bitfield=0):
        """Leaf fields as bpfex names them: [dict(name, kind, bit_off, bits, signed, enum, count, elem_bits)]."""
        tid = self.resolve(tid)
        t = self.t[tid]
        k = t["kind"]
        if k in ("INT", "ENUM", "ENUM64", "FLOAT", "PTR"):
            size = 8 if k == "PTR" else t["size"]
            leaf = {"name": name, "bit_off": bit_off, "bits": bitfield or size * 8, "bitfield": bool(bitfield),
                    "size": size, "count": 1}
            if k == "INT":
                leaf["kind"] = "bool" if t["encoding"] == "BOOL" else "int"
                leaf["signed"] = t["encoding"] == "SIGNED"
                if size > 8:
                    leaf["kind"] = "wide"
            elif k == "FLOAT":
                leaf["kind"] = "float"
            elif k == "PTR":
                leaf["kind"], leaf["signed"] = "int", False
            else:
                vals = [(v["val"], v["name"]) for v in t["values"]]
                if k == "ENUM":  # 32-bit enumerators (bpftool prints some sign-extended to 64 bits)
                    vals = [(v & 0xffffffff, n) for v, n in vals]
                    # C: an enum with a negative enumerator is signed (clang 14 sets no flag)
                    signed = t.get("encoding") == "SIGNED" or any(v >> 31 for v, _ in vals)
                    if signed:
                        vals = [(v - (1 << 32) if v >> 31 else v, n) for v, n in vals]
                else:
                    signed = t.get("encoding") == "SIGNED" or any(v < 0 for v, _ in vals)
                leaf["kind"], leaf["signed"], leaf["enum"] = "enum", signed, vals
            return [leaf]
        if k == "ARRAY":
            et = self.resolve(t["type_id"])
            e = self.t[et]
            esize = self.size(et)
            if e["kind"] == "INT" and esize == 1 and e["name"] in ("char", "signed char"):
                return [{"name": name, "kind": "str", "bit_off": bit_off, "size": t["nr_elems"], "count": 1,
                         "bitfield": False}]
            if e["kind"] in ("INT", "ENUM", "ENUM64", "FLOAT", "PTR"):
                leaf = self.leaves(et, name, bit_off)[0]
                leaf["count"] = t["nr_elems"]
                return [leaf]
            out = []
            for i in range(t["nr_elems"]):
                out += self.leaves(et, "%s[%d]" % (name, i), bit_off + i * esize * 8)
            return out
        if k in ("STRUCT", "UNION"):
            out = []
            for m in t["members"]:
                child = name
                if m.get("name") and m["name"] != "(anon)":
                    child = m["name"] if not name else name + "." + m["name"]
                out += self.leaves(m["type_id"], child, bit_off + m["bits_offset"], m.get("bitfield_size", 0))
            return out
        raise ValueError("BTF kind %s" % k)


def top_leaves(btf, tid, scalar_name):
    ls = btf.leaves(tid)
    if len(ls) == 1 and ls[0]["name"] == "":
        ls[0]["name"] = scalar_name
    return ls


# ---- raw values (the second reference) -------------------------------------------------

def raw_int(buf, leaf, i=0):
    if leaf["bitfield"]:
        v = int.from_bytes(buf, "little") >> leaf["bit_off"]
        v &= (1 << leaf["bits"]) - 1
        bits = leaf["bits"]
    else:
        off = leaf["bit_off"] // 8 + i * leaf["size"]
        v = int.from_bytes(buf[off:off + leaf["size"]], "little")
        bits = leaf["size"] * 8
    if leaf.get("signed") and v >> (bits - 1):
        v -= 1 << bits
    return v


def raw_float(buf, leaf, i=0):
    off = leaf["bit_off"] // 8 + i * leaf["size"]
    return struct.unpack("<f" if leaf["size"] == 4 else "<d", buf[off:off + leaf["size"]])[0]


def label_number(v):
    """How bpfex writes an integer label: exact digits."""
    return str(v)


def float_text_equal(got, want):
    """bpfex writes floats as their shortest round-trip form: compare the parsed float64."""
    try:
        g = float(got.replace("+Inf", "inf").replace("-Inf", "-inf").replace("NaN", "nan"))
    except ValueError:
        return False
    if want != want:
        return g != g
    return struct.pack("<d", g) == struct.pack("<d", want) or (g == want == 0.0)


# ---- filling ------------------------------------------------------------------------

def leaf_bits(leaf):
    if leaf.get("bitfield"):
        return leaf["bits"]
    return 8 * leaf["size"] * (1 if leaf["kind"] == "str" else leaf["count"])


def primary(leaves):
    """The leaves a C program sets: a union's first member only (a leaf whose
    bits overlap an earlier leaf's is a later alternative)."""
    out, seen = [], 0
    for leaf in leaves:
        if leaf["bit_off"] >= seen:
            out.append(leaf)
        seen = max(seen, leaf["bit_off"] + leaf_bits(leaf))
    return out


def fill_key(rng, leaves, size, map_type):
    """Key bytes: random values written field by field; padding stays zero."""
    buf = bytearray(size)
    for leaf in primary(leaves):
        if leaf["kind"] == "str":
            n = rng.randrange(0, leaf["size"] + 1)
            s = bytes(rng.randrange(1, 256) for _ in range(n))
            off = leaf["bit_off"] // 8
            buf[off:off + n] = s
            continue
        for i in range(leaf["count"]):
            if leaf["kind"] == "bool":
                v = rng.randrange(2)
            elif leaf["kind"] == "enum" and rng.random() < 0.7:
                v = rng.choice(leaf["enum"])[0]
            else:
                v = rng.getrandbits(leaf["bits"] if leaf["bitfield"] else leaf["size"] * 8)
            bits = leaf["bits"] if leaf["bitfield"] else leaf["size"] * 8
            v &= (1 << bits) - 1
            if leaf["bitfield"]:
                cur = int.from_bytes(buf, "little")
                cur &= ~(((1 << bits) - 1) << leaf["bit_off"])
                cur |= v << leaf["bit_off"]
                buf[:] = cur.to_bytes(size, "little")
            else:
                off = leaf["bit_off"] // 8 + i * leaf["size"]
                buf[off:off + leaf["size"]] = v.to_bytes(leaf["size"], "little")
    if map_type == "lpm_trie":
        buf[0:4] = ((size - 4) * 8).to_bytes(4, "little")  # a full-length prefix: one exact entry
    return bytes(buf)


def hexargs(b):
    return " ".join("%02x" % x for x in b)


# ---- the expected view ---------------------------------------------------------------

def flatten(obj, prefix, out):
    """bpftool's formatted JSON as dotted paths (lists of scalars kept whole)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, k if not prefix else prefix + "." + k, out)
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        for i, v in enumerate(obj):
            flatten(v, "%s[%d]" % (prefix, i), out)
    else:
        out[prefix] = obj


def expected_texts(leaves, raw_values, formatted_values, per_cpu, where):
    """{label field name: text} as the rule writes them, from bpftool's formatted
    values (one per CPU) with the raw bytes where bpftool cannot say."""
    flat = []
    for fv in formatted_values:
        f = {}
        if fv is not None:
            flatten(fv, "", f)
        flat.append(f)
    while len(flat) < len(raw_values):  # bpftool stopped before this CPU's copy
        flat.append({})
    out = {}
    notes = set()
    for leaf in leaves:
        nm = leaf["name"]
        for i in range(leaf["count"]):
            fname = nm if leaf["count"] == 1 else "%s[%d]" % (nm, i)
            kind = leaf["kind"]
            if kind == "float":
                out[fname] = ("float", raw_float(raw_values[0], leaf, i))
                notes.add("float: raw bytes (bpftool prints no float)")
                continue
            if kind == "wide":
                out[fname] = raw_values[0][leaf["bit_off"] // 8:leaf["bit_off"] // 8 + leaf["size"]].hex()
                continue
            # bpftool's word, where it has one
            words = []
            for c, f in enumerate(flat):
                w = f.get(nm, KeyError)
                if w is not KeyError and kind != "str" and isinstance(w, list):
                    w = w[i]  # an array (a one-element array is a scalar to bpfex)
                words.append(w)
            if kind == "str":
                w = words[0]
                if w is KeyError:
                    b = raw_values[0][leaf["bit_off"] // 8:leaf["bit_off"] // 8 + leaf["size"]]
                    notes.add("str: raw bytes (bpftool stopped before it)")
                elif isinstance(w, str):
                    b = w.encode("latin-1")
                else:
                    b = bytes(x & 0xff for x in w)
                b = b.split(b"\0")[0]
                off = leaf["bit_off"] // 8
                raw = raw_values[0][off:off + leaf["size"]].split(b"\0")[0]
                if b != raw:
                    if b"\\" in raw:  # bpftool 7.1 prints a backslash in a char array unescaped
                        notes.add("str: raw bytes where bpftool mis-prints a backslash")
                        b = raw
                    else:
                        fail("%s %s: bpftool says %r, the raw bytes %r" % (where, fname, b, raw))
                out[fname] = b.hex()
                continue
            vals = []
            for c, w in enumerate(words):
                if w is KeyError:
                    notes.add("%s: raw bytes (bpftool stopped before it)" % kind)
                    w = None
                if kind == "bool":
                    vals.append(bool(w) if w is not None else raw_int(raw_values[c], leaf, i) != 0)
                elif kind == "enum":
                    if isinstance(w, str) and not w.startswith("0x"):
                        v = dict((n, v) for v, n in leaf["enum"])[w]
                    elif isinstance(w, str):
                        v = int(w, 16)
                    elif w is None:
                        v = raw_int(raw_values[c], leaf, i)
                    else:
                        v = w
                    vals.append(v)
                else:
                    if isinstance(w, str):  # bitfields: bpftool prints the raw bits in hex
                        v = int(w, 16)
                        if leaf.get("signed") and v >> (leaf["bits"] - 1):
                            v -= 1 << leaf["bits"]
                    elif w is None:
                        v = raw_int(raw_values[c], leaf, i)
                    else:
                        v = w
                    # cross-check bpftool against the raw bytes: the second reference must agree
                    rv = raw_int(raw_values[c], leaf, i)
                    if rv != v:
                        fail("%s %s: bpftool says %r, the raw bytes %r" % (where, fname, v, rv))
                    vals.append(v)
            if kind == "bool":
                out[fname] = "true" if vals[0] else "false"
            elif kind == "enum":
                v = vals[0]
                bits = leaf["size"] * 8
                if leaf["signed"] and v >= 1 << (bits - 1):
                    v -= 1 << bits
                if not leaf["signed"] and v < 0:
                    v += 1 << bits
                names = {}
                for ev, en in leaf["enum"]:
                    key = ev
                    if not leaf["signed"] and key < 0:
                        key += 1 << 64
                    names.setdefault(key & ((1 << 64) - 1) if not leaf["signed"] else key, en)
                out[fname] = names.get(v if leaf["signed"] else v & ((1 << 64) - 1), str(v))
            else:
                if per_cpu:
                    s = sum(vals)
                    s &= (1 << 64) - 1  # a 64-bit accumulator
                    if leaf.get("signed") and s >> 63:
                        s -= 1 << 64
                    notes.add("per-CPU sum: Python over bpftool's per-CPU values")
                    out[fname] = label_number(s)
                else:
                    out[fname] = label_number(vals[0])
    return out, notes


# ---- the rule ---------------------------------------------------------------------

def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_rule(path, maps):
    """One family per map: diff_<map>{via, entry, field, text}."""
    lines = ["local bytes_hex = function(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end",
             "local function text(kind, v)",
             "  if kind == 'str' then return bytes_hex(v) end  -- 'wide' (__int128) comes as hex already",
             "  if v == true then return 'true' elseif v == false then return 'false' end",
             "  return v",
             "end",
             "local M = {}"]
    for m in maps:
        kf = ", ".join("{%s, %s, %d}" % (lua_string(l["name"]), lua_string(l["kind"]), l["count"]) for l in m["kleaves"])
        vf = ", ".join("{%s, %s, %d}" % (lua_string(l["name"]), lua_string(l["kind"]), l["count"]) for l in m["vleaves"])
        pk = ", ".join(lua_string(l["name"]) for l in primary(m["kleaves"]))
        lines.append("M[#M + 1] = { map = bpf.map(%s), g = metric.gauge(%s, 'decoded fields', {'via', 'entry', 'field', 'text'}),"
                     " key = {%s}, value = {%s}, lookup = %s, lookup_key = {%s} }"
                     % (lua_string(m["name"]), lua_string("diff_" + m["name"]), kf, vf, "true" if m["lookupable"] else "false", pk))
    lines += [
        "local function fields(list, view, parts, emit)",
        "  for _, f in ipairs(list) do",
        "    local name, kind, count = f[1], f[2], f[3]",
        "    local v = view[name]",
        "    if count > 1 and kind ~= 'str' then",
        "      for i = 1, count do",
        "        local t = text(kind, v[i])",
        "        if parts then parts[#parts + 1] = tostring(t) end",
        "        if emit then emit(name .. '[' .. (i - 1) .. ']', t) end",
        "      end",
        "    else",
        "      local t = text(kind, v)",
        "      if parts then parts[#parts + 1] = tostring(t) end",
        "      if emit then emit(name, t) end",
        "    end",
        "  end",
        "end",
        "on_tick(function()",
        "  for _, m in ipairs(M) do",
        "    for k, v in m.map:entries() do",
        "      local parts = {}",
        "      fields(m.key, k, parts, nil)",
        "      local entry = table.concat(parts, '|')",
        "      local function emit_view(f, t) m.g:set({'view', entry, f, t}, 1) end",
        "      fields(m.value, v, nil, emit_view)",
        "      if m.lookup then",
        "        local key = {}",
        "        for _, f in ipairs(m.lookup_key) do key[f] = k[f] end  -- a union: the member the key uses",
        "        local l = m.map:lookup(key)",
        "        if l then",
        "          local function emit_lookup(f, t) m.g:set({'lookup', entry, f, t}, 1) end",
        "          fields(m.value, l, nil, emit_lookup)",
        "        else",
        "          m.g:set({'lookup', entry, '(missing)', ''}, 1)",
        "        end",
        "      end",
        "    end",
        "  end",
        "end)",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def key_text(leaves, texts):
    parts = []
    for leaf in leaves:
        for i in range(leaf["count"]):
            fname = leaf["name"] if leaf["count"] == 1 else "%s[%d]" % (leaf["name"], i)
            t = texts[fname]
            parts.append(t if not isinstance(t, tuple) else repr(t[1]))
    return "|".join(parts)


# ---- exposition parsing -------------------------------------------------------------

def parse_labels(s):
    out, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        name = s[i:eq]
        j = eq + 2
        val = []
        while s[j] != '"':
            if s[j] == "\\":
                val.append({"n": "\n", "\\": "\\", '"': '"'}[s[j + 1]])
                j += 2
            else:
                val.append(s[j])
                j += 1
        out[name] = "".join(val)
        i = j + 1
        if i < len(s) and s[i] == ",":
            i += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("BPFEX_DIFF_SEED", "20261124")))
    ap.add_argument("--types", type=int, default=int(os.environ.get("BPFEX_DIFF_TYPES", "600")))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIPPED: the differential decode test needs root (it loads BPF maps)")
        sys.exit(77)
    for tool in ("clang", "bpftool"):
        if shutil.which(tool) is None:
            print("SKIPPED: %s is not installed (tools/test.sh installs it)" % tool)
            sys.exit(77)
    bpfex = os.environ.get("BPFEX")
    if not bpfex:
        fail("BPFEX (the bpfex binary) is not set")
    private_bpffs()
    print("seed %d, %d types (replay: BPFEX_DIFF_SEED=%d)" % (args.seed, args.types, args.seed), flush=True)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="bpfex-diff-")
    pin = "/sys/fs/bpf/bpfex-diff-%d" % os.getpid()
    os.makedirs(pin, exist_ok=True)
    daemon = None
    try:
        compilers = [("clang", False)]
        if shutil.which("clang-16"):
            compilers.append(("clang-16", True))
        else:
            print("note: clang-16 is not installed: no BTF_KIND_ENUM64 this run (tools/test.sh installs it)")
        arch_inc = "/usr/include/" + subprocess.check_output(["gcc", "-print-multiarch"], text=True).strip()
        per_object = 12
        nmaps = max(1, args.types // 2)  # a key type and a value type per map
        maps, sources, no_btf = [], {}, []
        index = 0
        obj_no = 0
        while index < nmaps:
            cc, enum64 = compilers[obj_no % len(compilers)]
            n = min(per_object, nmaps - index)
            src = os.path.join(work, "gen%d.c" % obj_no)
            obj = os.path.join(work, "gen%d.o" % obj_no)
            ms, text = write_object(src, rng, n, index, enum64)
            r = subprocess.run([cc, "-g", "-O2", "-target", "bpf", "-I" + arch_inc, "-c", src, "-o", obj],
                               capture_output=True, text=True)
            if r.returncode != 0:
                fail("seed %d: %s does not compile %s:\n%s" % (args.seed, cc, src, r.stderr[-3000:]))
            r = subprocess.run(["bpftool", "prog", "loadall", obj, "%s/p%d" % (pin, obj_no), "pinmaps", "%s/o%d" % (pin, obj_no)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                fail("seed %d: bpftool cannot load %s:\n%s" % (args.seed, obj, r.stderr[-3000:]))
            btf = Btf(obj)
            for name, mt, kt, vt in ms:
                info = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "pinned", "%s/o%d/%s" % (pin, obj_no, name)]))
                if not info.get("btf_id"):
                    # The kernel refused the object's BTF (libbpf then creates the
                    # maps without it): neither bpftool nor bpfex can name fields.
                    no_btf.append("%s (%s)" % (name, src))
                    continue
                kid, vid = btf.by_c_name(kt), btf.by_c_name(vt)
                m = {"name": name, "type": mt, "path": "%s/o%d/%s" % (pin, obj_no, name), "ktype": kt, "vtype": vt,
                     "kleaves": top_leaves(btf, kid, "key"), "vleaves": top_leaves(btf, vid, "value"),
                     "ksize": btf.size(kid), "vsize": btf.size(vid), "obj": src, "cc": cc}
                # lookup() builds keys from named fields; an LPM key's data array is one of them
                m["lookupable"] = mt != "lpm_trie"
                maps.append(m)
                sources[name] = text
            index += n
            obj_no += 1

        if no_btf:
            print("note: %d maps have no BTF in the kernel (it refused their object's BTF): %s" % (len(no_btf), ", ".join(no_btf[:5])))
        if len(maps) < 0.5 * nmaps:
            fail("seed %d: only %d of %d maps have BTF" % (args.seed, len(maps), nmaps))

        # Fill: random keys (by field), random value bytes; one bpftool batch.
        batch = []
        for m in maps:
            n = rng.randrange(1, 5)
            seen = set()
            for e in range(n):
                if m["type"] in ("array", "percpu_array"):
                    key = (e).to_bytes(4, "little")
                else:
                    key = fill_key(rng, m["kleaves"], m["ksize"], m["type"])
                if key in seen:
                    continue
                seen.add(key)
                value = bytes(rng.getrandbits(8) for _ in range(m["vsize"]))
                batch.append("map update pinned %s key hex %s value hex %s" % (m["path"], hexargs(key), hexargs(value)))
        with open(os.path.join(work, "fill.batch"), "w") as f:
            f.write("\n".join(batch) + "\n")
        r = subprocess.run(["bpftool", "batch", "file", os.path.join(work, "fill.batch")], capture_output=True, text=True)
        if r.returncode != 0:
            fail("seed %d: bpftool batch fill failed:\n%s" % (args.seed, (r.stderr + r.stdout)[-3000:]))

        # The reference: bpftool's dump.
        expected = {}
        notes = set()
        for m in maps:
            out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", m["path"]], capture_output=True, text=True).stdout
            broken = "(unsupported-kind" in out
            if broken:
                notes.add("bpftool's JSON is broken by a float (\"(unsupported-kind\"): repaired, values after it from raw bytes")
                out = out.replace("(unsupported-kind", '"(unsupported-kind)"')
            try:
                entries = json.loads(out)
            except json.JSONDecodeError as e:
                fail("seed %d: bpftool's dump of %s is not JSON even repaired (%s):\n%s" % (args.seed, m["name"], e, out[:2000]))
            exp = {}
            for e in entries:
                rawk = bytes(int(x, 16) for x in e["key"])
                fm = e.get("formatted", {})
                if m["type"] in PER_CPU:
                    raws = [bytes(int(x, 16) for x in c["value"]) for c in e["values"]]
                    fvs = [c.get("value") for c in fm.get("values", [])] or [None] * len(raws)
                else:
                    raws = [bytes(int(x, 16) for x in e["value"])]
                    fvs = [fm.get("value")]
                where = "seed %d map %s (%s)" % (args.seed, m["name"], m["type"])
                kt, n1 = expected_texts(m["kleaves"], [rawk], [fm.get("key")], False, where + " key")
                vt, n2 = expected_texts(m["vleaves"], raws, fvs, m["type"] in PER_CPU, where + " value")
                notes |= n1 | n2
                exp[key_text(m["kleaves"], kt)] = vt
            expected[m["name"]] = exp

        # bpfex: every map as a foreign map, one tick, one scrape.
        # (BPFEX_DIFF_MAPS=lo-hi narrows the run to maps m<lo>..m<hi>, to bisect.)
        if os.environ.get("BPFEX_DIFF_MAPS"):
            lo, hi = (int(x) for x in os.environ["BPFEX_DIFF_MAPS"].split("-"))
            maps = [m for m in maps if lo <= int(m["name"][1:]) <= hi]
            expected = {m["name"]: expected[m["name"]] for m in maps}
        port = free_port()
        rule = os.path.join(work, "diff.lua")
        write_rule(rule, maps)
        cfg = os.path.join(work, "bpfex.yaml")
        with open(cfg, "w") as f:
            f.write("listen: 127.0.0.1:%d\ntick_interval: 1h\nrules: [%s]\n" % (port, rule))
            f.write("bpf:\n  pin_path: %s/bpfex\n  maps:\n" % pin)
            for m in maps:
                f.write("    - {name: %s, pinned: %s}\n" % (m["name"], m["path"]))
        chk = subprocess.run([bpfex, "check", "-c", cfg], capture_output=True, text=True)
        if chk.returncode != 0:
            fail("bpfex check refuses the generated config:\n" + chk.stdout + chk.stderr)
        log = open(os.path.join(work, "bpfex.log"), "w")
        daemon = subprocess.Popen([bpfex, "run", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
        body = None
        for _ in range(200):
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
                break
            except Exception:
                if daemon.poll() is not None:
                    break
                time.sleep(0.1)
        if body is None:
            fail("bpfex did not serve /metrics; log:\n" + open(os.path.join(work, "bpfex.log")).read()[-3000:])
        got = {}  # map -> via -> entry -> {field: text}
        for line in body.split("\n"):
            if not line.startswith("diff_"):
                continue
            brace = line.index("{")
            fam = line[5:brace]
            lb = parse_labels(line[brace + 1:line.rindex("}")])
            got.setdefault(fam, {}).setdefault(lb["via"], {}).setdefault(lb["entry"], {})[lb["field"]] = lb["text"]
        rules_state = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/rules" % port, timeout=10).read())
        if [r for r in rules_state["rules"] if r["health"] != "ok"]:
            fail("the rule failed: " + json.dumps(rules_state)[:3000])

        # Compare field by field.
        problems = []
        compared = 0
        for m in maps:
            exp = expected[m["name"]]
            for via in (["view", "lookup"] if m["lookupable"] else ["view"]):
                have = got.get(m["name"], {}).get(via, {})
                for entry, fields in exp.items():
                    h = have.get(entry)
                    if h is None:
                        problems.append("%s %s: entry %r not served (served: %r)" % (m["name"], via, entry, list(have)[:4]))
                        continue
                    for fname, want in fields.items():
                        g = h.get(fname)
                        compared += 1
                        ok = float_text_equal(g, want[1]) if isinstance(want, tuple) and g is not None else g == want
                        if not ok:
                            problems.append("%s %s entry %r field %s: bpfex %r, reference %r" % (m["name"], via, entry, fname, g, want))
                for entry in have:
                    if entry not in exp:
                        problems.append("%s %s: bpfex serves an entry the map does not have: %r" % (m["name"], via, entry))
        print("compared %d field values of %d entries in %d maps (%d types)" %
              (compared, sum(len(e) for e in expected.values()), len(maps), 2 * len(maps)))
        for n in sorted(notes):
            print("reference note: " + n)
        if problems:
            shown = problems[:15]
            culprits = sorted({p.split(" ")[0] for p in problems})
            for c in culprits[:3]:
                m = next(x for x in maps if x["name"] == c)
                print("--- %s: %s, key %s, value %s (%s, %s)" % (c, m["type"], m["ktype"], m["vtype"], m["obj"], m["cc"]))
                print("\n".join(l for l in sources[c].split("\n") if l and not l.startswith(("#", "SEC", "char LICENSE")))[:4000])
            fail("seed %d: %d mismatches (replay: BPFEX_DIFF_SEED=%d):\n  %s" % (args.seed, len(problems), args.seed, "\n  ".join(shown)))
        print("ok - bpfex decodes %d maps of %d random types exactly as bpftool (and the raw bytes) say" % (len(maps), 2 * len(maps)))
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
        subprocess.run(["rm", "-rf", pin])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work)


if __name__ == "__main__":
    main()
