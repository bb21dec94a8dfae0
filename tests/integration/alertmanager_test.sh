#!/usr/bin/env bash
# Alerts reach the real Alertmanager (Debian's prometheus-alertmanager):
# firing with the right labels (rule, instance, external) and startsAt, then
# resolved; an Alertmanager that is down never stalls evaluation.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v prometheus-alertmanager >/dev/null || { echo "SKIPPED: prometheus-alertmanager is not installed"; exit 77; }
A=$(free_port)
printf 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n' > "$WORK/am.yml"
bg alertmanager prometheus-alertmanager --config.file="$WORK/am.yml" --storage.path="$WORK/am" \
  --web.listen-address=127.0.0.1:$A --cluster.listen-address=
wait_for 20 curl -sf http://127.0.0.1:$A/-/ready

P=$(free_port); DOWN=$(free_port)
mkdir -p "$WORK/rules"
cat > "$WORK/rules/a.lua" <<'LUA'
local a = alert{ name = "TestAlert", ["for"] = "0s", labels = { severity = "page" },
  annotations = { summary = "tick {{ $value }} in {{ $externalLabels.dc }}" } }
local n = 0
on_tick(function()
  n = n + 1
  if n <= 10 then a:fire({ instance_id = "i1" }, n) end
end)
LUA
cat > "$WORK/bpfex.yaml" <<YML
listen: 127.0.0.1:$P
tick_interval: 250ms
alerting:
  alertmanagers: ["http://127.0.0.1:$A", "http://127.0.0.1:$DOWN"]
  resend_delay: 1s
  timeout: 1s
  external_labels: {dc: lab1}
YML
start=$(date +%s)
"$BPFEX" run --config "$WORK/bpfex.yaml" --rules "$WORK/rules" > "$WORK/bpfex.log" 2>&1 &
_pids+=($!)
wait_for 10 curl -sf http://127.0.0.1:$P/readyz

am_alerts() { curl -s "http://127.0.0.1:$A/api/v2/alerts"; }
firing() { am_alerts | python3 -c '
import json, sys
alerts = [a for a in json.load(sys.stdin) if a["labels"].get("alertname") == "TestAlert"]
sys.exit(0 if alerts else 1)'; }
wait_for 10 firing || fail "the alert never reached Alertmanager: $(am_alerts)"
am_alerts | python3 -c '
import json, sys, datetime
a = [a for a in json.load(sys.stdin) if a["labels"].get("alertname") == "TestAlert"][0]
assert a["labels"] == {"alertname": "TestAlert", "severity": "page", "instance_id": "i1", "dc": "lab1"}, a["labels"]
assert a["annotations"]["summary"].endswith(" in lab1"), a["annotations"]
starts = datetime.datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")).timestamp()
assert abs(starts - '"$start"') < 10, (a["startsAt"], '"$start"')
assert a["status"]["state"] == "active", a["status"]
assert a["generatorURL"].endswith("/api/v1/rules"), a["generatorURL"]
' || fail "alert content: $(am_alerts)"
pass "firing alert in Alertmanager with rule, instance and external labels and startsAt"

# After tick 10 the rule stops firing: the resolution (endsAt = resolution time) reaches Alertmanager.
resolved() { am_alerts | python3 -c '
import json, sys, datetime
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
alerts = [a for a in json.load(sys.stdin) if a["labels"].get("alertname") == "TestAlert"]
ends = [datetime.datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00")).timestamp() for a in alerts]
sys.exit(0 if not alerts or all(e <= now for e in ends) else 1)'; }
wait_for 15 resolved || fail "the resolution never reached Alertmanager: $(am_alerts)"
pass "resolved alert reached Alertmanager"

# The second Alertmanager is down: errors are counted, evaluation goes on.
m=$(curl -s http://127.0.0.1:$P/metrics)
errs=$(awk '/^bpfex_notifications_errors_total / {print $2}' <<<"$m")
sent=$(awk '/^bpfex_notifications_sent_total / {print $2}' <<<"$m")
[ "${errs:-0}" -ge 1 ] && [ "${sent:-0}" -ge 1 ] || fail "notification counters: sent=$sent errors=$errs"
t1=$(awk '/^bpfex_ticks_total / {print $2}' <<<"$m"); sleep 1
t2=$(curl -s http://127.0.0.1:$P/metrics | awk '/^bpfex_ticks_total / {print $2}')
[ "$t2" -ge $((t1 + 2)) ] || fail "evaluation stalled with an Alertmanager down ($t1 -> $t2)"
pass "an Alertmanager that is down: $errs errors counted, ticks go on ($t1 -> $t2)"
