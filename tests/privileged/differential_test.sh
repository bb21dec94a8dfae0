#!/usr/bin/env bash
# Differential: real Prometheus evaluates a PromQL rule over bpfex's /metrics
# while bpfex evaluates the Lua twin itself, on the same scripted data (a
# pinned BPF map this test writes with bpftool). Both must go pending, then
# firing, then resolve, for the same labels, within one evaluation interval
# (plus one scrape) of each other.
set -euo pipefail
# The host's mounts are left alone: the test runs in a private mount
# namespace, where bpfex mounts bpffs itself (a bpffs it left mounted on the
# host would make the next run's machine kinder than a user's).
if [ -z "${BPFEX_TEST_PRIVATE_NS:-}" ] && command -v unshare >/dev/null; then
  export BPFEX_TEST_PRIVATE_NS=1
  exec unshare --mount --propagation private "$0" "$@"
fi
source "$(dirname "$0")/../integration/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (bpftool map create)"; exit 77; }
command -v prometheus >/dev/null || { echo "SKIPPED: prometheus is not installed"; exit 77; }
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
PIN=/sys/fs/bpf/bpfex-diff-$$
trap 'rm -f "$PIN"; _cleanup' EXIT
"$BPFTOOL" map create "$PIN" type hash key 4 value 8 entries 8 name bpfex_diff
setv() { "$BPFTOOL" map update pinned "$PIN" key 1 0 0 0 value "$1" 0 0 0 0 0 0 0; }
setv 0

P=$(free_port); PP=$(free_port)
mkdir -p "$WORK/rules"
cat > "$WORK/rules/diff.lua" <<'LUA'
local g = metric.gauge("diff_value", "scripted value", { "k" })
local a = alert{ name = "DiffHigh", ["for"] = "4s", labels = { severity = "test" } }
local m = bpf.map("diff")
on_tick(function()
  for k, v in m:entries() do
    g:set({ k.k }, v.v)
    if v.v > 5 then a:fire({ k = tostring(k.k) }, v.v) end
  end
end)
LUA
cat > "$WORK/bpfex.yaml" <<YML
listen: 127.0.0.1:$P
tick_interval: 1s
bpf:
  maps:
    - {name: diff, pinned: $PIN, key: "u32 k", value: "u64 v"}
YML
bg bpfex "$BPFEX" run --config "$WORK/bpfex.yaml" --rules "$WORK/rules"
wait_for 10 curl -sf http://127.0.0.1:$P/readyz

cat > "$WORK/twin.yml" <<'YML'
groups:
  - name: twin
    interval: 1s
    rules:
      - alert: DiffHigh
        expr: diff_value > 5
        for: 4s
        labels:
          severity: test
YML
cat > "$WORK/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$WORK/twin.yml"]
scrape_configs:
  - job_name: bpfex
    static_configs: [{targets: ['127.0.0.1:$P']}]
YML
promtool check rules "$WORK/twin.yml" >/dev/null
bg prometheus prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" --web.listen-address=127.0.0.1:$PP
wait_for 30 curl -sf http://127.0.0.1:$PP/-/ready
seen() { curl -s --get --data-urlencode 'query=diff_value' http://127.0.0.1:$PP/api/v1/query | grep -q '"k":"1"'; }
wait_for 20 seen || fail "Prometheus never scraped diff_value"

# state URL -> "inactive" | "pending" | "firing" for DiffHigh{k="1"}
state() { curl -s "$1/api/v1/alerts" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["labels"].get("alertname") == "DiffHigh" and a["labels"].get("k") == "1":
        print(a["state"]); break
else:
    print("inactive")'; }

# Records, every 0.25 s for up to $1 s, when each side first reaches $2.
watch_until() {
  local limit=$1 want=$2 t0 now b p tb="" tp=""
  t0=$(date +%s.%N)
  while :; do
    now=$(date +%s.%N)
    b=$(state http://127.0.0.1:$P); p=$(state http://127.0.0.1:$PP)
    [ -z "$tb" ] && [ "$b" = "$want" ] && tb=$(python3 -c "print(round($now - $t0, 2))")
    [ -z "$tp" ] && [ "$p" = "$want" ] && tp=$(python3 -c "print(round($now - $t0, 2))")
    [ -n "$tb" ] && [ -n "$tp" ] && break
    python3 -c "import sys; sys.exit(0 if $now - $t0 < $limit else 1)" || fail "after ${limit}s: bpfex=$b prometheus=$p (want $want)"
    sleep 0.25
  done
  echo "$tb $tp"
}
close() { python3 -c "import sys; a, b = float('$1'), float('$2'); sys.exit(0 if abs(a - b) <= 2.5 else 1)"; }

setv 10
read -r b_pend p_pend <<<"$(watch_until 15 pending)"
close "$b_pend" "$p_pend" || fail "pending: bpfex at ${b_pend}s, Prometheus at ${p_pend}s"
read -r b_fire p_fire <<<"$(watch_until 20 firing)"
close "$b_fire" "$p_fire" || fail "firing: bpfex at ${b_fire}s, Prometheus at ${p_fire}s"
setv 0
read -r b_res p_res <<<"$(watch_until 15 inactive)"
close "$b_res" "$p_res" || fail "resolved: bpfex at ${b_res}s, Prometheus at ${p_res}s"
pass "same alert states as Prometheus: pending (bpfex ${b_pend}s, Prometheus ${p_pend}s), firing (${b_fire}s vs ${p_fire}s after pending), resolved (${b_res}s vs ${p_res}s)"
