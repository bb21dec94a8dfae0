#!/usr/bin/env python3
"""bpfex's range functions against the real Prometheus, on the same samples.

A writer rule sets a gauge `x` from scripted values: steady counters, counters
with resets, a series with irregular gaps, a series that starts late and one
that stops, a random-walk gauge with negative values, a constant, and a
counter with fractional steps, at ticks whose spacing varies by the
millisecond (`bpfex test` with explicit tick times). Reader rules with
intervals of 1, 3 and 7 ticks evaluate every range function over three ranges
with range(); the every-tick reader also through windows.

The same samples, stamped at the same milliseconds, are backfilled into a real
Prometheus (promtool tsdb create-blocks-from openmetrics) whose query API then
evaluates the same functions at each reader's evaluation times. The series
present must be the same, and every value the same float64 (bit-identical:
the same operations in the same order); a difference within 1e-9 is reported
apart from one beyond it.

Env: BPFEX_PROMQL_SEEDS (comma-separated, default 1,2,3), BPFEX_PROMQL_TICKS.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import bpfex_test_ticks, fail, free_port  # noqa: E402

BPFEX = os.environ["BPFEX"]
SEEDS = [int(s) for s in os.environ.get("BPFEX_PROMQL_SEEDS", "1,2,3").split(",")]
TICKS = int(os.environ.get("BPFEX_PROMQL_TICKS", "160"))
RANGES = ["5s", "12s", "30s"]
FNS = ["rate", "increase", "delta", "irate", "idelta", "changes", "resets", "deriv",
       "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
       "last_over_time"]
PREDICT_T = 30
QUANTILES = [0.25, 0.9]
READERS = {"r1": 1, "r3": 3, "r7": 7}  # r1: no interval(), so every tick
GAPPY = {"gaps", "late", "stops"}  # series not written at every tick


def lua_num(v):
    return repr(float(v)) if v == v else "0/0"


def scenario(seed):
    """Per tick: (time in seconds from the start, {series: value})."""
    rnd = random.Random(seed)
    t = 0.0
    state = {"steady": 0.0, "resets": 0.0, "gaps": 0.0, "late": 5.0, "stops": 1000.0, "gauge": 0.0,
             "const": 42.0, "float": 0.0}
    ticks = []
    for k in range(TICKS):
        if k > 0:
            t += rnd.choice([1.0, 1.0, 1.0, rnd.randint(600, 1400) / 1000, rnd.randint(2000, 4000) / 1000])
            t = round(t, 3)
        vals = {}
        state["steady"] += rnd.randint(1, 100)
        vals["steady"] = state["steady"]
        if rnd.random() < 0.08:
            state["resets"] = float(rnd.randint(0, 5))
        else:
            state["resets"] += rnd.randint(0, 50)
        vals["resets"] = state["resets"]
        state["gaps"] += rnd.randint(1, 20)
        if rnd.random() < 0.55:
            vals["gaps"] = state["gaps"]
        if k >= TICKS // 4:
            state["late"] += rnd.randint(10, 60)
            vals["late"] = state["late"]
        if k < TICKS // 2:
            state["stops"] += rnd.randint(0, 3)
            vals["stops"] = state["stops"]
        state["gauge"] += rnd.uniform(-25, 25)
        vals["gauge"] = state["gauge"]
        vals["const"] = state["const"]
        state["float"] += rnd.choice([0.1, 0.25, 1 / 3, 0.0])
        vals["float"] = state["float"]
        ticks.append((t, vals))
    return ticks


WRITER = """local x = metric.gauge("x", "scripted samples", {"s"})
local data = {
%s
}
local n = 0
on_tick(function()
  n = n + 1
  for s, v in pairs(data[n] or {}) do x:set({s}, v) end
end)
"""

READER = """%s
local out = metric.gauge("out_%s", "range function results", {"fn", "range", "s"})
local at = metric.gauge("eval_%s", "evaluation time")
local ranges, windows = {}, {}
for _, r in ipairs({%s}) do ranges[r] = range("x", r); windows[r] = window(r) end
local fns = {%s}
local with_windows = %s
local function put(fn, r, v) for _, s in ipairs(v) do out:set({fn, r, s.labels.s}, s.value) end end
on_tick(function()
  at:set({}, bpfex.now())
  local now = vec.series("x")
  for r, h in pairs(ranges) do
    for _, fn in ipairs(fns) do put(fn, r, vec[fn](h)) end
    put("predict_linear", r, vec.predict_linear(h, %d))
    for _, q in ipairs({%s}) do put("quantile_over_time_" .. q, r, vec.quantile_over_time(q, h)) end
    if with_windows then
      local w = windows[r]
      for _, fn in ipairs(fns) do put("w:" .. fn, r, vec[fn](w, now)) end
      put("w:predict_linear", r, vec.predict_linear(w, %d, now))
      for _, q in ipairs({%s}) do put("w:quantile_over_time_" .. q, r, vec.quantile_over_time(q, w, now)) end
    end
  end
end)
"""


def write_rules(d, ticks):
    rows = []
    for _, vals in ticks:
        rows.append("  {" + ", ".join(f"{k} = {lua_num(v)}" for k, v in sorted(vals.items())) + "},")
    with open(os.path.join(d, "w.lua"), "w") as f:
        f.write(WRITER % "\n".join(rows))
    quoted = lambda xs: ", ".join(f'"{x}"' for x in xs)
    qs = ", ".join(repr(q) for q in QUANTILES)
    for name, every in READERS.items():
        with open(os.path.join(d, name + ".lua"), "w") as f:
            f.write(READER % (f'interval("{every}s")' if every > 1 else "-- every tick", name, name, quoted(RANGES), quoted(FNS), "true" if every == 1 else "false",
                              PREDICT_T, qs, PREDICT_T, qs))
    with open(os.path.join(d, "t.yaml"), "w") as f:
        f.write("rules: [w.lua, %s]\ninterval: 1\nticks:\n" % ", ".join(n + ".lua" for n in READERS))
        for t, _ in ticks:
            f.write(f"  - {{time: {t}}}\n")


def parse_line(line):
    """'out_r1{fn="rate",range="5s",s="a"} 1.5' -> (name, labels, value)."""
    name, _, rest = line.partition("{")
    if not rest:
        name, value = line.split(" ")
        return name, {}, float(value)
    labels_text, _, value = rest.rpartition("} ")
    labels = {}
    for part in labels_text.split('",'):
        k, _, v = part.partition('="')
        labels[k] = v.rstrip('"')
    return name, labels, float(value)


def bpfex_results(d):
    """{reader: [(eval_ms, {(fn, range, s): value})]} from `bpfex test -v`."""
    evals = {r: [] for r in READERS}
    last = {r: None for r in READERS}
    for tick in bpfex_test_ticks(BPFEX, os.path.join(d, "t.yaml"), require_pass=True):
        per = {r: {} for r in READERS}
        at = {}
        for series, value in tick.items():
            name, labels, v = parse_line(series + " " + value)
            for r in READERS:
                if name == "eval_" + r:
                    at[r] = v
                elif name == "out_" + r:
                    per[r][(labels["fn"], labels["range"], labels["s"])] = v
        for r in READERS:
            if r in at and at[r] != last[r]:
                last[r] = at[r]
                evals[r].append((round(at[r] * 1000), per[r]))
    return evals


def backfill(d, ticks, base_ms):
    lines = ["# TYPE x gauge"]
    for t, vals in ticks:
        ts_ms = base_ms + round(t * 1000)
        for s, v in sorted(vals.items()):
            lines.append(f'x{{s="{s}"}} {float(v)!r} {ts_ms // 1000}.{ts_ms % 1000:03d}')
    lines.append("# EOF")
    om = os.path.join(d, "x.om")
    with open(om, "w") as f:
        f.write("\n".join(lines) + "\n")
    data = os.path.join(d, "data")
    os.mkdir(data)
    r = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", om, data],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("promtool backfill: " + r.stdout + r.stderr)
    return data


def start_prometheus(d, data):
    port = free_port()
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 1m}\n")
    p = subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path", data,
                          "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.retention.time", "10y"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "prometheus.log"), "w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return p, base
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.2)
    p.kill()
    fail("prometheus did not become ready:\n" + open(os.path.join(d, "prometheus.log")).read()[-2000:])


def query(base, expr, t_ms):
    q = urllib.parse.urlencode({"query": expr, "time": f"{t_ms // 1000}.{t_ms % 1000:03d}"})
    with urllib.request.urlopen(f"{base}/api/v1/query?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        fail(f"prometheus query {expr}: {body}")
    return body["data"]["result"]


def prometheus_results(base, t_ms, rng):
    """{(fn, range, s): value} for every function over x[rng] at t_ms, in one query."""
    parts = [f'label_replace({fn}(x[{rng}]), "fn", "{fn}", "", "")' for fn in FNS]
    parts.append(f'label_replace(predict_linear(x[{rng}], {PREDICT_T}), "fn", "predict_linear", "", "")')
    for q in QUANTILES:
        parts.append(f'label_replace(quantile_over_time({q}, x[{rng}]), "fn", "quantile_over_time_{q}", "", "")')
    out = {}
    for sample in query(base, " or ".join(parts), t_ms):
        m = sample["metric"]
        out[(m["fn"], rng, m["s"])] = float(sample["value"][1])
    return out


def close(a, b):
    if a != a or b != b:
        return a != a and b != b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def run_seed(seed):
    ticks = scenario(seed)
    d = tempfile.mkdtemp(prefix=f"bpfex-promql-{seed}-")
    prom = None
    try:
        write_rules(d, ticks)
        evals = bpfex_results(d)
        start_ms = (1_700_000_000 + 1000) * 1000  # bpfex test: bpfex.now() is 1.7e9 + 1000 s at the start
        base_ms = (int(time.time()) - 6 * 3600) * 1000
        prom, base = start_prometheus(d, backfill(d, ticks, base_ms))
        compared = mismatches = exact = 0
        report = []
        for reader, runs in evals.items():
            if len(runs) < 5:
                fail(f"seed {seed}: reader {reader} ran {len(runs)} times")
            for eval_ms, got in runs:
                t_ms = base_ms + (eval_ms - start_ms)
                want = {}
                for rng in RANGES:
                    want.update(prometheus_results(base, t_ms, rng))
                ours = {k: v for k, v in got.items() if not k[0].startswith("w:")}
                for key in sorted(set(ours) | set(want)):
                    compared += 1
                    a, b = ours.get(key), want.get(key)
                    exact += a == b
                    if a is None or b is None or not close(a, b):
                        mismatches += 1
                        if len(report) < 25:
                            report.append(f"  {reader} t={eval_ms - start_ms}ms {key}: bpfex {a} prometheus {b}")
                # Windows fed at every tick with the current samples hold the
                # same samples for series written at every tick.
                for (fn, rng, s), v in got.items():
                    if not fn.startswith("w:") or s in GAPPY:
                        continue
                    compared += 1
                    b = want.get((fn[2:], rng, s))
                    exact += v == b
                    if b is None or not close(v, b):
                        mismatches += 1
                        if len(report) < 25:
                            report.append(f"  {reader} window t={eval_ms - start_ms}ms {(fn, rng, s)}: bpfex {v} prometheus {b}")
        runs = {r: len(v) for r, v in evals.items()}
        print(f"seed {seed}: {len(ticks)} ticks, evaluations {runs}, {compared} results compared, "
              f"{exact} of them bit-identical, {mismatches} differ", flush=True)
        if mismatches:
            fail(f"seed {seed}: bpfex and Prometheus differ:\n" + "\n".join(report))
        # Same operations in the same order as Prometheus 2.42: not just
        # close, the same float64.
        if exact != compared:
            fail(f"seed {seed}: {compared - exact} results are within 1e-9 but not bit-identical")
        if compared < 1000:
            fail(f"seed {seed}: only {compared} results compared")
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
        if os.environ.get("BPFEX_KEEP"):
            print("kept", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def main():
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed (tools/lib/common.sh installs it)")
    for seed in SEEDS:
        run_seed(seed)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
