#!/usr/bin/env python3
"""bpfex's Lua alerts go pending and fire at the same evaluations as the real
Prometheus' rule engine on the same series.

Every series bpfex serves at every tick becomes promtool's input series, and
the ALERTS series bpfex served at each evaluation become the expected result
of the query `ALERTS` there, against the PromQL twin of the Lua alerts
evaluated by `promtool test rules`. Any alert that is pending, firing or
absent in one and not the other fails the test.

1. The VPN golden test (rules/vpn_router.lua and rules/vpn_alerts.lua over
   recorded maps, one tick per 30 s evaluation) against seed 000's own
   deploy/prometheus/alerts.yml; seed 002's golden against its
   masque_alerts.yml; seed 003's SLO golden (burn-rate pages and tickets,
   HighErrorRate, HighLatency's histogram_quantile) against the PromQL twins
   in ojeomneo_bpfex_alerts.yml.
2. 5 s ticks and 30 s evaluations, as the VPN demo runs: scripted counters
   (an error burst, a reset, a gap), a filling queue and a flapping state,
   with rate/increase ratios, predict_linear and changes alerts in Lua and
   their PromQL twins. The same alerts over windows fed only when the rule
   runs (every 30 s) must disagree with Prometheus: the control that shows
   the test can tell.

Env: BPFEX_ALERTS_GOLDEN and BPFEX_ALERTS_RULES to compare another pair in 1.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import bpfex_test_ticks, fail  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BPFEX = os.environ["BPFEX"]
GOLDEN = os.environ.get("BPFEX_ALERTS_GOLDEN", os.path.join(ROOT, "tests/golden/vpn_router.test.yaml"))
RULES = os.environ.get("BPFEX_ALERTS_RULES", os.path.join(ROOT, "deploy/prometheus/alerts.yml"))


def interval_of(golden):
    for line in open(golden):
        m = re.match(r"interval:\s*([0-9.]+)\s*$", line)
        if m:
            return float(m.group(1))
    return 5.0


def bpfex_ticks(test_file):
    """Per tick, {series: value text}. The file's own expectations are the
    golden test's business: this compares what bpfex served."""
    return bpfex_test_ticks(BPFEX, test_file)


def compare(name, ticks, step, eval_every, rules_file, expect_agreement=True):
    """promtool test rules: ALERTS at every eval_every-th tick, as bpfex had them.
    With expect_agreement False, a disagreement is what passes."""
    if len(ticks) < 5:
        fail(f"{name}: only {len(ticks)} ticks")
    inputs = sorted({s for t in ticks for s in t if not s.startswith("ALERTS")})
    y = [f"rule_files: [{rules_file}]", f"evaluation_interval: {step * eval_every:g}s", "tests:",
         f"  - interval: {step:g}s", "    input_series:"]
    for s in inputs:
        values = " ".join(t.get(s, "_") for t in ticks)
        y.append(f"      - series: '{s}'")
        y.append(f"        values: '{values}'")
    # The scraped target itself, up at every scrape: DaemonDown's input (its
    # absent() half fires where Prometheus never saw the target).
    y.append("      - series: 'up{job=\"vpn-router\",instance=\"bpfex\"}'")
    y.append("        values: '" + " ".join("1" for _ in ticks) + "'")
    y.append("    promql_expr_test:")
    alerts_seen = evals = 0
    states = set()
    for k in range(0, len(ticks), eval_every):
        t = ticks[k]
        evals += 1
        y.append("      - expr: ALERTS")
        y.append(f"        eval_time: {k * step:g}s")
        alerts = sorted(s for s in t if s.startswith("ALERTS{"))
        alerts_seen += len(alerts)
        states.update(re.search(r'alertstate="(\w+)"', a).group(1) for a in alerts)
        if not alerts:
            y.append("        exp_samples: []")
            continue
        y.append("        exp_samples:")
        for a in alerts:
            y.append(f"          - labels: '{a}'")
            y.append(f"            value: {t[a]}")
    if expect_agreement and states != {"pending", "firing"}:
        fail(f"{name}: bpfex's alerts were only ever {sorted(states)}: nothing to compare")
    d = tempfile.mkdtemp(prefix="bpfex-alerts-diff-")
    try:
        test_file = os.path.join(d, "alerts_test.yml")
        with open(test_file, "w") as f:
            f.write("\n".join(y) + "\n")
        r = subprocess.run(["promtool", "test", "rules", test_file], capture_output=True, text=True)
        if "FAILED" not in r.stdout + r.stderr and r.returncode != 0:
            fail(f"{name}: promtool did not run the test:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        if not expect_agreement:
            if r.returncode == 0:
                fail(f"{name}: Prometheus agrees with alerts it should not agree with: the test cannot tell")
            print(f"{name}: Prometheus disagrees, as it must", flush=True)
            return
        if r.returncode != 0:
            fail(f"{name}: Prometheus' rule engine disagrees with bpfex's alerts:\n" + r.stdout[-6000:] +
                 r.stderr[-3000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{name}: {evals} evaluations, {len(inputs)} input series, {alerts_seen} ALERTS samples: "
          "Prometheus agrees at every evaluation", flush=True)


WRITER = """local req = metric.counter("app_requests_total", "requests", {"code"})
local queue = metric.gauge("app_queue_depth", "queue")
local state = metric.gauge("app_state", "state")
local data = {
%s
}
local n = 0
on_tick(function()
  n = n + 1
  local d = data[n]
  if not d then return end
  if d.ok then req:set({"200"}, d.ok) end
  if d.err then req:set({"500"}, d.err) end
  queue:set({}, d.queue)
  state:set({}, d.state)
end)
"""

LUA_ALERTS = """interval("30s")
local error_ratio = alert{ name = "HighErrorRatio", ["for"] = "1m", labels = { severity = "warning" } }
local burst = alert{ name = "ErrorBurst", ["for"] = "30s", labels = { severity = "critical" } }
local filling = alert{ name = "QueueFillsSoon", ["for"] = "1m" }
local flapping = alert{ name = "Flapping" }
local req_2m, req_1m = range("app_requests_total", "2m"), range("app_requests_total", "1m")
local queue_2m, state_2m = range("app_queue_depth", "2m"), range("app_state", "2m")
local function fire_all(a, v) for _, s in ipairs(v) do a:fire(s.labels, s.value) end end
on_tick(function()
  local errors = vec.sum_by(vec.rate(req_2m, { code = "500" }), {})
  local all = vec.sum_by(vec.rate(req_2m), {})
  fire_all(error_ratio, vec.filter(vec.binop(errors, "/", all), ">", 0.1))
  fire_all(burst, vec.filter(vec.increase(req_1m, { code = "500" }), ">", 150))
  fire_all(filling, vec.filter(vec.predict_linear(queue_2m, 300), ">", 1000))
  fire_all(flapping, vec.filter(vec.changes(state_2m), ">", 3))
end)
"""

# The control: the same alerts over windows fed only when the rule runs (every
# 30 s), as vpn_alerts.lua had them. Prometheus must disagree with it, or this
# test could not tell the difference that range() makes.
LUA_ALERTS_WINDOWS = (LUA_ALERTS
                      .replace('range("app_requests_total", "2m"), range("app_requests_total", "1m")',
                               'window("2m"), window("1m")')
                      .replace('range("app_queue_depth", "2m"), range("app_state", "2m")', 'window("2m"), window("2m")')
                      .replace('vec.rate(req_2m, { code = "500" })',
                               'vec.rate(req_2m, vec.series("app_requests_total", { code = "500" }))')
                      .replace("vec.rate(req_2m)", 'vec.rate(req_2m, vec.series("app_requests_total"))')
                      .replace('vec.increase(req_1m, { code = "500" })',
                               'vec.increase(req_1m, vec.series("app_requests_total", { code = "500" }))')
                      .replace("vec.predict_linear(queue_2m, 300)",
                               'vec.predict_linear(queue_2m, 300, vec.series("app_queue_depth"))')
                      .replace("vec.changes(state_2m)", 'vec.changes(state_2m, vec.series("app_state"))'))
assert LUA_ALERTS_WINDOWS.count("window(") == 4 and "range(" not in LUA_ALERTS_WINDOWS

PROM_ALERTS = """groups:
  - name: app
    interval: 30s
    rules:
      - alert: HighErrorRatio
        expr: sum(rate(app_requests_total{code="500"}[2m])) / sum(rate(app_requests_total[2m])) > 0.1
        for: 1m
        labels: {severity: warning}
      - alert: ErrorBurst
        expr: increase(app_requests_total{code="500"}[1m]) > 150
        for: 30s
        labels: {severity: critical}
      - alert: QueueFillsSoon
        expr: predict_linear(app_queue_depth[2m], 300) > 1000
        for: 1m
      - alert: Flapping
        expr: changes(app_state[2m]) > 3
"""


def synthetic(lua_alerts, expect_agreement, step=5, ticks=150):
    """Scripted load at 5 s ticks; the alerts evaluate every 30 s."""
    rnd = random.Random(20261205)
    ok = err = 0.0
    queue = 100.0
    rows = []
    for k in range(ticks):
        t = k * step
        ok += rnd.randint(80, 120)
        # An error burst from 2 to 6 minutes; a process restart (reset) at 8.
        err += rnd.randint(30, 60) if 120 <= t < 360 else rnd.randint(0, 3)
        if t == 485:
            ok, err = float(rnd.randint(0, 50)), 0.0
        # The queue drains, then fills from 5 to 9 minutes.
        queue = max(0.0, queue + (rnd.uniform(8, 14) if 300 <= t < 540 else rnd.uniform(-6, 4)))
        # The state flaps between 7 and 8 minutes.
        state = float(k % 2) if 420 <= t < 480 else 0.0
        row = {"ok": ok, "queue": round(queue, 3), "state": state}
        if not (600 <= t < 620):  # the error series goes missing for a few ticks
            row["err"] = err
        rows.append("  {" + ", ".join(f"{k2} = {v!r}" for k2, v in sorted(row.items())) + "},")
    d = tempfile.mkdtemp(prefix="bpfex-alerts-synthetic-")
    try:
        with open(os.path.join(d, "a_writer.lua"), "w") as f:
            f.write(WRITER % "\n".join(rows))
        with open(os.path.join(d, "b_alerts.lua"), "w") as f:
            f.write(lua_alerts)
        with open(os.path.join(d, "alerts.yml"), "w") as f:
            f.write(PROM_ALERTS)
        with open(os.path.join(d, "t.yaml"), "w") as f:
            f.write(f"rules: [a_writer.lua, b_alerts.lua]\ninterval: {step}\nticks:\n" + "  - {}\n" * ticks)
        compare("5 s ticks, 30 s evaluations" + ("" if expect_agreement else ", windows (control)"),
                bpfex_ticks(os.path.join(d, "t.yaml")), step, 30 // step, os.path.join(d, "alerts.yml"),
                expect_agreement)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    if shutil.which("promtool") is None:
        fail("promtool is not installed (tools/lib/common.sh installs it)")
    compare("VPN golden against deploy/prometheus/alerts.yml", bpfex_ticks(GOLDEN), interval_of(GOLDEN), 1, RULES)
    # Seeds 002 and 003: their Lua alerts against their PromQL twins.
    for golden, rules in (("masque.test.yaml", "masque_alerts.yml"),
                          ("ojeomneo_slo.test.yaml", "ojeomneo_bpfex_alerts.yml")):
        g = os.path.join(ROOT, "tests/golden", golden)
        compare(f"{golden} against deploy/prometheus/{rules}", bpfex_ticks(g), interval_of(g), 1,
                os.path.join(ROOT, "deploy/prometheus", rules))
    synthetic(LUA_ALERTS, True)
    synthetic(LUA_ALERTS_WINDOWS, False)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
