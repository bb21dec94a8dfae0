#!/usr/bin/env bash
# bpfex check finds, before deploy, what would only fail at run time: a map
# the configuration does not have, a field its BTF does not have, a write
# with the wrong number of label values, a name two files declare. One line
# per mistake (file:line: what), no Lua traceback; --format=json gives the
# same as data. Checked against the bundled iface_traffic object's real BTF.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/rules"
cat >"$WORK/bpfex.yaml" <<YML
rules: [$WORK/rules]
bpf:
  objects:
    - {name: traffic, bundled: iface_traffic}
YML
good() {
  cat >"$WORK/rules/good.lua" <<'LUA'
local pkts = metric.counter("chk_packets_total", "Packets", { "ifindex", "hook" })
local m = bpf.map("traffic/bpfex_iface_stats")
on_tick(function()
  for k, v in m:entries() do pkts:set({ k.ifindex, k.hook }, v.packets) end
end)
LUA
}
good
out=$("$BPFEX" check -c "$WORK/bpfex.yaml" 2>&1) || fail "a good rule is refused: $out"
[ "$out" = "bpfex: configuration OK" ] || fail "unexpected output for a good rule: $out"
pass "a rule that reads real fields of a configured map passes"

# expect FILE_CONTENT EXPECTED_LINE: the one line check prints for the mistake.
expect() {
  local want=$1 out rc=0
  out=$("$BPFEX" check -c "$WORK/bpfex.yaml" 2>&1) || rc=$?
  [ $rc -eq 1 ] || fail "check exited $rc for: $want; output: $out"
  grep -qxF -- "$want" <<<"$out" || fail "expected the line: $want; got: $out"
  ! grep -q "stack traceback" <<<"$out" || fail "a Lua traceback in check's output: $out"
}

sed -i 's|traffic/bpfex_iface_stats|traffic/bpfex_iface_stat|' "$WORK/rules/good.lua"
expect "$WORK/rules/good.lua:4: bpf map \"traffic/bpfex_iface_stat\" is not configured (bpf.objects or bpf.maps)"
pass "a map name the configuration does not have: file:line"

good; sed -i 's|k.ifindex, k.hook|k.ifindx, k.hook|' "$WORK/rules/good.lua"
expect "$WORK/rules/good.lua:4: no field \"ifindx\" in the map key of traffic/bpfex_iface_stats"
pass "a field the map's BTF does not have: file:line"

good; sed -i 's|pkts:set({ k.ifindex, k.hook }, v.packets)|pkts:set({ k.ifindex }, v.packets)|' "$WORK/rules/good.lua"
expect "$WORK/rules/good.lua:4: metric chk_packets_total: got 1 label values for 2 labels"
pass "a write with the wrong number of label values: file:line"

good; cp "$WORK/rules/good.lua" "$WORK/rules/twin.lua"
out=$("$BPFEX" check -c "$WORK/bpfex.yaml" 2>&1) && fail "two files declaring one name pass"
grep -q "twin.lua:1: .*chk_packets_total" <<<"$out" || fail "the clash does not name the second file's line: $out"
rm "$WORK/rules/twin.lua"
pass "a metric name two rule files declare: file:line"

# A range selector over a metric nothing serves: a typo that would select
# nothing, forever. Over a rule's metric or one of bpfex's own it passes.
good; cat >"$WORK/rules/ranges.lua" <<'LUA'
interval("30s")
local ok1 = range("chk_packets_total", "5m")
local ok2 = range("bpfex_tick_duration_seconds_bucket", "5m")
local typo = range("chk_packet_total", "5m")
on_tick(function() end)
LUA
expect "$WORK/rules/ranges.lua:4: range chk_packet_total: no rule declares chk_packet_total, and it is not one of bpfex's own metrics"
out=$("$BPFEX" check -c "$WORK/bpfex.yaml" 2>&1) || true
[ "$(grep -c "range " <<<"$out")" = 1 ] || fail "ranges over served metrics are reported: $out"
rm "$WORK/rules/ranges.lua"
pass "a range over a metric nothing serves: file:line"

# JSON: the same errors as data.
good; sed -i 's|k.ifindex, k.hook|k.ifindx, k.hook|' "$WORK/rules/good.lua"
rc=0; "$BPFEX" check -c "$WORK/bpfex.yaml" --format=json >"$WORK/out.json" || rc=$?
[ $rc -eq 1 ] || fail "check --format=json exited $rc"
python3 - "$WORK/out.json" "$WORK/rules/good.lua" <<'PY' || fail "check --format=json: $(cat "$WORK/out.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is False, d
e = d["errors"]
assert len(e) == 1 and e[0] == {"file": sys.argv[2], "line": 4,
                                "message": 'no field "ifindx" in the map key of traffic/bpfex_iface_stats'}, e
PY
good
"$BPFEX" check -c "$WORK/bpfex.yaml" --format=json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == {"ok": True, "errors": []}, d' ||
  fail "a good configuration is not {ok: true} in JSON"
printf 'tick_interval: soon\n' >"$WORK/bad.yaml"
rc=0; "$BPFEX" check -c "$WORK/bad.yaml" --format=json >"$WORK/bad.json" || rc=$?
[ $rc -eq 2 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["ok"] and d["errors"][0]["line"] == 1, d' "$WORK/bad.json" ||
  fail "a bad config in JSON: $(cat "$WORK/bad.json")"
pass "--format=json: the same errors as data, config errors included"

# An interface that is not there now (a VPN's TUN, made by its server after
# bpfex starts): a warning at the attachment's line, not a failure; the
# daemon attaches when the interface appears.
cat >"$WORK/absent.yaml" <<YML
rules: [$WORK/rules]
bpf:
  objects:
    - name: traffic
      bundled: iface_traffic
      attach:
        - {program: bpfex_tc_ingress, type: tc_ingress, interface: bpfexnone0}
YML
rc=0; out=$("$BPFEX" check -c "$WORK/absent.yaml" 2>&1) || rc=$?
[ $rc -eq 0 ] || fail "an absent interface fails the check ($rc): $out"
grep -qF "$WORK/absent.yaml:7:11: warning: bpf object traffic: interface bpfexnone0 is not there now; bpfex_tc_ingress is attached when it appears" <<<"$out" ||
  fail "no warning at the attachment's line: $out"
grep -qx "bpfex: configuration OK" <<<"$out" || fail "not OK with a warning: $out"
"$BPFEX" check -c "$WORK/absent.yaml" --format=json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["errors"] == [] and d["warnings"][0]["line"] == 7, d' ||
  fail "the warning is not in the JSON"
pass "an interface absent now: a warning at its line (file:line:column), exit 0"
