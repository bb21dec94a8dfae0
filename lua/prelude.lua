-- The trusted standard library of bpfex rules. It runs first in every rule's
-- Lua state, with ffi, and builds the environment the rule gets: an
-- allow-list of safe standard functions plus the bpfex API, as closures. The
-- rule never sees ffi, io, os.execute, debug, load* or require.
--
-- Called with the C API table (`api`) and the abort flag's address; returns
-- the rule environment and the budget check function.
local api, abort_flag = ...
local ffi = require("ffi")
-- Everything the trusted code calls is captured here, before any rule code
-- runs: a rule can replace fields of the tables it is given, never these.
local tonumber, tostring, type, error, pairs, ipairs, setmetatable, getmetatable, rawget, select, pcall, unpack =
      tonumber, tostring, type, error, pairs, ipairs, setmetatable, getmetatable, rawget, select, pcall, unpack
local string_gsub = string.gsub
local table_concat, table_sort, math_min = table.concat, table.sort, math.min
local co_create, co_resume = coroutine.create, coroutine.resume

ffi.cdef [[
size_t strnlen(const char *s, size_t maxlen);
]]

-- The time budget: the watchdog sets the flag; every loop body and function
-- entry of the rule calls this (instrument.h). The flag is read through a C
-- function pointer: LuaJIT ignores `volatile` on FFI loads and would hoist a
-- plain load out of a compiled loop, but it cannot hoist an opaque call.
local flag = ffi.cast("const uint32_t *", abort_flag)
local expired = ffi.cast("int (*)(const uint32_t *)", api.budget_fn)
local function chk()
  if expired(flag) ~= 0 then error("time budget exceeded", 0) end
end

-- Calls that nest on the C stack (coroutine resumes, sort and gsub
-- callbacks, bpfex's bindings) share one depth counter with the C side
-- (RuleLimits::max_call_depth). Past it the call is an ordinary error; the
-- counter is restored on every way out, errors included (pcall).
local depth = ffi.cast("uint32_t *", api.call_depth)
local max_depth = api.max_call_depth
local function too_deep(what)
  error(what .. ": calls nested too deeply (" .. max_depth .. " levels through coroutines and callbacks)", 3)
end
local function leave(d, ok, ...)
  depth[0] = d
  if not ok then error((...), 0) end
  return ...
end
local function nested(what, f, ...)
  local d = depth[0]
  if d >= max_depth then too_deep(what) end
  depth[0] = d + 1
  return leave(d, pcall(f, ...))
end
local function resumed(d, ...)
  depth[0] = d
  return ...
end
local function resume(co, ...)
  local d = depth[0]
  if d >= max_depth then too_deep("coroutine.resume") end
  depth[0] = d + 1
  return resumed(d, co_resume(co, ...))
end
local function wrapped(ok, ...)
  if not ok then error((...), 0) end
  return ...
end
local function wrap(f)
  local co = co_create(f)
  return function(...) return wrapped(resume(co, ...)) end
end
local function sort(t, cmp)
  if cmp == nil then return table_sort(t) end
  return nested("table.sort", table_sort, t, cmp)
end

local env = {}

-- Safe standard functions, by allow-list.
for _, name in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
                        "tostring", "type", "unpack", "xpcall", "rawequal", "rawget", "rawset",
                        "setmetatable", "getmetatable" }) do
  env[name] = _G[name]
end
-- tostring writes integral numbers as their exact digits: Lua's own "%.14g"
-- turns 123456789012345 into "1.2345678901234e+14", and a label or key
-- built from it would lose digits. (The `..` operator still uses "%.14g":
-- concatenate tostring(v).)
local exact_tostring
do
  local lua_tostring, integer_text = tostring, api.integer_text
  exact_tostring = function(v)
    if type(v) == "number" and (v >= 1e14 or v <= -1e14) and v - v == 0 and v % 1 == 0 then
      return integer_text(v)
    end
    return lua_tostring(v)
  end
end
env.tostring = exact_tostring
local function copy(t, except)
  local c = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then c[k] = v end
  end
  return c
end
-- Rules' patterns run in bpfex's matcher (src/lua/pattern.h): LuaJIT's is C
-- that no budget interrupts, and a pathological pattern runs for hours. Its
-- gsub callbacks count against the C-stack depth like any binding's.
local function sandbox_string()
  local c = copy(string, { dump = true })
  c.find, c.match, c.gmatch, c.gsub = api.str_find, api.str_match, api.str_gmatch, api.str_gsub
  return c
end
env.string = sandbox_string()
env.table = copy(table)
env.table.sort = sort
env.math = copy(math)
env.coroutine = copy(coroutine)
env.coroutine.resume = resume
env.coroutine.wrap = wrap
env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
env.collectgarbage = function(opt)
  if opt == "count" then return collectgarbage("count") end
  error("collectgarbage: only \"count\" is available to rules", 2)
end
env._G = env

-- Strings share one metatable in a Lua state. Its __index becomes a copy
-- that no rule can reach (the metatable itself is hidden: getmetatable("")
-- is false), so `("x"):gsub(...)` in a rule can never change what the
-- trusted code's string functions are, nor reach string.dump.
do
  local smt = getmetatable("")
  smt.__index = sandbox_string()
  smt.__metatable = false
end

-- Declarations and writes (C++).
env.metric = api.metric
env.on_tick = api.on_tick
env.alert = api.alert
env.interval = api.interval
env.window = api.window
env.host = api.host
env.bpfex = api.bpfex
env.re = api.re
env.log = api.log
env.json = api.json
env.state = api.state
-- Push jobs only (bpfex push JOB.lua): HTTP, files and the job body.
-- `job.run(fn)` is on_tick for jobs: the runner calls it once. A daemon
-- rule's api has no job_failed, and its environment none of these.
if api.job_failed then
  env.http = api.http
  env.fs = api.fs
  env.job = {
    run = api.on_tick,
    -- Records the failure; the job's metrics are still pushed.
    failed = api.job_failed,
    -- Aborts the job; only the failure itself is pushed.
    fail = function(msg) error(msg or "job failed", 2) end,
  }
else
  -- Named, so that a rule using them is told why they are missing.
  for _, name in ipairs({ "http", "fs", "job" }) do
    env[name] = setmetatable({}, {
      __index = function(_, k)
        error(name .. "." .. tostring(k) .. " is available to push jobs only (bpfex push JOB.lua)", 2)
      end,
      __newindex = function() error(name .. " is read-only", 2) end,
      __metatable = false,
    })
  end
end
-- Operator parameters (config rule_params), read-only.
env.params = setmetatable({}, {
  __index = api.params,
  __newindex = function() error("params are read-only", 2) end,
  __metatable = false,
})

-- BPF maps ----------------------------------------------------------------

local layouts = {}   -- map name -> { key = accessors, value = accessors, kt, vt }
local struct_no = 0

-- 64-bit integers: a number while a float64 holds them exactly (|v| < 2^53),
-- beyond that the exact decimal digits (a string; Lua's arithmetic coerces
-- it, labels keep every digit). LuaJIT's tostring of an int64_t/uint64_t
-- cdata is exact, with a LL/ULL suffix to drop.
local EXACT = 2 ^ 53
local string_byte, string_sub = string.byte, string.sub
local function exact64(v)
  local n = tonumber(v)
  if n < EXACT and n > -EXACT then return n end
  local s = tostring(v)
  return string_sub(s, 1, string_byte(s, -3) == 85 and -4 or -3)
end

local function accessors(desc)
  local acc = {}
  local ctype = nil
  if desc.cdecl then
    struct_no = struct_no + 1
    local sname = "bpfex_s" .. struct_no
    ffi.cdef((string_gsub(desc.cdecl, "struct " .. desc.struct_name, "struct " .. sname)))
    ctype = ffi.typeof("const struct " .. sname .. " *")
  end
  for i, f in ipairs(desc.fields) do
    local cname, kind, count, which = f.cname, f.kind, f.count, desc.which
    local num = f.size == 8 and kind ~= "f" and exact64 or tonumber
    local a
    if not f.emitted then
      local read_field, fi, map_name = api.read_field, i, desc.map_name
      a = function(_, _, idx) return read_field(map_name, which, fi, idx) end
    elseif kind == "str" then
      local size = f.size
      a = function(p) local s = p[cname]; return ffi.string(s, ffi.C.strnlen(s, size)) end
    elseif count > 1 then
      -- Arrays (e.g. histogram slots) come as a fresh Lua table, 1-based.
      -- (Lua 5.1 semantics: a proxy's __len would not be honoured by #.)
      if kind == "e" then
        local names = f.enums
        a = function(p)
          local arr, t = p[cname], {}
          for j = 1, count do local v = num(arr[j - 1]); t[j] = names[v] or exact_tostring(v) end
          return t
        end
      elseif kind == "b" then
        a = function(p)
          local arr, t = p[cname], {}
          for j = 1, count do t[j] = arr[j - 1] ~= 0 end
          return t
        end
      else
        a = function(p)
          local arr, t = p[cname], {}
          for j = 1, count do t[j] = num(arr[j - 1]) end
          return t
        end
      end
    elseif kind == "e" then
      local names = f.enums
      a = function(p) local v = num(p[cname]); return names[v] or exact_tostring(v) end
    elseif kind == "b" then
      a = function(p) return p[cname] ~= 0 end
    else
      a = function(p) return num(p[cname]) end
    end
    acc[f.name] = a
  end
  return acc, ctype
end

local function layout_of(name)
  local l = layouts[name]
  if l then return l end
  local kd, vd = api.map_layout(name)
  local kacc, kt = accessors(kd)
  local vacc, vt = accessors(vd)
  l = { key = kacc, value = vacc, kt = kt, vt = vt }
  layouts[name] = l
  return l
end

local u8p = ffi.typeof("const uint8_t *")

-- Entry views point into the tick's map buffers, which the next read
-- replaces. Every run bumps the generation (C++ calls on_run, returned below):
-- a view or an iterator kept from an earlier run refuses to read instead of
-- reading freed memory. (A view shows the entry of its iterator's current
-- step; after the loop, the last one, for the rest of the run.) An upvalue,
-- not an FFI load: map loops run interpreted (bindings are C functions), and
-- there an FFI load costs tens of ns per entry.
local run_gen = 0
local function on_run() run_gen = run_gen + 1 end

local function proxy(acc, what)
  local state = { p = nil, base = nil, idx = 0, gen = -1 }
  local obj = setmetatable({}, {
    __index = function(_, field)
      local a = acc[field]
      if a == nil then error("no field \"" .. tostring(field) .. "\" in the map " .. what, 2) end
      if state.gen ~= run_gen then error("a map entry view of " .. what .. " used after its loop step", 2) end
      return a(state.p, state.base, state.idx)
    end,
    __newindex = function() error("map entries are read-only", 2) end,
    __metatable = false,
  })
  return obj, state
end

-- Methods of map handles (userdata made by bpf.map; api.map_name reads the
-- name a handle carries, and errors for anything else).
local Map = api.map_methods
local map_name = api.map_name

-- for key, value in m:entries() do ... end
-- key and value are views of the current entry, valid during that step only
-- (keep what you need: key.ifindex is a number, key.name a string).
function Map.entries(h)
  local name = map_name(h)
  local keys, values, count, ksize, vsize = api.map_view(name)
  -- An empty map, or one not there now (its object did not load, its pin is
  -- gone): nothing to read, and its layout is not asked for (it may not be
  -- known yet).
  if count == 0 then return function() return nil end end
  local l = layout_of(name)
  local kp, ks = proxy(l.key, "key of " .. name)
  local vp, vs = proxy(l.value, "value of " .. name)
  local kbase, vbase = ffi.cast(u8p, keys), ffi.cast(u8p, values)
  local kt, vt = l.kt, l.vt
  local gen = run_gen
  local i = -1
  return function()
    if run_gen ~= gen then error("a map iterator of " .. name .. " used after its run", 2) end
    i = i + 1
    if i >= count then return nil end
    local kb, vb = kbase + i * ksize, vbase + i * vsize
    ks.base, ks.idx, ks.gen = keys, i, gen
    vs.base, vs.idx, vs.gen = values, i, gen
    if kt then ks.p = ffi.cast(kt, kb) end
    if vt then vs.p = ffi.cast(vt, vb) end
    return kp, vp
  end
end

function Map.count(h) local _, _, n = api.map_view(map_name(h)); return n end
-- m:lookup({field = value, ...}): one entry's value as a table (a copy), or nil.
-- Key fields by name; enums by enumerator name or number.
function Map.lookup(h, key)
  local name = map_name(h)
  if type(key) ~= "table" then error("lookup(key): key must be a table of key fields", 2) end
  return api.map_lookup(name, key)
end
function Map.info(h) return api.map_info(map_name(h)) end
-- m:enum("bpfex_hook") -> {{value = 0, name = "BPFEX_HOOK_XDP"}, ...} by
-- value, from the map's BTF (its object's): an ABI's enum as the C header
-- defines it, so rules never copy its names or order.
function Map.enum(h, enum_name)
  if type(enum_name) ~= "string" then error("enum(name): name must be a string", 2) end
  return api.map_enum(map_name(h), enum_name)
end

env.bpf = {
  -- {object, name, type, id, stats, run_count, run_time_ns, attached = {{type, target, netns}}}
  programs = api.bpf_programs,
  -- bpf.export(bpf.map(name), metric, value_field [, {label = key_field}]):
  -- the metric re-exports the map, one series per entry, with no Lua per entry.
  export = api.map_export,
  map = function(name)
    if type(name) ~= "string" then error("bpf.map(name): name must be a string", 2) end
    return api.map_new(name)
  end,
  -- for e in bpf.events(name, "u64 seq; u32 len"):each() do ... end
  events = function(name, decl)
    if type(name) ~= "string" or type(decl) ~= "string" then
      error("bpf.events(name, layout): both are strings", 2)
    end
    return {
      each = function()
        local n, fields = api.events_view(name, decl)
        local gen = run_gen
        local i = 0
        local ev = setmetatable({}, {
          __index = function(_, f)
            local fi = fields[f]
            if not fi then error("no field \"" .. tostring(f) .. "\" in events of " .. name, 2) end
            if run_gen ~= gen then error("an event view of " .. name .. " used after its run", 2) end
            return api.event_field(name, i - 1, fi)
          end,
          __metatable = false,
        })
        return function()
          if run_gen ~= gen then error("an event iterator of " .. name .. " used after its run", 2) end
          i = i + 1
          if i > n then return nil end
          return ev
        end
      end,
    }
  end,
}

-- Label helpers -------------------------------------------------------------

local labels = {}
-- A function that passes at most `max` distinct values and maps the rest to
-- `overflow` (seed 000: roles capped at 100, tunnels at 10).
function labels.cap(max, overflow)
  local seen, n = {}, 0
  return function(v)
    if seen[v] then return v end
    if n < max then
      seen[v] = true
      n = n + 1
      return v
    end
    return overflow or "other"
  end
end
-- Maps values through a table, with a default for the rest.
function labels.map(tbl, default)
  return function(v)
    local m = tbl[v]
    if m ~= nil then return m end
    if default ~= nil then return default end
    return v
  end
end
-- keep(value, regex) / drop(value, regex): true when the value should stay.
local re_match = api.re.match
function labels.keep(v, regex) return re_match(tostring(v), regex) end
function labels.drop(v, regex) return not re_match(tostring(v), regex) end
env.labels = labels

-- Histograms from BPF bucket arrays --------------------------------------

local hist = {}
-- Log2 histograms, in two conventions (name the one your program uses):
--
-- hist.log2_bounds: bpfex's (bpf/include/bpfex_log2.h, ebpf_exporter's since
--   its #515): slot k counts values in (2^(k-1), 2^k], zero apart. Slot k's
--   upper bound is exactly the inclusive le = 2^k (times scale).
-- hist.log2_floor_bounds: bcc's floor(log2) slots, [2^k, 2^(k+1)). For
--   integer observations that is [2^k, 2^(k+1) - 1], so le = 2^(k+1) - 1 is
--   exact; le = 2^(k+1) would count 2^(k+1) one bucket too low.
function hist.log2_bounds(n, scale)
  scale = scale or 1
  local b = {}
  for k = 0, n - 1 do b[k + 1] = (2 ^ k) * scale end
  return b
end
function hist.log2_floor_bounds(n, scale)
  scale = scale or 1
  local b = {}
  for k = 0, n - 1 do b[k + 1] = (2 ^ (k + 1) - 1) * scale end
  return b
end
-- slots: n per-slot counts; sum: the exact sum the program keeps (in the
-- histogram's unit); zero: the zeros counted apart (default 0), which fall
-- in the first bucket. Returns counts (n + 1 entries, the last the +Inf
-- bucket) and the sum, for metric:set_buckets.
function hist.from_log2(slots, sum, zero)
  if type(sum) ~= "number" then
    error("hist.from_log2(slots, sum[, zero]): the exact sum is required (keep it in the program: one add)", 2)
  end
  local counts = {}
  local n = #slots
  for k = 1, n do counts[k] = slots[k] or 0 end
  if n > 0 then counts[1] = counts[1] + (zero or 0) end
  counts[n + 1] = 0
  return counts, sum
end
-- Linear buckets: slot k counts values in (start + (k-1)*width, start + k*width].
function hist.linear_bounds(n, start, width)
  local b = {}
  for k = 1, n do b[k] = start + k * width end
  return b
end
function hist.from_linear(slots, sum)
  if type(sum) ~= "number" then error("hist.from_linear(slots, sum): the exact sum is required", 2) end
  local counts = {}
  local n = #slots
  for k = 1, n do counts[k] = slots[k] or 0 end
  counts[n + 1] = 0
  return counts, sum
end
-- The q-quantile of per-bucket counts (the last one the +Inf bucket) with
-- upper bounds `bounds`, computed as Prometheus' histogram_quantile does
-- (promql/quantile.go, 2.42): the first bucket whose cumulative count reaches
-- q * total, linear interpolation inside it from its lower bound (0 for the
-- first bucket with a positive bound), the highest finite bound when the
-- rank lands in +Inf; NaN without observations, -Inf/+Inf for q outside [0, 1].
function hist.quantile(q, counts, bounds)
  if q ~= q then return 0 / 0 end
  if q < 0 then return -1 / 0 end
  if q > 1 then return 1 / 0 end
  local nb = #bounds
  local cum, total = {}, 0
  for i = 1, #counts do total = total + counts[i]; cum[i] = total end
  if nb < 1 or total == 0 then return 0 / 0 end
  local rank = q * total
  local b = nil
  for i = 1, nb do
    if cum[i] >= rank then b = i break end
  end
  if b == nil then return bounds[nb] end
  if b == 1 and bounds[1] <= 0 then return bounds[1] end
  local start, count = 0, cum[b]
  if b > 1 then
    start = bounds[b - 1]
    count = count - cum[b - 1]
    rank = rank - cum[b - 1]
  end
  return start + (bounds[b] - start) * (rank / count)
end
env.hist = hist

-- A counter region's writer (bpf/include/bpfex_liveness.h): true while it
-- runs and beats, false once it said it stopped or its last heartbeat is
-- older than the stale limit (killed, hung), nil when it never said (a
-- one-shot writer). `v` is the region's entry; `now` the tick's time.
local region = {}
local WRITER_RUNNING, WRITER_STALE_NS = 1, 3e9
function region.alive(v, now)
  local state = tonumber(v["liveness.writer_state"])
  if state == nil or state == 0 then return nil end
  if state ~= WRITER_RUNNING then return false end
  return now * 1e9 - tonumber(v["liveness.heartbeat_ns"]) < WRITER_STALE_NS
end
env.region = region

-- Counters through churn: sources (a map entry, a pool slot) hold cumulative
-- counts and change holders (the label they are served under). What a source
-- adds between two runs goes to its holder now: a label's total only grows,
-- a reused source starts from zero for its new holder, a source whose count
-- went down was reset and counts from its new value. totals() gives the
-- labels fed in this run; a label no source holds any more stops being served
-- and keeps its total, in case it comes back. Sources and labels kept: at
-- most `limit` each (default 10000), the longest unseen dropped first.
local carry = {}
local Carry = {}
Carry.__index = Carry
function carry.new(limit)
  return setmetatable({ last = {}, acc = {}, nlast = 0, nacc = 0, gen = -1, limit = limit or 10000 }, Carry)
end
local function prune(t, count, limit)
  if count <= limit then return count end
  local order = {}
  for k, e in pairs(t) do order[#order + 1] = { k, e.seen } end
  table.sort(order, function(a, b) return a[2] < b[2] end)
  for i = 1, count - limit do t[order[i][1]] = nil end
  return limit
end
function Carry:feed(source, label, v)
  if self.gen ~= run_gen then
    self.gen = run_gen
    self.nlast = prune(self.last, self.nlast, self.limit)
    self.nacc = prune(self.acc, self.nacc, self.limit)
  end
  local vals = type(v) == "number" and { v } or v
  local prev = self.last[source]
  local reset = prev == nil
  if prev then
    for i = 1, #vals do if vals[i] < (prev.v[i] or 0) then reset = true end end
  end
  local acc = self.acc[label]
  if not acc then
    acc = { v = {} }
    self.acc[label] = acc
    self.nacc = self.nacc + 1
  end
  for i = 1, #vals do
    acc.v[i] = (acc.v[i] or 0) + (reset and vals[i] or vals[i] - prev.v[i])
  end
  acc.seen, acc.scalar = self.gen, type(v) == "number"
  if not prev then self.nlast = self.nlast + 1 end
  local copy_v = {}
  for i = 1, #vals do copy_v[i] = vals[i] end
  self.last[source] = { v = copy_v, seen = self.gen }
end
function Carry:totals()
  local out = {}
  for label, acc in pairs(self.acc) do
    if acc.seen == run_gen then out[label] = acc.scalar and acc.v[1] or acc.v end
  end
  return pairs(out)
end
env.carry = carry

-- Vectors, PromQL-style ------------------------------------------------------
-- A vector is a list of samples { labels = {name = value, ...}, value = number }.
-- These are the operations alert conditions need: aggregation by labels,
-- topk/bottomk, filtering by comparison, and binary operations between two
-- vectors matched on all labels, on(...) or ignoring(...).
local vec = {}

local function key_of(labels, names)
  local parts = {}
  for i, n in ipairs(names) do parts[i] = n .. "\0" .. tostring(labels[n] or "") end
  return table_concat(parts, "\1")
end
local function sorted_names(labels, except)
  local names = {}
  for n in pairs(labels) do
    if not (except and except[n]) then names[#names + 1] = n end
  end
  table_sort(names)
  return names
end

-- vec.aggregate(v, "sum"|"avg"|"min"|"max"|"count", by) -> vector (by: list of label names)
function vec.aggregate(v, op, by)
  by = by or {}
  local groups, order = {}, {}
  for _, s in ipairs(v) do
    local k = key_of(s.labels, by)
    local g = groups[k]
    if not g then
      local labels = {}
      for _, n in ipairs(by) do labels[n] = s.labels[n] end
      g = { labels = labels, sum = 0, count = 0, min = s.value, max = s.value }
      groups[k] = g
      order[#order + 1] = k
    end
    g.sum, g.count = g.sum + s.value, g.count + 1
    if s.value < g.min then g.min = s.value end
    if s.value > g.max then g.max = s.value end
  end
  local out = {}
  for _, k in ipairs(order) do
    local g = groups[k]
    local value = (op == "sum" and g.sum) or (op == "avg" and g.sum / g.count) or (op == "min" and g.min)
      or (op == "max" and g.max) or (op == "count" and g.count)
    if value == nil then error("vec.aggregate: unknown operation " .. tostring(op), 2) end
    out[#out + 1] = { labels = g.labels, value = value }
  end
  return out
end
for _, op in ipairs({ "sum", "avg", "min", "max", "count" }) do
  vec[op .. "_by"] = function(v, by) return vec.aggregate(v, op, by) end
end

-- vec.topk(v, k) / vec.bottomk(v, k): the k largest / smallest samples.
function vec.topk(v, k)
  local c = {}
  for i, s in ipairs(v) do c[i] = s end
  sort(c, function(a, b) return a.value > b.value end)
  local out = {}
  for i = 1, math_min(k, #c) do out[i] = c[i] end
  return out
end
function vec.bottomk(v, k)
  local c = {}
  for i, s in ipairs(v) do c[i] = s end
  sort(c, function(a, b) return a.value < b.value end)
  local out = {}
  for i = 1, math_min(k, #c) do out[i] = c[i] end
  return out
end

-- vec.histogram_quantile(q, v): PromQL's histogram_quantile(q, v) over a
-- vector of cumulative buckets (each sample with an `le` label, e.g.
-- vec.rate(range("x_bucket", "5m"))), one result per label set without le,
-- as Prometheus 2.42 computes it: buckets of one le summed, counts made
-- monotonic, NaN without a +Inf bucket or observations, the highest finite
-- bound when the rank lands in +Inf, linear interpolation otherwise.
function vec.histogram_quantile(q, v)
  local groups, order = {}, {}
  for _, s in ipairs(v) do
    local le = s.labels.le
    le = (le == "+Inf" and math.huge) or (le and tonumber(le))
    if le then
      local names = sorted_names(s.labels, { le = true })
      local k = key_of(s.labels, names)
      local g = groups[k]
      if not g then
        local labels = {}
        for _, n in ipairs(names) do labels[n] = s.labels[n] end
        g = { labels = labels, by_le = {} }
        groups[k] = g
        order[#order + 1] = k
      end
      g.by_le[le] = (g.by_le[le] or 0) + s.value
    end
  end
  local out = {}
  for _, k in ipairs(order) do
    local g = groups[k]
    local b = {}
    for le, c in pairs(g.by_le) do b[#b + 1] = { le = le, count = c } end
    sort(b, function(x, y) return x.le < y.le end)
    local value
    if q < 0 then value = -math.huge
    elseif q > 1 then value = math.huge
    elseif #b < 2 or b[#b].le ~= math.huge then value = 0 / 0
    else
      for i = 2, #b do
        if b[i].count < b[i - 1].count then b[i].count = b[i - 1].count end
      end
      local obs = b[#b].count
      if obs == 0 then value = 0 / 0
      else
        local rank = q * obs
        local i = 1
        while i < #b and b[i].count < rank do i = i + 1 end
        if i == #b then value = b[#b - 1].le
        elseif i == 1 and b[1].le <= 0 then value = b[1].le
        else
          local start, count = 0, b[i].count
          if i > 1 then
            start = b[i - 1].le
            count = count - b[i - 1].count
            rank = rank - b[i - 1].count
          end
          value = start + (b[i].le - start) * (rank / count)
        end
      end
    end
    out[#out + 1] = { labels = g.labels, value = value }
  end
  return out
end

-- vec.filter(v, op, x): the samples whose value compares true (">", ">=",
-- "<", "<=", "==", "!="), like PromQL's `v > x`.
local cmp = {
  [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
  ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
  ["=="] = function(a, b) return a == b end, ["!="] = function(a, b) return a ~= b end,
}
function vec.filter(v, op, x)
  local f = cmp[op] or error("vec.filter: unknown comparison " .. tostring(op), 2)
  local out = {}
  for _, s in ipairs(v) do
    if f(s.value, x) then out[#out + 1] = s end
  end
  return out
end

-- vec.binop(a, op, b [, {on = {...}} | {ignoring = {...}}]): one-to-one
-- matching as PromQL does; arithmetic ("+", "-", "*", "/") gives the result
-- with a's labels (minus ignored ones with ignoring; only `on` labels with
-- on); comparisons keep a's samples whose comparison holds. Unmatched samples
-- drop out; several matches for one sample are an error.
local arith = {
  ["+"] = function(x, y) return x + y end, ["-"] = function(x, y) return x - y end,
  ["*"] = function(x, y) return x * y end, ["/"] = function(x, y) return x / y end,
}
function vec.binop(a, op, b, matching)
  matching = matching or {}
  local ignoring = {}
  for _, n in ipairs(matching.ignoring or {}) do ignoring[n] = true end
  local function match_key(labels)
    if matching.on then return key_of(labels, matching.on) end
    return key_of(labels, sorted_names(labels, ignoring))
  end
  local right = {}
  for _, s in ipairs(b) do
    local k = match_key(s.labels)
    if right[k] then error("vec.binop: several samples on the right match " .. string_gsub(string_gsub(k, "%z", "="), "\1", ","), 2) end
    right[k] = s
  end
  local out = {}
  for _, s in ipairs(a) do
    local r = right[match_key(s.labels)]
    if r then
      if arith[op] then
        local labels = {}
        if matching.on then
          for _, n in ipairs(matching.on) do labels[n] = s.labels[n] end
        else
          for n, v in pairs(s.labels) do
            if not ignoring[n] then labels[n] = v end
          end
        end
        out[#out + 1] = { labels = labels, value = arith[op](s.value, r.value) }
      elseif cmp[op] then
        if cmp[op](s.value, r.value) then out[#out + 1] = s end
      else
        error("vec.binop: unknown operator " .. tostring(op), 2)
      end
    end
  end
  return out
end
-- vec.series(name [, match]): the registry's current samples of a metric
-- (any rule's or bpfex's own), optionally only those whose labels equal
-- `match`'s values: the instant vector selector name{k="v",...}. A rule sees
-- what rules that ran before it in this tick wrote, and the rest as of the
-- previous tick.
function vec.series(name, match)
  local all = api.series(name)
  if not match then return all end
  local out = {}
  for _, s in ipairs(all) do
    local ok = true
    for k, want in pairs(match) do
      if (s.labels[k] or "") ~= want then ok = false; break end
    end
    if ok then out[#out + 1] = s end
  end
  return out
end

-- Range functions, PromQL's, as Prometheus 2.42 computes them (C++:
-- src/lua/range_functions.cc). The first argument is where the samples are:
--   a range r = range("x", "5m"): the registry's series x at tick resolution
--     (all those any rule or bpfex serves), optionally only those matching
--     `match` ({label = "value"}): vec.rate(r [, match]) is rate(x{match}[5m]);
--   a window w = window("5m") fed with the vector v at each of the rule's
--     runs: vec.rate(w, v) adds v's samples and is rate over them.
-- Scalar arguments come where PromQL puts them: vec.predict_linear(r, t
-- [, match]), vec.quantile_over_time(q, r [, match]). Series with no result
-- (too few samples) are left out.
local range_handles = setmetatable({}, { __mode = "k" })
env.range = function(name, duration)
  local h = api.range(name, duration)
  range_handles[h] = true
  return h
end
local function window_over(w, method, v, arg)
  local out = {}
  for _, s in ipairs(v) do
    local r = w[method](w, key_of(s.labels, sorted_names(s.labels)), s.value, arg)
    if r ~= nil then out[#out + 1] = { labels = s.labels, value = r } end
  end
  return out
end
local function range_function(fn, method)
  return function(x, more)
    if range_handles[x] then return api.range_eval(x, fn, nil, more) end
    return window_over(x, method, more)
  end
end
for fn, method in pairs({ rate = "rate", increase = "increase", delta = "delta", irate = "irate",
                          idelta = "idelta", changes = "changes", resets = "resets", deriv = "deriv",
                          avg_over_time = "avg", min_over_time = "min", max_over_time = "max",
                          sum_over_time = "sum", count_over_time = "count", last_over_time = "last" }) do
  vec[fn] = range_function(fn, method)
end
function vec.predict_linear(x, t, more)
  if range_handles[x] then return api.range_eval(x, "predict_linear", t, more) end
  return window_over(x, "predict_linear", more, t)
end
function vec.quantile_over_time(q, x, more)
  if range_handles[x] then return api.range_eval(x, "quantile_over_time", q, more) end
  return window_over(x, "quantile", more, q)
end

env.vec = vec

return env, chk, on_run
