#!/usr/bin/env python3
"""The peer for range functions: the real Prometheus evaluating rate() over a
5 m range of N series with 61 samples each (5 s apart), the shape
bench/history_bench measures bpfex on. The samples are backfilled with
promtool; the time is Prometheus' own evalTotalTime (stats=all), the median
of 7 queries after one warm-up, so JSON encoding of the result is not counted.
  promql_peer.py N [N ...]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10000, 100000]
    print("| series | Prometheus rate() over 5m, all series, ms (evalTotalTime) | ns/series |")
    print("|---:|---:|---:|")
    for n in sizes:
        d = tempfile.mkdtemp(prefix="bpfex-promql-peer-")
        try:
            base_s = int(time.time()) - 3 * 3600
            om = os.path.join(d, "h.om")
            protos = ["tcp", "udp", "icmp", "other"]
            with open(om, "w") as f:
                f.write("# TYPE h gauge\n")
                for i in range(n):
                    labels = f'flow="{i // 4}",proto="{protos[i % 4]}"'
                    for tick in range(61):
                        f.write(f"h{{{labels}}} {tick * (i + 1)} {base_s + tick * 5}\n")
                f.write("# EOF\n")
            data = os.path.join(d, "data")
            os.mkdir(data)
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", om, data], check=True,
                           stdout=subprocess.DEVNULL)
            os.remove(om)
            cfg = os.path.join(d, "p.yml")
            open(cfg, "w").write("global: {scrape_interval: 1m}\n")
            port = free_port()
            p = subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path", data,
                                  "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.retention.time", "10y"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    try:
                        if urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200:
                            break
                    except OSError:
                        time.sleep(0.2)
                q = urllib.parse.urlencode({"query": "rate(h[5m])", "time": base_s + 300, "stats": "all"})
                times = []
                for rep in range(8):
                    body = json.load(urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=600))
                    assert len(body["data"]["result"]) == n, len(body["data"]["result"])
                    if rep > 0:
                        times.append(body["data"]["stats"]["timings"]["evalTotalTime"])
                times.sort()
                ms = times[len(times) // 2] * 1000
                print(f"| {n} | {ms:.2f} | {ms * 1e6 / n:.0f} |", flush=True)
            finally:
                p.terminate()
                p.wait()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
