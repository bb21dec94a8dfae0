#!/usr/bin/env python3
"""Native histograms, end to end, against the real Prometheus 2.42.

Known values go through BPF_PROG_TEST_RUN (`bpftool prog run`) into a log2
histogram map kept as bpf/include/bpfex_log2.h says (hist_test.bpf.c). bpfex
serves it as a native histogram (schema 0), a native-and-classic one, a
classic one and a summary of hist.quantile. Then:
  - Prometheus with --enable-feature=native-histograms scrapes over protobuf:
    histogram_count and histogram_sum equal the kernel's count and sum, and
    histogram_quantile equals the quantile computed here from the values;
  - Prometheus without it scrapes the same daemon over text: every classic
    bucket equals the number of values <= its le (the seam: 2^k counts in
    le=2^k), and histogram_quantile over the classic buckets and the summary
    (hist.quantile) equal the native quantile;
  - promtool check metrics accepts the text exposition.

  native_histogram_test.py HIST_TEST_BPF_OBJECT   (BPFEX: the bpfex binary)
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, private_bpffs, wait_for  # noqa: E402

VALUES = [0, 0, 0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 127, 128, 129, 1000, 1023, 1024, 1024,
          1025, 4096, 65535, 65536, 1000000, 1 << 30, (1 << 30) + 1, 123456789, 300, 300, 300, 512, 513]
SLOTS = 40
QUANTILES = [0.25, 0.5, 0.75, 0.9, 0.99]


def get(url, timeout=5):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


def query(port, expr):
    r = json.loads(get("http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))))
    res = r["data"]["result"]
    if not res:
        return None
    return res[0]["value"][1]


def expected_quantile(q, values):
    """Prometheus 2.42's histogram_quantile over schema-0 buckets (2^(k-1), 2^k]
    and a zero bucket, computed from the values themselves."""
    counts = {}
    zero = 0
    for v in values:
        if v == 0:
            zero += 1
            continue
        k = (v - 1).bit_length()  # ceil(log2 v)
        counts[k] = counts.get(k, 0) + 1
    total = float(len(values))
    rank = q * total
    buckets = [(0.0, 2.938735877055719e-39, float(zero))] if zero else []
    buckets += [(2.0 ** (k - 1), 2.0 ** k, float(counts[k])) for k in sorted(counts)]
    count = 0.0
    lower = upper = c = 0.0
    for lower, upper, c in buckets:
        count += c
        if count >= rank:
            break
    rank -= count - c
    return lower + (upper - lower) * (rank / c)


RULE = """
local BOUNDS = hist.log2_bounds(%(slots)d)  -- le = 2^k ns
local both = metric.histogram{ name = "test_latency_log2", help = "Injected latencies.", buckets = BOUNDS,
  native = "both" }
local native = metric.histogram{ name = "test_native_only_log2", help = "Injected latencies.",
  buckets = BOUNDS, native = "native" }
local classic = metric.histogram{ name = "test_classic_log2", help = "Injected latencies.", buckets = BOUNDS }
local QS = { %(qs)s }
local summary = metric.summary{ name = "test_latency_quantiles_log2", help = "hist.quantile of them.",
  quantiles = QS }
local m = bpf.map("h/hist_latency")
on_tick(function()
  for _, v in m:entries() do
    both:set_log2({}, v.slots, v.sum, v.zero)
    native:set_log2({}, v.slots, v.sum, v.zero)
    local counts, sum = hist.from_log2(v.slots, v.sum, v.zero)
    classic:set_buckets({}, counts, sum)
    local q = {}
    for i, x in ipairs(QS) do q[i] = hist.quantile(x, counts, BOUNDS) end
    summary:set({}, q, sum, v.count)
  end
end)
"""


def main():
    if len(sys.argv) < 2:
        fail("usage: native_histogram_test.py HIST_TEST_BPF_OBJECT")
    obj = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIPPED: needs root (loads a BPF program and runs it with BPF_PROG_TEST_RUN)")
        sys.exit(77)
    for tool in ("prometheus", "promtool", "bpftool"):
        if shutil.which(tool) is None:
            print("SKIPPED: %s is not installed (tools/test.sh installs it)" % tool)
            sys.exit(77)
    bpfex = os.environ.get("BPFEX") or fail("BPFEX is not set")
    private_bpffs()

    work = tempfile.mkdtemp(prefix="bpfex-nh-")
    procs = []
    try:
        bp, pa, pb = free_port(), free_port(), free_port()
        rule = os.path.join(work, "hist.lua")
        with open(rule, "w") as f:
            f.write(RULE % {"slots": SLOTS, "qs": ", ".join(repr(q) for q in QUANTILES)})
        cfg = os.path.join(work, "bpfex.yaml")
        with open(cfg, "w") as f:
            f.write("listen: 127.0.0.1:%d\ntick_interval: 1s\nrules: [%s]\n" % (bp, rule))
            f.write("bpf:\n  pin_path: /sys/fs/bpf/bpfex-nh\n  objects:\n    - {name: h, file: %s}\n" % obj)

        def start(name, args):
            log = open(os.path.join(work, name + ".log"), "w")
            p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            procs.append((name, p))
            return p

        start("bpfex", [bpfex, "run", "-c", cfg])
        wait_for("bpfex /readyz", lambda: get("http://127.0.0.1:%d/readyz" % bp) is not None, 20)

        # The known values, one BPF_PROG_TEST_RUN each.
        progs = json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show"]))
        pid = next((p["id"] for p in progs if p.get("name") == "hist_record"), None)
        if pid is None:
            fail("bpfex did not load hist_record")
        pkt = os.path.join(work, "pkt")
        for v in VALUES:
            with open(pkt, "wb") as f:
                f.write(b"\0" * 14 + struct.pack("<Q", v) + b"\0" * 42)
            subprocess.check_call(["bpftool", "prog", "run", "id", str(pid), "data_in", pkt],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        n, total = len(VALUES), sum(VALUES)

        def prom(name, port, native):
            yml = os.path.join(work, name + ".yml")
            with open(yml, "w") as f:
                f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                        "scrape_configs:\n  - job_name: bpfex\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % bp)
            args = ["prometheus", "--config.file=" + yml, "--storage.tsdb.path=" + os.path.join(work, name + "-tsdb"),
                    "--web.listen-address=127.0.0.1:%d" % port]
            if native:
                args.append("--enable-feature=native-histograms")
            start(name, args)
            wait_for(name + " ready", lambda: get("http://127.0.0.1:%d/-/ready" % port) is not None, 40)

        prom("prom-native", pa, True)
        prom("prom-classic", pb, False)

        # Native: count, sum, quantiles, over protobuf.
        got = wait_for("histogram_count over the native series",
                       lambda: query(pa, "histogram_count(test_latency_log2)") == str(n) and "ok")
        s = query(pa, "histogram_sum(test_latency_log2)")
        if s is None or float(s) != float(total):
            fail("histogram_sum = %s, the kernel summed %d" % (s, total))
        c = query(pa, "histogram_count(test_native_only_log2)")
        if c != str(n):
            fail("native-only family: histogram_count = %s, want %d" % (c, n))
        wait_for("a protobuf exposition (Prometheus with native histograms asks for it)",
                 lambda: query(pa, 'bpfex_exposition_bytes{format="protobuf-delimited"}'), 20)
        print("ok - native: histogram_count %d and histogram_sum %d equal the kernel's, over protobuf" % (n, total))

        wait_for("classic scrape", lambda: query(pb, "test_latency_log2_count") == str(n) and "ok")
        for q in QUANTILES:
            want = expected_quantile(q, VALUES)
            nat = float(query(pa, "histogram_quantile(%r, test_latency_log2)" % q))
            cls = float(query(pb, "histogram_quantile(%r, test_latency_log2_bucket)" % q))
            lua = float(query(pb, 'test_latency_quantiles_log2{quantile="%s"}' % q))
            if not (nat == cls == lua == want):
                fail("quantile %s: native %r, classic %r, hist.quantile %r, from the values %r" % (q, nat, cls, lua, want))
        print("ok - histogram_quantile native == classic == hist.quantile == the values' for %s" % QUANTILES)

        # Classic buckets, exactly: le is inclusive at every power of two.
        r = json.loads(get("http://127.0.0.1:%d/api/v1/query?%s" % (pb, urllib.parse.urlencode({"query": "test_latency_log2_bucket"}))))
        buckets = {float(x["metric"]["le"]): float(x["value"][1]) for x in r["data"]["result"]}  # le="1" or "1.0"
        for k in range(SLOTS):
            le = 2 ** k
            want = sum(1 for v in VALUES if v <= le)
            if buckets.get(float(le)) != want:
                fail("classic bucket le=%d: %s, %d values are <= it" % (le, buckets.get(float(le)), want))
        print("ok - every classic bucket le=2^k counts exactly the values <= 2^k (text scrape, no native flag)")

        text = get("http://127.0.0.1:%d/metrics" % bp)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        if r.returncode != 0:
            fail("promtool check metrics: " + r.stdout + r.stderr)
        if 'test_native_only_log2_bucket{le="+Inf"} %d' % n not in text:
            fail("text shows a native-only histogram as its +Inf bucket, _sum and _count")
        print("ok - promtool check metrics passes on the text exposition")
    finally:
        for name, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if os.environ.get("BPFEX_NH_KEEP"):
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
