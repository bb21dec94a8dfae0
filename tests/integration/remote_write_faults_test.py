#!/usr/bin/env python3
"""Remote write when the receiver misbehaves. bpfex ticks every second.

  outage     the real Prometheus receiver stopped for BPFEX_RW_OUTAGE
             seconds (default 120) and started again on the same storage:
             every tick's bpfex_ticks_total and rule counter arrive, once,
             in order; nothing dropped, the retries counted.
  refusals   rw_receiver.py answers 400 to some requests and 429 with
             Retry-After: 5 to one: the 400s are dropped and counted
             exactly (bpfex's failed and sent totals equal what the receiver
             refused and accepted), the rest flow; no request comes within
             5 s of the 429.
  slow       a receiver that reads at 10 KiB/s, 20,000 series a tick and
             remote_write_memory 4 MiB: the queue stays under the cap, the
             oldest ticks are dropped and counted, bpfex's peak RSS stays
             within the cap (plus slack) of the same daemon without remote
             write, ticks keep their rate and scrapes stay fast.
  spool      with a spool: the receiver down, bpfex kill -9'd and started
             again, then the receiver back: every tick of both runs arrives
             in order (the gap is the time bpfex was not running).
  headless   http.enabled: false: no listener, and the rule's series and
             alert state still reach the receiver.
  hostile    at once: a receiver that never answers, one that closes mid-
             body, one that answers 200 with garbage, one that redirects:
             ticks and scrapes go on, the redirect is refused for good
             (not retried), and SIGTERM still ends bpfex within its 5 s flush.

  remote_write_faults_test.py   (BPFEX in the environment)
"""
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from testlib import fail, free_port, listening_inodes, series, wait_for  # noqa: E402
import rw_receiver  # noqa: E402

BPFEX = os.environ["BPFEX"]
OUTAGE = float(os.environ.get("BPFEX_RW_OUTAGE", "120"))

COUNTER_RULE = """
local c = metric.counter("rwf_ticks_total", "ticks of this rule")
on_tick(function() c:add({}, 1) end)
"""
WIDE_RULE = """
local g = metric.gauge("rwf_wide", "many series", {"i", "pad"})
local n = 0
on_tick(function()
  n = n + 1
  for i = 1, 20000 do g:set({tostring(i), "padding-to-make-the-text-longer"}, n + i) end
end)
"""


def get(url, timeout=5):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


class Daemon:
    def __init__(self, d, name, body, rule):
        self.d, self.port = d, free_port()
        rule_path = os.path.join(d, name + ".lua")
        with open(rule_path, "w") as f:
            f.write(rule)
        self.cfg = os.path.join(d, name + ".yaml")
        with open(self.cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{self.port}\ntick_interval: 1s\nrules: [{rule_path}]\n"
                    f"external_labels: {{job: {name}}}\n" + body)
        self.log_path = os.path.join(d, name + ".log")
        self.proc = subprocess.Popen([BPFEX, "run", "--config", self.cfg], stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT)
        wait_for(name + " to serve", lambda: "bpfex_ticks_total" in self.metrics(), seconds=30)

    def metrics(self):
        return series(get(f"http://127.0.0.1:{self.port}/metrics"))

    def value(self, name, **labels):
        want = dict(labels, __name__=name)
        for k, v in self.metrics().items():
            if rw_receiver.labels_of_text_series(k) == want:
                return float(v)
        return None

    def stop(self, within=8.0):
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"bpfex did not stop within {within} s of SIGTERM:\n" + open(self.log_path).read()[-3000:])
        if rc != 0:
            fail(f"bpfex exited {rc}:\n" + open(self.log_path).read()[-3000:])
        return time.time() - t0

    def peak_rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0


def start_prometheus(d, port):
    return subprocess.Popen(
        ["prometheus", "--config.file", os.path.join(d, "prometheus.yml"), "--storage.tsdb.path", os.path.join(d, "prom"),
         "--web.listen-address", f"127.0.0.1:{port}", "--web.enable-remote-write-receiver"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def outage(d):
    prom_port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global: {}\n")
    prom = start_prometheus(d, prom_port)
    wait_for("Prometheus", lambda: "Ready" in get(f"http://127.0.0.1:{prom_port}/-/ready"))
    url = f"http://127.0.0.1:{prom_port}/api/v1/write"
    b = Daemon(d, "outage", f"remote_write:\n  - url: {url}\n    name: prom\n"
               "    queue_config: {batch_send_deadline: 1s, max_backoff: 2s}\n", COUNTER_RULE)
    time.sleep(4)
    prom.send_signal(signal.SIGTERM)
    prom.wait(timeout=30)
    t_down = time.time()
    time.sleep(OUTAGE)
    retried = b.value("bpfex_remote_write_samples_retried_total", remote_name="prom", url=url)
    pending = b.value("bpfex_remote_write_samples_pending", remote_name="prom", url=url)
    prom = start_prometheus(d, prom_port)
    wait_for("Prometheus again", lambda: "Ready" in get(f"http://127.0.0.1:{prom_port}/-/ready"))
    t_up = time.time()
    # Caught up: the newest sent timestamp reaches the newest queued one.
    wait_for("the backlog to drain", lambda: b.value("bpfex_remote_write_samples_pending", remote_name="prom", url=url) < 5000
             and b.value("bpfex_remote_write_highest_sent_timestamp_seconds", remote_name="prom", url=url) > t_up, seconds=60)
    time.sleep(2)
    last_tick = b.value("bpfex_ticks_total")
    dropped = b.value("bpfex_remote_write_samples_dropped_total", remote_name="prom", url=url, reason="memory")
    b.stop()
    if dropped != 0:
        fail(f"outage: {dropped} samples dropped for memory during a {OUTAGE:.0f} s outage")
    ok_count = 0
    for name in ("bpfex_ticks_total", "rwf_ticks_total"):
        q = urllib.parse.quote(f'{name}{{job="outage"}}[30m]')
        res = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}&time={time.time():.3f}"))["data"]["result"]
        if len(res) != 1:
            fail(f"outage: {name}: {len(res)} series at Prometheus")
        vals = [(float(ts), float(v)) for ts, v in res[0]["values"]]
        ts = [t for t, _ in vals]
        if ts != sorted(ts) or len(set(ts)) != len(ts):
            fail(f"outage: {name}: timestamps out of order or repeated")
        first, last = vals[0][1], vals[-1][1]
        got = [v for _, v in vals]
        want = [first + i for i in range(len(vals))]
        if got != want:
            missing = sorted(set(range(int(first), int(last) + 1)) - set(int(v) for v in got))
            fail(f"outage: {name}: {len(missing)} ticks missing, e.g. {missing[:5]}")
        during = sum(1 for t in ts if t_down <= t <= t_down + OUTAGE)
        if during < OUTAGE * 0.9:
            fail(f"outage: {name}: only {during} samples from the {OUTAGE:.0f} s the receiver was down")
        ok_count = len(vals)
        if name == "bpfex_ticks_total" and last < last_tick:
            fail(f"outage: the last tick sent ({last}) is behind bpfex ({last_tick})")
    prom.send_signal(signal.SIGTERM)
    prom.wait(timeout=30)
    if not retried or retried <= 0:
        fail(f"outage: bpfex_remote_write_samples_retried_total was {retried} during the outage")
    print(f"outage: {OUTAGE:.0f} s down, {pending:.0f} samples pending at its end; after it every one of "
          f"{ok_count} ticks arrived once and in order ({retried:.0f} samples retried)")


def refusals(d):
    port = free_port()
    state = {"final": False, "t429": None}

    def behaviour(n, handler):
        if state["final"]:
            return (503, {}, b"closing")
        if n == 3:
            state["t429"] = time.time()
            return (429, {"Retry-After": "5"}, b"slow down")
        if n >= 5 and n % 4 == 1:
            return (400, {}, b"out of bounds")
        return None
    rx = rw_receiver.Receiver(port, behaviour)
    url = f"http://127.0.0.1:{port}/write"
    b = Daemon(d, "refusals", f"remote_write:\n  - url: {url}\n    name: flaky\n"
               "    queue_config: {batch_send_deadline: 1s, max_samples_per_send: 100}\n", COUNTER_RULE)
    wait_for("20 requests", lambda: len(rx.requests) >= 20, seconds=60)
    state["final"] = True
    time.sleep(3)
    with rx.lock:
        settled = [r[:] for r in rx.requests]
    time.sleep(2.5)  # two ticks: bpfex's counters take in every answered request
    sent = b.value("bpfex_remote_write_samples_total", remote_name="flaky", url=url)
    failed = b.value("bpfex_remote_write_samples_failed_total", remote_name="flaky", url=url)
    code400 = b.value("bpfex_remote_write_requests_total", remote_name="flaky", url=url, code="400")
    b.stop()
    rx.close()
    accepted = sum(c for _, st, c in settled if st == 204)
    refused = sum(c for _, st, c in settled if st == 400)
    n400 = sum(1 for _, st, _ in settled if st == 400)
    if rx.problems:
        fail("refusals: " + "; ".join(rx.problems[:3]))
    if sent != accepted or failed != refused or code400 != n400:
        fail(f"refusals: bpfex counts sent {sent}, failed {failed}, 400s {code400}; the receiver accepted "
             f"{accepted} samples, refused {refused} in {n400} requests")
    after = [t for t, _, _ in settled if t > state["t429"]]
    if not after or after[0] - state["t429"] < 5.0:
        fail(f"refusals: a request {after[0] - state['t429']:.2f} s after a 429 with Retry-After: 5")
    # The refused batches are gone; the others carried on after them.
    if not any(st == 204 for _, st, _ in settled[settled.index(next(r for r in settled if r[1] == 400)):]):
        fail("refusals: nothing was accepted after the first 400")
    print(f"refusals: {n400} requests refused with 400 ({refused:.0f} samples counted failed, not retried), "
          f"{accepted:.0f} accepted; the next request came {after[0] - state['t429']:.2f} s after a 429 with Retry-After: 5")


def slow(d):
    # The same daemon without remote write, for its peak RSS.
    base = Daemon(d, "wide_base", "", WIDE_RULE)
    time.sleep(15)
    base_rss = base.peak_rss_kib()
    base.stop()

    port = free_port()

    def behaviour(n, handler):
        return None
    rx = rw_receiver.Receiver(port, behaviour)
    # Reads at 10 KiB/s: a handler that trickles the body in.
    orig = rx.server.RequestHandlerClass.do_POST

    def trickle(handler):
        length = int(handler.headers.get("Content-Length", "0"))
        body = b""
        while len(body) < length:
            body += handler.rfile.read(min(1024, length - len(body)))
            time.sleep(0.1)
        handler.rfile = __import__("io").BytesIO(body)
        orig(handler)
    rx.server.RequestHandlerClass.do_POST = trickle
    url = f"http://127.0.0.1:{port}/write"
    cap = 4 << 20
    b = Daemon(d, "wide_slow", f"remote_write_memory: {cap}\nremote_write:\n  - url: {url}\n    name: slow\n"
               "    remote_timeout: 120s\n    queue_config: {max_shards: 1}\n", WIDE_RULE)
    t0, tick0 = time.time(), b.value("bpfex_ticks_total")
    worst_scrape, worst_pending = 0.0, 0.0
    while time.time() - t0 < 15:
        s0 = time.time()
        m = b.metrics()
        worst_scrape = max(worst_scrape, time.time() - s0)
        for k, v in m.items():
            if k.startswith("bpfex_remote_write_memory_used_bytes"):
                worst_pending = max(worst_pending, float(v))
        time.sleep(0.5)
    ticks = b.value("bpfex_ticks_total") - tick0
    elapsed = time.time() - t0
    dropped = b.value("bpfex_remote_write_samples_dropped_total", remote_name="slow", url=url, reason="memory")
    rss = b.peak_rss_kib()
    b.stop(within=10)
    rx.close()
    if worst_pending > cap:
        fail(f"slow: {worst_pending:.0f} bytes queued, over remote_write_memory {cap}")
    if not dropped or dropped <= 0:
        fail("slow: nothing was dropped for memory by a receiver reading at 10 KiB/s")
    if ticks < elapsed - 3:
        fail(f"slow: {ticks:.0f} ticks in {elapsed:.1f} s: the slow receiver delayed ticks")
    if worst_scrape > 1.0:
        fail(f"slow: a scrape took {worst_scrape:.2f} s")
    # The queue may hold the cap, the round being sent its parsed items and request.
    slack_kib = cap // 1024 + 24 * 1024
    if rss > base_rss + slack_kib:
        fail(f"slow: peak RSS {rss} KiB, against {base_rss} KiB without remote write (allowed {slack_kib} KiB more)")
    print(f"slow: queue at most {worst_pending / 1048576:.1f} MiB of a {cap >> 20} MiB cap, {dropped:.0f} samples dropped "
          f"for memory; peak RSS {rss >> 10} MiB against {base_rss >> 10} MiB without remote write; {ticks:.0f} ticks in "
          f"{elapsed:.1f} s, slowest scrape {worst_scrape * 1000:.0f} ms")


class RawServer:
    """A TCP server whose handler does something no HTTP server should."""

    def __init__(self, handle):
        class H(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    handle(self.request)
                except OSError:
                    pass

        class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True
        self.server = S(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def read_request_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def hostile(d):
    stop = threading.Event()

    def never(sock):
        read_request_head(sock)
        stop.wait(60)

    def closes(sock):
        read_request_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
        sock.shutdown(socket.SHUT_RDWR)

    def garbage(sock):
        read_request_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n\x00\xff\xfegarbage!!")

    def redirect(sock):
        read_request_head(sock)
        sock.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n")
    servers = {name: RawServer(fn) for name, fn in
               (("never", never), ("closes", closes), ("garbage", garbage), ("redirect", redirect))}
    body = "remote_write:\n" + "".join(
        f"  - url: http://127.0.0.1:{s.port}/write\n    name: {name}\n    remote_timeout: 2s\n"
        "    queue_config: {batch_send_deadline: 1s, max_backoff: 1s}\n" for name, s in servers.items())
    b = Daemon(d, "hostile", body, COUNTER_RULE)
    t0, tick0 = time.time(), b.value("bpfex_ticks_total")
    worst = 0.0
    while time.time() - t0 < 12:
        s0 = time.time()
        b.metrics()
        worst = max(worst, time.time() - s0)
        time.sleep(0.3)
    ticks = b.value("bpfex_ticks_total") - tick0
    elapsed = time.time() - t0

    def val(name, server, **kw):
        return b.value(name, remote_name=server, url=f"http://127.0.0.1:{servers[server].port}/write", **kw) or 0
    redirect_failed = val("bpfex_remote_write_samples_failed_total", "redirect")
    redirect_retried = val("bpfex_remote_write_samples_retried_total", "redirect")
    garbage_sent = val("bpfex_remote_write_samples_total", "garbage")
    never_retried = val("bpfex_remote_write_samples_retried_total", "never")
    closes_retried = val("bpfex_remote_write_samples_retried_total", "closes")
    took = b.stop(within=7)
    stop.set()
    for s in servers.values():
        s.close()
    if ticks < elapsed - 3:
        fail(f"hostile: {ticks:.0f} ticks in {elapsed:.1f} s")
    if worst > 1.0:
        fail(f"hostile: a scrape took {worst:.2f} s")
    if redirect_failed <= 0 or redirect_retried != 0:
        fail(f"hostile: a redirect should be refused for good, not retried: failed {redirect_failed}, retried {redirect_retried}")
    if garbage_sent <= 0:
        fail("hostile: a 200 with a garbage body is an acceptance; nothing counted sent")
    if never_retried <= 0 or closes_retried <= 0:
        fail(f"hostile: timeouts and cut replies are retried: never {never_retried}, closes {closes_retried}")
    print(f"hostile: {ticks:.0f} ticks in {elapsed:.1f} s, slowest scrape {worst * 1000:.0f} ms; redirect refused "
          f"({redirect_failed:.0f} samples), silence and cut replies retried; SIGTERM to exit {took:.1f} s")


def spool(d):
    """The spool across a kill -9: the receiver down, bpfex killed and
    started again, then the receiver back: every tick of both runs arrives,
    in order; what falls between is the time bpfex was not running."""
    prom_port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global: {}\n")
    url = f"http://127.0.0.1:{prom_port}/api/v1/write"
    state = os.path.join(d, "spool-state")
    body = (f"state_dir: {state}\nremote_write:\n  - url: {url}\n    name: prom\n    spool: {{max_bytes: 67108864}}\n"
            "    queue_config: {batch_send_deadline: 1s, max_backoff: 1s}\n")

    def after_a_tick(b):
        t0 = b.value("bpfex_ticks_total")
        wait_for("a tick", lambda: b.value("bpfex_ticks_total") != t0, seconds=5, every=0.05)
        time.sleep(0.3)  # the spool thread writes it
        return b.value("bpfex_ticks_total")
    b = Daemon(d, "spool", body, COUNTER_RULE)
    time.sleep(6)
    k1 = after_a_tick(b)
    b.proc.kill()
    b.proc.wait()
    t_kill = time.time()
    segs = [f for f in os.listdir(os.path.join(state, "remote_write", "prom")) if f.endswith(".seg")]
    b = Daemon(d, "spool", body, COUNTER_RULE)
    t_back = time.time()
    time.sleep(4)
    k2 = after_a_tick(b)
    prom = start_prometheus(d, prom_port)
    try:
        wait_for("Prometheus", lambda: "Ready" in get(f"http://127.0.0.1:{prom_port}/-/ready"))
        wait_for("the spool to drain", lambda: b.value("bpfex_remote_write_samples_pending", remote_name="prom", url=url) == 0
                 and b.value("bpfex_remote_write_highest_sent_timestamp_seconds", remote_name="prom", url=url) > t_back + 4,
                 seconds=60)
        left = b.value("bpfex_remote_write_spool_bytes", remote_name="prom", url=url)
        b.stop()
        q = urllib.parse.quote('bpfex_ticks_total{job="spool"}[30m]')
        res = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}&time={time.time():.3f}"))["data"]["result"]
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait(timeout=30)
    if len(res) != 1:
        fail(f"spool: {len(res)} bpfex_ticks_total series at Prometheus")
    vals = [(float(ts), int(float(v))) for ts, v in res[0]["values"]]
    first = [v for ts, v in vals if ts < t_kill]
    second = [v for ts, v in vals if ts > t_kill]
    if [ts for ts, _ in vals] != sorted(ts for ts, _ in vals):
        fail("spool: samples out of order")
    if first != list(range(len(first))) or len(first) < k1 + 1:
        fail(f"spool: the first run's ticks 0..{k1:.0f} should all arrive, got {first}")
    if second[:1] != [0] or second != list(range(len(second))) or len(second) < k2 + 1:
        fail(f"spool: the second run's ticks 0..{k2:.0f} should all arrive, got {second}")
    print(f"spool: {len(segs)} segment(s) on disk at the kill -9; ticks 0..{first[-1]} of the first run and "
          f"0..{second[-1]} of the second arrived in order once the receiver came back; "
          f"{t_back - t_kill:.1f} s without bpfex is the gap; {left:.0f} bytes left in the spool after")


def headless(d):
    """http.enabled: false with remote_write: a whole deployment with no
    listener: the rule's counter and the alert state reach the receiver."""
    port = free_port()
    rx = rw_receiver.Receiver(port)
    rule = os.path.join(d, "headless.lua")
    with open(rule, "w") as f:
        f.write(COUNTER_RULE + 'local a = alert{ name = "HeadlessUp" }\non_tick(function() a:fire({}, 1) end)\n')
    cfg = os.path.join(d, "headless.yaml")
    with open(cfg, "w") as f:
        f.write(f"http: {{enabled: false}}\ntick_interval: 1s\nrules: [{rule}]\nexternal_labels: {{job: headless}}\n"
                f"remote_write:\n  - url: http://127.0.0.1:{port}/write\n    queue_config: {{batch_send_deadline: 1s}}\n")
    p = subprocess.Popen([BPFEX, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ticks():
            with rx.lock:
                return [v for k, s in rx.samples.items() if dict(k)["__name__"] == "rwf_ticks_total" for _, v in s
                        if not rw_receiver.is_stale(v)]
        wait_for("the headless daemon's counter at the receiver", lambda: len(ticks()) >= 4, seconds=30)
        if listening_inodes(p.pid):
            fail("headless: bpfex listens on a TCP port with http.enabled: false")
        with rx.lock:
            alerts = [dict(k) for k in rx.samples if dict(k)["__name__"] == "ALERTS"]
        if not any(a.get("alertname") == "HeadlessUp" and a.get("alertstate") == "firing" for a in alerts):
            fail(f"headless: ALERTS at the receiver: {alerts}")
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
        rx.close()
    if rc != 0:
        fail(f"headless: exit status {rc}")
    print(f"headless: no listener; {len(ticks())} ticks of the rule's counter and the firing alert reached the receiver")


def main():
    d = tempfile.mkdtemp(prefix="bpfex-rwf-")
    only = sys.argv[1:] or ["headless", "refusals", "hostile", "slow", "spool", "outage"]
    try:
        for name in only:
            globals()[name](d)
    finally:
        subprocess.run(["rm", "-rf", d])
    print("PASS")


if __name__ == "__main__":
    main()
