#!/usr/bin/env bash
# Alerts at the daemon level: a Lua alert fires; /metrics carries ALERTS and
# ALERTS_FOR_STATE; /api/v1/alerts and /api/v1/rules answer in Prometheus' shape.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
P=$(free_port)
mkdir -p "$WORK/rules"
cat > "$WORK/rules/a.lua" <<'LUA'
local a = alert{ name = "DiskFull", ["for"] = "0s", labels = { severity = "critical" },
  annotations = { summary = "disk {{ $labels.device }} at {{ $value | humanizePercentage }}" } }
local b = alert{ name = "SlowToFire", ["for"] = "1h" }
on_tick(function()
  a:fire({ device = "sda" }, 0.97)
  b:fire({ device = "sdb" }, 1)
end)
LUA
"$BPFEX" run --listen 127.0.0.1:$P --tick-interval 200ms --rules "$WORK/rules" > "$WORK/bpfex.log" 2>&1 &
_pids+=($!)
wait_for 10 curl -sf http://127.0.0.1:$P/readyz
sleep 0.5
m=$(curl -s http://127.0.0.1:$P/metrics)
grep -q '^ALERTS{alertname="DiskFull",alertstate="firing",device="sda",severity="critical"} 1$' <<<"$m" || fail "ALERTS firing: $(grep ^ALERTS <<<"$m")"
grep -q '^ALERTS{alertname="SlowToFire",alertstate="pending",device="sdb"} 1$' <<<"$m" || fail "ALERTS pending"
grep -q '^ALERTS_FOR_STATE{alertname="DiskFull",device="sda",severity="critical"} 1[0-9.e+]*$' <<<"$m" || fail "ALERTS_FOR_STATE"
curl -s http://127.0.0.1:$P/api/v1/alerts | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
alerts = {a["labels"]["alertname"]: a for a in d["data"]["alerts"]}
a = alerts["DiskFull"]
assert a["state"] == "firing" and a["labels"] == {"alertname": "DiskFull", "device": "sda", "severity": "critical"}, a
assert a["annotations"]["summary"] == "disk sda at 97%", a["annotations"]
assert a["value"] == "9.7e-01", a["value"]
assert a["activeAt"].endswith("Z"), a
assert alerts["SlowToFire"]["state"] == "pending"
' || fail "/api/v1/alerts"
curl -s http://127.0.0.1:$P/api/v1/rules | python3 -c '
import json, sys
d = json.load(sys.stdin)
rules = {r["name"]: r for g in d["data"]["groups"] for r in g["rules"]}
assert rules["DiskFull"]["type"] == "alerting" and rules["DiskFull"]["state"] == "firing", rules["DiskFull"]
assert rules["SlowToFire"]["duration"] == 3600 and rules["SlowToFire"]["health"] == "ok", rules["SlowToFire"]
' || fail "/api/v1/rules"
pass "alerts: ALERTS series, /api/v1/alerts and /api/v1/rules in Prometheus' shape"
