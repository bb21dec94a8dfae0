#!/usr/bin/env python3
"""Per-event cost of tracing metrics (issue #31), measured with the kernel's
own accounting: bpfex loads bench/trace_cost.bpf.c with `bpf.stats: true`
(fd-scoped BPF_ENABLE_STATS) and serves each program's run count and run time
(bpfex_bpf_program_run_count_total, ..._run_time_seconds_total); a process
makes N getppid() calls per round; each program's mean ns per run over the
round, median of the rounds, and the difference to the empty program on the
same hook in the same run. Every syscall on the host fires the hooks, so the
runs counted are the witness's and everyone else's alike.
  trace_cost.py BPFEX TRACE_COST_BPF_O WITNESS [N] [ROUNDS]     (root)"""
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PROGRAMS = ["empty_enter", "count_nr_hash", "count_nr_array", "lat_enter", "lat_exit"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stats(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for prog in PROGRAMS:
        c = re.search(r'bpfex_bpf_program_run_count_total\{[^}]*program="%s"[^}]*\} (\S+)' % prog, text)
        t = re.search(r'bpfex_bpf_program_run_time_seconds_total\{[^}]*program="%s"[^}]*\} (\S+)' % prog, text)
        if c and t:
            out[prog] = (float(c.group(1)), float(t.group(1)))
    return out


def main():
    bpfex, obj, witness = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    d = tempfile.mkdtemp(prefix="bpfex-trace-cost-")
    port = free_port()
    attach = "\n".join(f"        - {{program: {p}}}" for p in PROGRAMS)
    with open(d + "/bpfex.yaml", "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\ntick_interval: 500ms\nbpf:\n  pin_path: /sys/fs/bpf/bpfex-trace-cost\n"
                f"  stats: true\n  objects:\n    - name: cost\n      file: {obj}\n      attach:\n{attach}\n")
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          'mount -t bpf bpf /sys/fs/bpf && exec "$0" run -c "$1"', bpfex, d + "/bpfex.yaml"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if len(stats(port)) == len(PROGRAMS):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        w = subprocess.Popen([witness], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        w.stdout.readline()
        per = {prog: [] for prog in PROGRAMS}
        for _ in range(rounds):
            time.sleep(1.1)  # a tick: what is served is settled
            before = stats(port)
            w.stdin.write(f"run {n}\n")
            w.stdin.flush()
            w.stdout.readline()
            time.sleep(1.1)
            after = stats(port)
            for prog in PROGRAMS:
                runs = after[prog][0] - before[prog][0]
                per[prog].append((after[prog][1] - before[prog][1]) * 1e9 / runs if runs else float("nan"))
        w.stdin.write("exit\n")
        w.stdin.flush()
        w.wait()
        load = open("/proc/loadavg").read().split()[:3]
        print(f"# {n} getppid() per round, {rounds} rounds, median ns per run (min, max); load {' '.join(load)}")
        floor = statistics.median(per["empty_enter"])
        print("| program | median ns/event | min | max | over the empty program |")
        print("|---|---:|---:|---:|---:|")
        for prog in PROGRAMS:
            v = per[prog]
            m = statistics.median(v)
            over = "" if prog == "empty_enter" else f"+{m - floor:.0f} ns"
            print(f"| {prog} | {m:.0f} | {min(v):.0f} | {max(v):.0f} | {over} |")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
