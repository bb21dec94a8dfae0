#!/usr/bin/env python3
"""Slow and idle clients never starve scrapes.

300 clients connect and send half a request, and keep trickling a header
byte now and then (slowloris), while 200 more connect and send nothing. With
all of them held open, a scrape must still be answered in under a second,
every time, and /readyz too. Runs against `bpfex run` on loopback, with the
default configuration (no tuning for the test).
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request

BPFEX = os.environ["BPFEX"]
HALF_OPEN = 300
IDLE = 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_get(url):
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
        return r.status, time.monotonic() - t0, body


def main():
    port = free_port()
    p = subprocess.Popen([BPFEX, "run", "--listen", f"127.0.0.1:{port}", "--tick-interval", "1s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    socks = []
    failures = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if timed_get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("FAIL: bpfex never became ready")
                return 1
            time.sleep(0.1)
        for i in range(HALF_OPEN):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)
        for i in range(IDLE):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        print(f"holding {HALF_OPEN} half-open and {IDLE} idle connections")
        worst = 0.0
        for round_no in range(10):
            # The slow ones trickle a byte: still alive, never finished.
            for s in socks[:HALF_OPEN]:
                try:
                    s.send(b"x")
                except OSError:
                    pass
            for path in ("/metrics", "/readyz"):
                try:
                    status, took, body = timed_get(base + path)
                except OSError as e:
                    failures.append(f"round {round_no}: {path} failed: {e}")
                    continue
                worst = max(worst, took)
                if status != 200:
                    failures.append(f"round {round_no}: {path} answered {status}")
                if took >= 1.0:
                    failures.append(f"round {round_no}: {path} took {took:.3f} s")
                if path == "/metrics" and b"bpfex_build_info" not in body:
                    failures.append(f"round {round_no}: /metrics body incomplete")
            time.sleep(0.2)
        print(f"worst answer with {len(socks)} slow connections held: {worst * 1000:.1f} ms")
        if p.poll() is not None:
            failures.append(f"bpfex exited ({p.returncode})")
    finally:
        for s in socks:
            s.close()
        t0 = time.monotonic()
        p.terminate()
        try:
            p.wait(timeout=5)
            if time.monotonic() - t0 > 2:
                failures.append(f"SIGTERM took {time.monotonic() - t0:.2f} s")
        except subprocess.TimeoutExpired:
            p.kill()
            failures.append("SIGTERM did not stop bpfex")
    for f in failures:
        print("FAIL:", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
