#!/usr/bin/env python3
"""Remote write against the agents it replaces (issue #28), in one run.

Per series count N, with a pinned N-entry BPF hash re-exported by
`bpf.export` (bench/e2e_peer fills it) and one VictoriaMetrics single node
as the receiver of everything:
  alone      bpfex collecting, nobody scraping, nothing sent (the baseline);
  bpfex      bpfex with remote_write to the receiver;
  bpfex-spool  the same with the spool (a write-ahead log on disk, as the
             agents keep theirs);
  agent      bpfex without it, scraped every tick by the Prometheus agent
             (prometheus --enable-feature=agent), which forwards;
  vmagent    the same with Debian's vmagent.
Each phase runs alone for the window after a warm-up. For each it reports
CPU seconds per 5 s tick (from /proc) and peak RSS of bpfex and of the
agent, and the samples the receiver took in the window
(vm_rows_inserted_total{type="promremotewrite"}), so costs compare per
sample delivered. Nothing is lost if delivered / window equals the series
per tick times the ticks.

  bench/remote_write.py --bpfex build/src/bpfex --peer build/bench/e2e_peer \
      --series 100000 --window 60 [--out results.jsonl]

Needs root (BPF maps), prometheus, victoria-metrics and vmagent on PATH.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from testlib import free_port, wait_for  # noqa: E402

RULE = """
bpf.export(bpf.map("flows"), metric.counter("e2e_flow_packets_total", "Packets per flow.",
                                            {"ifindex", "proto", "flow", "zone"}), "packets")
"""


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def vm_rows(vm_port):
    for line in get(f"http://127.0.0.1:{vm_port}/metrics").splitlines():
        if line.startswith('vm_rows_inserted_total{type="promremotewrite"}'):
            return float(line.split()[-1])
    return 0.0


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def phase(name, a, work, pin_dir, pin, vm_port):
    n = a.series
    port = free_port()
    rw = ""
    if name in ("bpfex", "bpfex-spool"):
        rw = f"remote_write:\n  - url: http://127.0.0.1:{vm_port}/api/v1/write\n    name: vm\n"
    if name == "bpfex-spool":  # a write-ahead log on disk, as the agents keep theirs
        rw = f"state_dir: {work}/state\n" + rw + "    spool: {max_bytes: 4294967296}\n"
    cfg = f"{work}/{name}.yaml"
    with open(cfg, "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 5s
exposition: {{max_series: {n + 100000}, max_series_per_family: {n + 1000}}}
external_labels: {{job: bench, phase: {name}}}
bpf:
  pin_path: {pin_dir}/pins
  maps:
    - {{name: flows, pinned: {pin}}}
{rw}""")
    procs = []
    bpfex = subprocess.Popen([a.bpfex, "run", "--config", cfg, "--rules", f"{work}/rule.lua"],
                             stdout=open(f"{work}/{name}.bpfex.log", "w"), stderr=subprocess.STDOUT)
    procs.append(bpfex)
    agent = None
    try:
        wait_for("bpfex's first tick", lambda: json.loads(get(f"http://127.0.0.1:{port}/health"))["server"]["metrics"] >= n, 300)
        scrape = (f"global: {{scrape_interval: 5s, scrape_timeout: 5s, external_labels: {{phase: {name}}}}}\n"
                  f"scrape_configs:\n  - {{job_name: bench, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n")
        if name != "bpfex":
            with open(f"{work}/{name}.yml", "w") as f:
                f.write(scrape + (f"remote_write:\n  - url: http://127.0.0.1:{vm_port}/api/v1/write\n" if name == "agent" else ""))
        if name == "agent":
            agent = subprocess.Popen(["prometheus", "--enable-feature=agent", f"--config.file={work}/{name}.yml",
                                      f"--storage.agent.path={work}/agent-data", f"--web.listen-address=127.0.0.1:{free_port()}"],
                                     stdout=subprocess.DEVNULL, stderr=open(f"{work}/agent.log", "w"))
        elif name == "vmagent":
            agent = subprocess.Popen(["vmagent", f"-promscrape.config={work}/{name}.yml",
                                      f"-remoteWrite.url=http://127.0.0.1:{vm_port}/api/v1/write",
                                      f"-remoteWrite.tmpDataPath={work}/vmagent-data", f"-httpListenAddr=127.0.0.1:{free_port()}",
                                      "-promscrape.maxScrapeSize=1GB"],  # its default 16 MB refuses a 1M-series scrape
                                     stdout=subprocess.DEVNULL, stderr=open(f"{work}/vmagent.log", "w"))
        if agent:
            procs.append(agent)
        # Warm-up: the receiver takes this phase's samples steadily.
        r0 = vm_rows(vm_port)
        if name != "alone":
            wait_for("samples at the receiver", lambda: vm_rows(vm_port) > r0 + n, 300, every=1)
        time.sleep(a.warmup)
        c0 = {p.pid: cpu_seconds(p.pid) for p in procs}
        rows0, t0 = vm_rows(vm_port), time.time()
        time.sleep(a.window)
        c1 = {p.pid: cpu_seconds(p.pid) for p in procs}
        rows1, t1 = vm_rows(vm_port), time.time()
        ticks = (t1 - t0) / 5
        out = {"phase": name, "series": n, "window_s": round(t1 - t0, 1),
               "delivered": rows1 - rows0, "delivered_per_tick": round((rows1 - rows0) / ticks),
               "bpfex_cpu_per_tick": round((c1[bpfex.pid] - c0[bpfex.pid]) / ticks, 4),
               "bpfex_peak_rss_mib": round(peak_rss_mib(bpfex.pid), 1)}
        if agent:
            out["agent_cpu_per_tick"] = round((c1[agent.pid] - c0[agent.pid]) / ticks, 4)
            out["agent_peak_rss_mib"] = round(peak_rss_mib(agent.pid), 1)
        if name.startswith("bpfex"):
            for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
                if line.startswith("bpfex_remote_write_samples_dropped_total") or \
                        line.startswith("bpfex_remote_write_samples_failed_total"):
                    if float(line.split()[-1]) > 0:
                        out.setdefault("bpfex_lost", {})[line.rpartition(" ")[0]] = float(line.split()[-1])
        return out
    finally:
        for p in reversed(procs):
            stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpfex", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--series", type=int, default=100000)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--phases", default="alone,bpfex,bpfex-spool,agent,vmagent")
    ap.add_argument("--out")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bpfex-rwbench-")
    pin_dir = f"/sys/fs/bpf/bpfex-rwbench-{os.getpid()}"
    vm = None
    try:
        if subprocess.run(["mountpoint", "-q", "/sys/fs/bpf"]).returncode != 0:
            subprocess.check_call(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])
        os.makedirs(pin_dir)
        pin = pin_dir + "/e2e_flows"
        subprocess.check_call([a.peer, "fill", pin, str(a.series)], stdout=subprocess.DEVNULL)
        with open(f"{work}/rule.lua", "w") as f:
            f.write(RULE)
        vm_port = free_port()
        vm = subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{vm_port}", f"-storageDataPath={work}/vm",
                               "-retentionPeriod=1d"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("VictoriaMetrics", lambda: get(f"http://127.0.0.1:{vm_port}/health").strip() == "OK")
        for name in a.phases.split(","):
            r = phase(name, a, work, pin_dir, pin, vm_port)
            print(json.dumps(r), flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
    finally:
        if vm:
            stop(vm)
        shutil.rmtree(pin_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
