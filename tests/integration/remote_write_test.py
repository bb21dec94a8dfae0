#!/usr/bin/env python3
"""Remote write, against three receivers at once:
  - the real Prometheus (--web.enable-remote-write-receiver),
  - the real VictoriaMetrics single node (/api/v1/write),
  - the real Prometheus again with --enable-feature=native-histograms, sent
    native histograms (send_native_histograms): each tick's buckets, count
    and sum equal the classic view bpfex served,
  - rw_receiver.py, which decodes each request independently of bpfex
    (python3-snappy, python3-protobuf over prompb's field numbers) and
    checks the spec: headers, sorted labels, no empty values, no duplicates.

bpfex ticks every second with a rule whose values are hard for float64
text round trips, labels with escapes, a histogram, and a series that stops
after a few ticks. The test scrapes /metrics all the while and keys each
body by its bpfex_ticks_total. Then, for every tick it saw:
  - each receiver has every series of that body at the tick's timestamp
    with the same value: exactly (bit for bit) at Prometheus and the
    decoder; VictoriaMetrics at its documented storage precision;
  - no receiver has a series bpfex never served;
  - the rule's alert reaches it as ALERTS (pending, then firing) and
    ALERTS_FOR_STATE;
  - the series that stopped ends with a stale marker (the decoder sees the
    staleness NaN's bits; Prometheus answers nothing for it after);
  - bpfex's own counters agree with what the decoder received.
SIGTERM sends what is queued and stale markers for every series, in time.

  remote_write_test.py   (BPFEX in the environment)
"""
import json
import math
import re
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from testlib import fail, free_port, series, wait_for  # noqa: E402
import rw_receiver  # noqa: E402

BPFEX = os.environ["BPFEX"]
JOB = "rwtest"

RULE = r"""
local n = 0
local ticks = metric.counter("rw_ticks_total", "ticks of this rule")
local g = metric.gauge("rw_value", "values a float64 text round trip must keep", {"kind"})
local esc = metric.gauge("rw_escaped", "label values with what text must escape", {"v", "empty"})
local leaving = metric.gauge("rw_leaving", "a series written for the first ticks only")
local h = metric.histogram("rw_latency_seconds", "a classic histogram", {}, {0.001, 0.01, 0.1, 1})
local nh = metric.histogram{ name = "rw_native_seconds", help = "native and classic",
                             buckets = hist.log2_bounds(8), native = "both" }
local hot = alert{ name = "RwHot", ["for"] = "2s", labels = { severity = "page" } }
on_tick(function()
  hot:fire({ where = "edge" }, n)
  n = n + 1
  ticks:add({}, 1)
  g:set({"tenth"}, n * 0.1)
  g:set({"third"}, n / 3)
  g:set({"tiny"}, 5e-324 * n)
  g:set({"huge"}, 1.7976931348623157e308 / n)
  g:set({"negative"}, -2.5e10 - n / 7)
  g:set({"inf"}, math.huge)
  esc:set({'quote " back \\ newline \n end', ""}, n)
  esc:set({"ünïcødé ✓", "x"}, -n)
  if n <= 4 then leaving:set({}, n) end
  h:observe({}, 0.005 * n)
  local slots = {}
  for k = 1, 8 do slots[k] = (n * k) % 5 end
  nh:set_log2({}, slots, n * 1.5, n)
end)
"""


def get(url, timeout=10):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


def key_of(labels):
    return tuple(sorted(labels.items()))


def main():
    d = tempfile.mkdtemp(prefix="bpfex-rw-")
    procs = []
    try:
        run(d, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", d])


def run(d, procs):
    prom_port, vm_port, dec_port, port = free_port(), free_port(), free_port(), free_port()
    nh_port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global: {}\n")
    procs.append(subprocess.Popen(
        ["prometheus", "--config.file", os.path.join(d, "prometheus.yml"), "--storage.tsdb.path", os.path.join(d, "prom"),
         "--web.listen-address", f"127.0.0.1:{prom_port}", "--web.enable-remote-write-receiver"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    procs.append(subprocess.Popen(
        ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{vm_port}", f"-storageDataPath={d}/vm",
         "-search.latencyOffset=0s", "-retentionPeriod=1d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    procs.append(subprocess.Popen(
        ["prometheus", "--config.file", os.path.join(d, "prometheus.yml"), "--storage.tsdb.path", os.path.join(d, "prom-nh"),
         "--web.listen-address", f"127.0.0.1:{nh_port}", "--web.enable-remote-write-receiver",
         "--enable-feature=native-histograms"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    decoder = rw_receiver.Receiver(dec_port)
    wait_for("Prometheus", lambda: "Ready" in get(f"http://127.0.0.1:{prom_port}/-/ready"))
    wait_for("Prometheus with native histograms", lambda: "Ready" in get(f"http://127.0.0.1:{nh_port}/-/ready"))
    wait_for("VictoriaMetrics", lambda: get(f"http://127.0.0.1:{vm_port}/health").strip() == "OK")

    with open(os.path.join(d, "rw.lua"), "w") as f:
        f.write(RULE)
    with open(os.path.join(d, "bpfex.yaml"), "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 1s
rules: [{d}/rw.lua]
external_labels: {{job: {JOB}, instance: "${{BPFEX_TEST_NODE}}"}}
remote_write:
  - url: http://127.0.0.1:{prom_port}/api/v1/write
    name: prometheus
    queue_config: {{batch_send_deadline: 1s}}
  - url: http://127.0.0.1:{vm_port}/api/v1/write
    name: victoria
    queue_config: {{max_samples_per_send: 50, max_shards: 4}}
  - url: http://127.0.0.1:{nh_port}/api/v1/write
    name: native
    send_native_histograms: true
  - url: http://127.0.0.1:{dec_port}/receive
    name: decoder
    headers: {{X-Scope-OrgID: tenant-7}}
""")
    env = dict(os.environ, BPFEX_TEST_NODE="node-a")
    check = subprocess.run([BPFEX, "check", "--config", os.path.join(d, "bpfex.yaml")], env=env,
                           capture_output=True, text=True)
    if check.returncode != 0:
        fail("bpfex check: " + check.stdout + check.stderr)
    log = open(os.path.join(d, "bpfex.log"), "w")
    bpfex = subprocess.Popen([BPFEX, "run", "--config", os.path.join(d, "bpfex.yaml")], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    procs.append(bpfex)

    # Every body bpfex served, keyed by its tick.
    bodies = {}
    stop = threading.Event()

    def scraper():
        while not stop.is_set():
            try:
                text = get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                s = series(text)
                if "bpfex_ticks_total" in s:
                    bodies.setdefault(s["bpfex_ticks_total"], s)
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.15)
    t = threading.Thread(target=scraper)
    t.start()
    wait_for("12 ticks", lambda: len(bodies) >= 12, seconds=60)
    stop.set()
    t.join()
    t_stop = time.time()
    bpfex.send_signal(signal.SIGTERM)
    try:
        rc = bpfex.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fail("bpfex did not stop within 10 s of SIGTERM with remote write")
    if rc != 0:
        fail(f"bpfex exited {rc}:\n" + open(os.path.join(d, "bpfex.log")).read())
    print(f"{len(bodies)} ticks seen; SIGTERM to exit {time.time() - t_stop:.2f} s")
    last_body = bodies[max(bodies, key=float)]

    # --- the independent decoder ---
    if decoder.problems:
        fail("the decoder found spec violations: " + "; ".join(decoder.problems[:5]))
    if (h := decoder.check_headers()):
        fail("request headers: " + h)
    if any(hd.get("X-Scope-OrgID") != "tenant-7" for hd in decoder.headers):
        fail("the configured header X-Scope-OrgID did not come with every request")
    got = {}  # key -> {ts: value}
    for labels, samples in decoder.samples.items():
        m = dict(labels)
        if m.get("job") != JOB or m.get("instance") != "node-a":
            fail(f"a series without the external labels: {m}")
        k = key_of({a: b for a, b in m.items() if a not in ("job", "instance")})
        ts_seen = got.setdefault(k, {})
        last_ts = -1
        for ts, v in samples:
            if ts < last_ts:
                fail(f"{m}: samples out of order ({ts} after {last_ts})")
            last_ts = ts
            ts_seen[ts] = v
    tick_ts = {}
    for ts, v in got[key_of({"__name__": "bpfex_ticks_total"})].items():
        if not rw_receiver.is_stale(v):
            tick_ts[repr(float(v))] = ts
    served = set()
    compared = 0
    for tick, body in bodies.items():
        ts = tick_ts.get(repr(float(tick)))
        if ts is None:
            fail(f"tick {tick} (seen on /metrics) never reached the decoder")
        for s_text, v_text in body.items():
            k = key_of(rw_receiver.labels_of_text_series(s_text))
            served.add(k)
            want = rw_receiver.parse_value(v_text)
            have = got.get(k, {}).get(ts)
            if have is None:
                fail(f"tick {tick}: {s_text} is not at the decoder at {ts}")
            if rw_receiver.bits(have) != rw_receiver.bits(want) and not (math.isnan(want) and math.isnan(have)):
                fail(f"tick {tick}: {s_text}: served {v_text}, received {have!r}")
            compared += 1
    extra = set(got) - served
    # A series can live in a tick the scraper missed; allow only those whose
    # every sample is at such a tick.
    seen_ts = set(tick_ts[repr(float(t))] for t in bodies)
    extra = [k for k in extra if any(ts in seen_ts and not rw_receiver.is_stale(v) for ts, v in got[k].items())]
    if extra:
        fail(f"series at the decoder that /metrics never had: {extra[:3]}")
    leaving = got.get(key_of({"__name__": "rw_leaving"}))
    if not leaving:
        fail("rw_leaving never reached the decoder")
    stale = [ts for ts, v in leaving.items() if rw_receiver.is_stale(v)]
    live = [ts for ts, v in leaving.items() if not rw_receiver.is_stale(v)]
    if len(stale) != 1 or len(live) != 4 or stale[0] <= max(live):
        fail(f"rw_leaving: want 4 samples then one stale marker, got live {sorted(live)} stale {stale}")
    # Every series stays in bpfex until SIGTERM: ends with one stale marker then.
    unended = [k for k, s in got.items() if not rw_receiver.is_stale(s[max(s)])]
    if unended:
        fail(f"series without a stale marker after SIGTERM: {unended[:3]}")
    print(f"decoder: {compared} served samples matched bit for bit; {len(got)} series, each ended by a stale marker")
    # Alert state evaluated at the edge reaches the receiver: pending, then firing.
    states = {dict(k).get("alertstate") for k in got if dict(k).get("__name__") == "ALERTS" and dict(k).get("alertname") == "RwHot"}
    for_state = [k for k in got if dict(k).get("__name__") == "ALERTS_FOR_STATE" and dict(k).get("alertname") == "RwHot"]
    if states != {"pending", "firing"} or not for_state:
        fail(f"ALERTS states {states} and ALERTS_FOR_STATE {for_state} at the decoder")
    print("decoder: ALERTS went pending then firing, and ALERTS_FOR_STATE came with them")

    # bpfex's own account of the decoder endpoint, from the last body it served.
    def metric(name, **labels):
        want = dict(labels, __name__=name)
        for s_text, v in last_body.items():
            if rw_receiver.labels_of_text_series(s_text) == want:
                return float(v)
        return None
    for name in ("prometheus", "victoria", "decoder"):
        failed = metric("bpfex_remote_write_samples_failed_total", remote_name=name,
                        url={"prometheus": f"http://127.0.0.1:{prom_port}/api/v1/write",
                             "victoria": f"http://127.0.0.1:{vm_port}/api/v1/write",
                             "decoder": f"http://127.0.0.1:{dec_port}/receive"}[name])
        if failed != 0:
            fail(f"bpfex_remote_write_samples_failed_total for {name}: {failed}")
    sent = metric("bpfex_remote_write_samples_total", remote_name="decoder", url=f"http://127.0.0.1:{dec_port}/receive")
    received_by_then = sum(c for t0, st, c in decoder.requests if st == 204)
    if sent is None or sent <= 0 or sent > received_by_then:
        fail(f"bpfex_remote_write_samples_total {sent} against {received_by_then} the decoder accepted in all")

    # --- Prometheus: raw samples of the whole run ---
    q = urllib.parse.quote(f'{{job="{JOB}"}}[10m]')
    res = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}&time={time.time():.3f}"))
    prom = {}
    for r in res["data"]["result"]:
        m = {a: b for a, b in r["metric"].items() if a not in ("job", "instance")}
        prom[key_of(m)] = {round(float(ts) * 1000): v for ts, v in r["values"]}
    check_store("Prometheus", prom, bodies, tick_ts, served, exact=True)
    t_last_live = max(live) / 1000
    q = urllib.parse.quote('rw_leaving')
    at = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}&time={t_last_live + 0.5:.3f}"))
    after = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}&time={stale[0] / 1000 + 0.5:.3f}"))
    if len(at["data"]["result"]) != 1 or after["data"]["result"]:
        fail(f"Prometheus: rw_leaving should answer before its stale marker and not after: {at} / {after}")
    print("Prometheus: rw_leaving ends at its stale marker (within the 5 m lookback)")

    # --- Prometheus with native histograms: the histograms field ---
    q = urllib.parse.quote(f'rw_native_seconds{{job="{JOB}"}}[10m]')
    res = json.loads(get(f"http://127.0.0.1:{nh_port}/api/v1/query?query={q}&time={time.time():.3f}"))["data"]["result"]
    if len(res) != 1 or "histograms" not in res[0]:
        fail(f"Prometheus (native histograms): rw_native_seconds is {res}")
    natives = {round(float(ts) * 1000): h for ts, h in res[0]["histograms"]}
    checked = 0
    for tick, body in bodies.items():
        h = natives.get(tick_ts[repr(float(tick))])
        if h is None:
            fail(f"Prometheus (native histograms): no rw_native_seconds at tick {tick}")
        classic = {rw_receiver.labels_of_text_series(k).get("le"): float(v) for k, v in body.items()
                   if k.startswith("rw_native_seconds_bucket")}
        if float(h["count"]) != float(body["rw_native_seconds_count"]) or float(h["sum"]) != float(body["rw_native_seconds_sum"]):
            fail(f"tick {tick}: native count/sum {h['count']}/{h['sum']} against the classic "
                 f"{body['rw_native_seconds_count']}/{body['rw_native_seconds_sum']}")
        for le, cumulative in classic.items():
            if le == "+Inf":
                continue
            # zero bucket (boundary type 3, around 0) and every native bucket up to le
            below = sum(float(c) for _, lo, up, c in h.get("buckets", []) if float(up) <= float(le))
            if below != cumulative:
                fail(f"tick {tick}: le={le}: native buckets hold {below}, the classic bucket {cumulative}")
        checked += 1
    print(f"Prometheus (native histograms): rw_native_seconds at {checked} ticks, every bucket, count and sum "
          "equal to the classic view bpfex served")

    # --- VictoriaMetrics: /api/v1/export gives raw samples ---
    vm = {}
    last_ts = tick_ts[repr(float(max(bodies, key=float)))]
    last_keys = {key_of(rw_receiver.labels_of_text_series(k)) for k in last_body}

    def vm_export():
        get(f"http://127.0.0.1:{vm_port}/internal/force_flush")
        text = get(f"http://127.0.0.1:{vm_port}/api/v1/export?match[]=" + urllib.parse.quote(f'{{job="{JOB}"}}'))
        vm.clear()
        for line in text.splitlines():
            # VictoriaMetrics writes Inf unquoted (not JSON); Python's json reads Infinity.
            r = json.loads(re.sub(r"([\[,])([+-]?)Inf\b", lambda m: m[1] + ("-" if m[2] == "-" else "") + "Infinity", line))
            m = {a: b for a, b in r["metric"].items() if a not in ("job", "instance")}
            vm.setdefault(key_of(m), {}).update(
                {ts: v for ts, v in zip(r["timestamps"], r["values"]) if v is not None})  # null: a stale marker
        return not (served - set(vm)) and all(last_ts in vm.get(k, {}) for k in last_keys)
    deadline = time.time() + 30
    while not vm_export():
        if time.time() > deadline:
            fail(f"VictoriaMetrics lacks {len(served - set(vm))} served series, e.g. {sorted(served - set(vm))[:3]}")
        time.sleep(1)
    check_store("VictoriaMetrics", vm, bodies, tick_ts, served, exact=False)
    print("PASS")


def check_store(name, store, bodies, tick_ts, served, exact):
    compared = inexact = 0
    for tick, body in bodies.items():
        ts = tick_ts[repr(float(tick))]
        for s_text, v_text in body.items():
            k = key_of(rw_receiver.labels_of_text_series(s_text))
            want = rw_receiver.parse_value(v_text)
            have = store.get(k, {}).get(ts)
            if have is None:
                fail(f"{name}: tick {tick}: {s_text} has no sample at {ts}")
            have = rw_receiver.parse_value(have) if isinstance(have, str) else float(have)
            same = have == want or (math.isnan(want) and math.isnan(have))
            if not same:
                # VictoriaMetrics keeps 12 to 15 significant digits (its docs:
                # "may lose precision ... more than 12 significant decimal digits").
                if exact or not math.isclose(have, want, rel_tol=1e-11, abs_tol=1e-300):
                    fail(f"{name}: tick {tick}: {s_text}: served {v_text}, stored {have!r}")
                inexact += 1
            compared += 1
    extra = set(store) - served
    if extra:
        fail(f"{name}: series bpfex never served: {sorted(extra)[:3]}")
    print(f"{name}: {compared} served samples found at their tick's timestamp"
          + (", every one exact" if inexact == 0 else f", {inexact} within VictoriaMetrics' precision"))


if __name__ == "__main__":
    main()
