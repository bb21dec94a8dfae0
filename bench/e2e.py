#!/usr/bin/env python3
"""The whole daemon at scale, as a user runs it (issue #16).

One run, per series count N:
  - a pinned N-entry BPF hash map (key 4 x u32, value 2 x u64) with BTF,
    created and filled by bench/e2e_peer;
  - bpfex (the build under test) reading it as a foreign map with a rule
    (default: the one-line Lua re-export; --rule export: the declarative
    bpf.export of the same family);
  - prometheus-cpp's Exposer serving the same N series;
  - the floor: libmicrohttpd serving the bytes bpfex serves Prometheus,
    fetched once;
  - one real Prometheus scraping the three every 30 s.

It reports, per job, the first and the median scrape (Prometheus'
scrape_duration_seconds); for bpfex, CPU seconds per tick (from /proc over
the window, divided by the ticks in it), tick durations and, where the build
publishes them (/status/tick), CPU by phase; and RSS and peak RSS.

  bench/e2e.py --bpfex build-rel/src/bpfex --peer build-rel/bench/e2e_peer \
      --series 1000000 --minutes 4 [--label main] [--rule lua|export]

Needs root (BPF maps), prometheus on PATH. Prints one markdown row per job and
a JSON line with everything (appended to --out if given).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from testlib import free_port, wait_for  # noqa: E402

# What Prometheus 2.42 sends: the floor must serve what bpfex answers to it.
PROM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
               "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

RULES = {
    "lua": """
local g = metric.counter("e2e_flow_packets_total", "Packets per flow.", {"ifindex", "proto", "flow", "zone"})
local flows = bpf.map("flows")
on_tick(function()
  for k, v in flows:entries() do g:set({k.ifindex, k.proto, k.flow, k.zone}, v.packets) end
end)
""",
    "export": """
bpf.export(bpf.map("flows"), metric.counter("e2e_flow_packets_total", "Packets per flow.",
                                            {"ifindex", "proto", "flow", "zone"}), "packets")
""",
}


def get(url, headers=None, timeout=120):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), dict(r.headers)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def table(path):
    """BENCHMARKS.md §12's tables from the JSON lines of runs."""
    every = [json.loads(line) for line in open(path) if line.strip()]
    runs = [r for r in every if "scrapes" in r]
    alone = [r for r in every if "first_scrape_alone" in r]
    print("| build | series | CPU s/tick alone | read | rules | collect | sweep | render | compress "
          "| CPU s/tick scraped | tick median s | tick max s | RSS MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        q, w = r.get("quiet", {}), r.get("window", {})
        ph = q.get("cpu_by_phase", {})
        cells = [f"{ph[p]:.3f}" if p in ph else "–" for p in ("read", "rules", "collect", "sweep", "render", "compress")]
        ts = w.get("tick_seconds", {})
        print(f"| {r['label']} | {r['series']:,} | {q.get('cpu_per_tick')} | " + " | ".join(cells) +
              f" | {r['cpu_per_tick']} | {ts.get('median', '–')} | {ts.get('max', '–')} | {r['rss_mib']} | {r['peak_rss_mib']} |")
    print()
    print("| build | series | job | first scrape s | median scrape s | scrapes | median / floor's |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in runs:
        floor = r["scrapes"].get("floor", {}).get("median")
        for job in ("bpfex", "floor", "prometheus-cpp"):
            s = r["scrapes"].get(job)
            if s:
                ratio = f"{s['median'] / floor:.2f}x" if floor else "–"
                print(f"| {r['label']} | {r['series']:,} | {job} | {s['first']} | {s['median']} | {s['count']} | {ratio} |")
    if alone:
        print()
        print("| build | series | bpfex first scrape s | floor first scrape s | prometheus-cpp first scrape s | bpfex / floor |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in alone:
            f = r["first_scrape_alone"]
            print(f"| {r['label']} | {r['series']:,} | {f['bpfex']} | {f['floor']} | {f['prometheus-cpp']} | "
                  f"{f['bpfex'] / f['floor']:.2f}x |")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        return table(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpfex", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--series", type=int, default=1000000)
    ap.add_argument("--minutes", type=float, default=4)
    ap.add_argument("--scrape-interval", default="30s")
    ap.add_argument("--label", default="bpfex")
    ap.add_argument("--rule", choices=sorted(RULES), default="lua")
    ap.add_argument("--quiet-seconds", type=float, default=60,
                    help="bpfex alone (servers idle, no Prometheus) before the scrape window")
    ap.add_argument("--first-scrapes", action="store_true",
                    help="instead of the window: each job's first scrape alone, one Prometheus per job in turn")
    ap.add_argument("--out")
    a = ap.parse_args()
    n = a.series
    work = tempfile.mkdtemp(prefix="bpfex-e2e-")
    pin_dir = f"/sys/fs/bpf/bpfex-e2e-{os.getpid()}"
    procs = []
    try:
        if subprocess.run(["mountpoint", "-q", "/sys/fs/bpf"]).returncode != 0:
            subprocess.check_call(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])
        os.makedirs(pin_dir)
        pin = pin_dir + "/e2e_flows"
        subprocess.check_call([a.peer, "fill", pin, str(n)], stdout=subprocess.DEVNULL)

        # bpfex, as a user configures it.
        port_b, port_e, port_f, port_p = free_port(), free_port(), free_port(), free_port()
        with open(f"{work}/rule.lua", "w") as f:
            f.write(RULES[a.rule])
        with open(f"{work}/bpfex.yaml", "w") as f:
            f.write(f"""listen: 127.0.0.1:{port_b}
tick_interval: 5s
state_dir: {work}/state
rule_limits: {{time_budget: 4s, memory: 1073741824}}
exposition: {{max_series: {n + 100000}, max_series_per_family: {n + 1000}}}
bpf:
  pin_path: {pin_dir}/pins
  maps:
    - {{name: flows, pinned: {pin}}}
""")
        log = open(f"{work}/bpfex.log", "w")
        bpfex = subprocess.Popen([a.bpfex, "run", "--config", f"{work}/bpfex.yaml", "--rules", f"{work}/rule.lua"],
                                 stdout=log, stderr=subprocess.STDOUT)
        procs.append(bpfex)
        health = f"http://127.0.0.1:{port_b}/health"
        wait_for("bpfex's first tick", lambda: json.loads(get(health)[0])["server"]["metrics"] >= n, 300)

        exposer = subprocess.Popen([a.peer, "exposer", str(n), str(port_e)], stdout=subprocess.DEVNULL)
        procs.append(exposer)
        wait_for("the Exposer", lambda: get(f"http://127.0.0.1:{port_e}/metrics", timeout=60), 300)

        # The floor serves what bpfex answers Prometheus (format and encoding).
        body, headers = get(f"http://127.0.0.1:{port_b}/metrics",
                            {"Accept": PROM_ACCEPT, "Accept-Encoding": "gzip"})
        with open(f"{work}/floor.body", "wb") as f:
            f.write(body)
        floor = subprocess.Popen([a.peer, "floor", str(port_f), f"{work}/floor.body", headers["Content-Type"],
                                  headers.get("Content-Encoding", "")], stdout=subprocess.DEVNULL)
        procs.append(floor)
        wait_for("the floor", lambda: get(f"http://127.0.0.1:{port_f}/metrics"), 30)
        # The floor's bytes were one late render: let bpfex's ticks settle into
        # the format Prometheus asks for before the window starts.
        time.sleep(6)

        interval = int(a.scrape_interval.rstrip("s"))
        timeout = f"{min(25, interval)}s"
        with open(f"{work}/prometheus.yml", "w") as f:
            f.write(f"""global: {{scrape_interval: {a.scrape_interval}, scrape_timeout: {timeout}}}
scrape_configs:
  - {{job_name: bpfex, static_configs: [{{targets: ['127.0.0.1:{port_b}']}}]}}
  - {{job_name: prometheus-cpp, static_configs: [{{targets: ['127.0.0.1:{port_e}']}}]}}
  - {{job_name: floor, static_configs: [{{targets: ['127.0.0.1:{port_f}']}}]}}
""")
        # Every tick's numbers, from /health (cheap at any size).
        ticks, rss = {}, []
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                try:
                    rss.append(status_kb(bpfex.pid, "VmRSS"))
                    t = json.loads(get(f"http://127.0.0.1:{port_b}/status/tick", timeout=5)[0])
                    if t:
                        ticks[t["tick"]] = t
                except Exception:  # a build without /status/tick, or a restart under way
                    pass
                stop.wait(0.5)

        poller = threading.Thread(target=poll)
        poller.start()
        # Quiet: bpfex alone, ticking with Prometheus' format wanted (the floor's
        # fetch asked for it): its own cost, with nothing else on the cores.
        q0, qc0 = json.loads(get(health)[0]), cpu_seconds(bpfex.pid)
        time.sleep(a.quiet_seconds)
        q1, qc1 = json.loads(get(health)[0]), cpu_seconds(bpfex.pid)
        quiet_ticks = {k: v for k, v in ticks.items() if q0["server"]["collections"] < k <= q1["server"]["collections"]}
        # A fresh bpfex for the window, so that Prometheus' first scrape is the
        # first request it ever had (no variant rendered ahead of demand), as
        # after a deploy. The map stays pinned.
        bpfex.terminate()
        bpfex.wait(60)
        procs.remove(bpfex)
        bpfex = subprocess.Popen([a.bpfex, "run", "--config", f"{work}/bpfex.yaml", "--rules", f"{work}/rule.lua"],
                                 stdout=log, stderr=subprocess.STDOUT)
        procs.append(bpfex)
        wait_for("bpfex's first tick after the restart", lambda: json.loads(get(health)[0])["server"]["metrics"] >= n, 300)
        ticks.clear()
        if a.first_scrapes:
            # Each job's first scrape with nothing else ingesting: a fresh
            # Prometheus per job, bpfex's first (its first request ever).
            out = {"label": a.label, "rule": a.rule, "series": n, "first_scrape_alone": {}}
            for job, port in (("bpfex", port_b), ("floor", port_f), ("prometheus-cpp", port_e)):
                with open(f"{work}/p-{job}.yml", "w") as f:
                    f.write(f"global: {{scrape_interval: 60s, scrape_timeout: 50s}}\n"
                            f"scrape_configs:\n  - {{job_name: {job}, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n")
                pp = subprocess.Popen(["prometheus", "--config.file", f"{work}/p-{job}.yml", "--storage.tsdb.path",
                                       f"{work}/p-{job}", "--web.listen-address", f"127.0.0.1:{port_p}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(pp)
                q = urllib.parse.quote("scrape_duration_seconds")
                res = wait_for(f"{job}'s first scrape", lambda: json.loads(
                    get(f"http://127.0.0.1:{port_p}/api/v1/query?query={q}")[0])["data"]["result"], 300)
                out["first_scrape_alone"][job] = round(float(res[0]["value"][1]), 3)
                pp.terminate()
                pp.wait(60)
                procs.remove(pp)
            stop.set()
            poller.join()
            line = json.dumps(out)
            print(line)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(line + "\n")
            return
        # The window: bpfex's CPU and ticks from Prometheus' start to the end.
        h0 = json.loads(get(health)[0])
        c0, t_start = cpu_seconds(bpfex.pid), time.time()
        prom = subprocess.Popen(["prometheus", "--config.file", f"{work}/prometheus.yml",
                                 "--storage.tsdb.path", f"{work}/prom", "--web.listen-address",
                                 f"127.0.0.1:{port_p}"], stdout=subprocess.DEVNULL,
                                stderr=open(f"{work}/prometheus.log", "w"))
        procs.append(prom)

        time.sleep(a.minutes * 60)
        stop.set()
        if prom.poll() is not None:
            sys.exit("e2e: prometheus exited:\n" + open(f"{work}/prometheus.log").read()[-2000:])
        poller.join()
        c1 = cpu_seconds(bpfex.pid)
        h1 = json.loads(get(health)[0])
        peak_kb = status_kb(bpfex.pid, "VmHWM")
        n_ticks = h1["server"]["collections"] - h0["server"]["collections"]

        q = urllib.parse.quote(f"scrape_duration_seconds[{int(a.minutes * 60) + 60}s]")
        res = json.loads(get(f"http://127.0.0.1:{port_p}/api/v1/query?query={q}")[0])["data"]["result"]
        q = urllib.parse.quote("scrape_samples_scraped")
        samples = {r["metric"]["job"]: float(r["value"][1]) for r in
                   json.loads(get(f"http://127.0.0.1:{port_p}/api/v1/query?query={q}")[0])["data"]["result"]}
        scrapes = {}
        for r in res:
            vals = [float(v) for _, v in sorted(r["values"], key=lambda x: x[0])]
            scrapes[r["metric"]["job"]] = vals

        out = {"label": a.label, "rule": a.rule, "series": n, "minutes": a.minutes,
               "ticks": n_ticks, "cpu_seconds": round(c1 - c0, 2),
               "cpu_per_tick": round((c1 - c0) / max(n_ticks, 1), 3),
               "rss_mib": round(statistics.median(rss) / 1024, 1) if rss else None,
               "peak_rss_mib": round(peak_kb / 1024, 1), "samples_scraped": samples, "scrapes": {}}
        for job, vals in scrapes.items():
            out["scrapes"][job] = {"first": round(vals[0], 3), "median": round(statistics.median(vals), 3),
                                   "count": len(vals), "all": [round(v, 3) for v in vals]}
        nq = q1["server"]["collections"] - q0["server"]["collections"]
        out["quiet"] = {"ticks": nq, "cpu_per_tick": round((qc1 - qc0) / max(nq, 1), 3)}
        for key, sample in (("quiet", quiet_ticks), ("window", ticks)):
            if not sample:
                continue
            per = list(sample.values())
            d = out.setdefault(key, {})
            d["tick_seconds"] = {"median": round(statistics.median(t["seconds"] for t in per), 3),
                                 "max": round(max(t["seconds"] for t in per), 3), "observed": len(per)}
            phases = [p for p in per[0].get("cpu", {})]
            d["cpu_by_phase"] = {p: round(statistics.median(t["cpu"].get(p, 0) for t in per), 4) for p in phases}

        line = json.dumps(out)
        print(line)
        if a.out:
            with open(a.out, "a") as f:
                f.write(line + "\n")
        for job in ("bpfex", "prometheus-cpp", "floor"):
            s = out["scrapes"].get(job, {})
            print(f"| {a.label} | {job} | {n} | {s.get('first')} | {s.get('median')} | {s.get('count')} |")
        print(f"bpfex alone: {out['quiet']}")
        print(f"bpfex while scraped: {n_ticks} ticks, {out['cpu_per_tick']} CPU s/tick, RSS {out['rss_mib']} MiB, "
              f"peak {out['peak_rss_mib']} MiB, {out.get('window')}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.path.exists(f"{work}/bpfex.log") and os.environ.get("E2E_KEEP"):
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["rm", "-rf", pin_dir])


if __name__ == "__main__":
    main()
