#!/usr/bin/env python3
"""bpfex's Lua alerts go pending and fire at the same evaluations as the real
Prometheus' rule engine on the same series.

`bpfex test -v` runs the VPN golden test (rules/vpn_router.lua and its alert
twins rules/vpn_alerts.lua over recorded maps, one tick per 30 s evaluation).
Every series it serves at every tick becomes promtool's input series, and the
ALERTS series bpfex served at each tick become the expected result of the
query `ALERTS` at that evaluation, against seed 000's own
deploy/prometheus/alerts.yml evaluated by `promtool test rules`. Any alert
that is pending, firing or absent in one and not the other fails the test.

Env: BPFEX_ALERTS_GOLDEN and BPFEX_ALERTS_RULES to compare another pair.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BPFEX = os.environ["BPFEX"]
GOLDEN = os.environ.get("BPFEX_ALERTS_GOLDEN", os.path.join(ROOT, "tests/golden/vpn_router.test.yaml"))
RULES = os.environ.get("BPFEX_ALERTS_RULES", os.path.join(ROOT, "deploy/prometheus/alerts.yml"))


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def interval_of(golden):
    for line in open(golden):
        m = re.match(r"interval:\s*([0-9.]+)\s*$", line)
        if m:
            return float(m.group(1))
    return 5.0


def main():
    if shutil.which("promtool") is None:
        fail("promtool is not installed (tools/lib/common.sh installs it)")
    # The golden file's own expectations are the golden test's business:
    # this compares what bpfex served, whether or not they hold.
    out = subprocess.run([BPFEX, "test", "-v", GOLDEN], capture_output=True, text=True)
    if "(tick 1)" not in out.stdout:
        fail("bpfex test ran no tick:\n" + out.stdout[-3000:] + out.stderr[-2000:])
    ticks = []  # per tick: {series: value text}
    for line in out.stdout.splitlines():
        if line.startswith("-- "):
            ticks.append({})
        elif line.startswith("   ") and not line.startswith("    ") and ticks:
            series, _, value = line.strip().rpartition(" ")
            ticks[-1][series] = value
    if len(ticks) < 5:
        fail(f"only {len(ticks)} ticks in {GOLDEN}")
    step = interval_of(GOLDEN)
    inputs = sorted({s for t in ticks for s in t if not s.startswith("ALERTS")})
    y = [f"rule_files: [{RULES}]", f"evaluation_interval: {step:g}s", "tests:", f"  - interval: {step:g}s",
         "    input_series:"]
    for s in inputs:
        values = " ".join(t.get(s, "_") for t in ticks)
        y.append(f"      - series: '{s}'")
        y.append(f"        values: '{values}'")
    y.append("    promql_expr_test:")
    alerts_seen = 0
    for k, t in enumerate(ticks):
        y.append("      - expr: ALERTS")
        y.append(f"        eval_time: {k * step:g}s")
        alerts = sorted(s for s in t if s.startswith("ALERTS{"))
        alerts_seen += len(alerts)
        if not alerts:
            y.append("        exp_samples: []")
            continue
        y.append("        exp_samples:")
        for a in alerts:
            y.append(f"          - labels: '{a}'")
            y.append(f"            value: {t[a]}")
    if alerts_seen == 0:
        fail("bpfex served no ALERTS: nothing to compare")
    d = tempfile.mkdtemp(prefix="bpfex-alerts-diff-")
    try:
        test_file = os.path.join(d, "alerts_test.yml")
        with open(test_file, "w") as f:
            f.write("\n".join(y) + "\n")
        r = subprocess.run(["promtool", "test", "rules", test_file], capture_output=True, text=True)
        if r.returncode != 0:
            fail("Prometheus' rule engine disagrees with bpfex's alerts:\n" + r.stdout[-6000:] + r.stderr[-3000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{len(ticks)} evaluations, {len(inputs)} input series, {alerts_seen} ALERTS samples: "
          "Prometheus agrees at every evaluation")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
