#!/usr/bin/env python3
"""A node's faults, injected into a running daemon under scrapes (issue #32's
fault-injection suite). bpfex serves an XDP and TC object on a veth, a rule
with an alert, alert for-state in a state_dir on a small tmpfs, delivery to
an Alertmanager that accepts connections and never answers, and pushes to a
Pushgateway that answers 500. A scraper runs throughout and must never fail.
Each fault is injected, checked for its report, and removed:

  - XDP detached by another tool (ip link set dev X xdp off): attached again
    (bpfex_bpf_interface_changes_total{change="reattach"}), counts exact;
  - the TC filter deleted (tc filter del): attached again;
  - state_dir read-only, then full: counted (bpfex_state_write_errors_total),
    said once, written again when the fault goes;
  - bpffs unmounted, then mounted again: the loaded maps keep counting;
  - SIGSTOP for 3 s, then SIGCONT: ticks resume without a burst;
  - the peer's namespace deleted (the veth goes): the attachment waits;
  - throughout: the black-holed Alertmanager and the 500-ing Pushgateway are
    counted as failures, queues stay bounded, and SIGTERM stops bpfex in 2 s.

  faults_test.py   (BPFEX, BPFEX_UDP_SEND in the environment)
"""
import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, netns_lab, private_bpffs, series, sh, veth, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
UDP = os.environ.get("BPFEX_UDP_SEND") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools", "udp_send.py")
NS, PEER = "bpfexfault", "bpfexfault-peer"
RULE = """
local g = metric.gauge("fault_packets", "packets per hook", { "ifindex", "hook" })
local m = bpf.map("traffic/bpfex_iface_stats")
local hot = alert{ name = "FaultTestHot" }
on_tick(function()
  for k, v in m:entries() do g:set({ k.ifindex, k.hook }, v.packets) end
  hot:fire({ where = "here" }, 1)
end)
"""


class Failing(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.end_headers()
    do_POST = do_PUT

    def log_message(self, *a):
        pass


def main():
    private_bpffs()
    netns_lab(NS, PEER)
    ifindex = veth(NS, "fa0", "10.81.0.1", PEER, "fap0", "10.81.0.2")

    d = tempfile.mkdtemp(prefix="bpfex-faults-")
    state = d + "/state"
    os.makedirs(state)
    sh("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state)  # this test's mount namespace only
    # The Alertmanager: accepts, never answers. The Pushgateway: 500.
    am_sock = socket.socket()
    am_sock.bind(("127.0.0.1", 0))
    am_sock.listen(64)
    gw = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=gw.serve_forever, daemon=True).start()
    port = free_port()
    with open(d + "/r.lua", "w") as f:
        f.write(RULE)
    with open(d + "/bpfex.yaml", "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 200ms
state_dir: {state}
rules: [{d}/r.lua]
alerting: {{alertmanagers: ["http://127.0.0.1:{am_sock.getsockname()[1]}"], timeout: 1s, resend_delay: 1s}}
push: {{gateway: "http://127.0.0.1:{gw.server_address[1]}", job: faults, interval: 1s, timeout: 1s, retries: 0}}
bpf:
  pin_path: /sys/fs/bpf/bpfex-faults
  objects:
    - name: traffic
      bundled: iface_traffic
      attach:
        - {{program: bpfex_xdp_count, type: xdp, interface: fa0}}
        - {{program: bpfex_tc_ingress, type: tc_ingress, interface: fa0}}
""")
    log = open(d + "/bpfex.log", "w")
    p = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{NS}", BPFEX, "run", "-c", d + "/bpfex.yaml"],
                         stdout=log, stderr=log)
    scrapes = {"ok": 0, "failed": 0, "stop": False, "paused": False}

    def get(path="/metrics"):
        return sh("ip", "netns", "exec", NS, "curl", "-sf", "--max-time", "2", f"http://127.0.0.1:{port}{path}")

    # Held around each scrape: a pause (SIGSTOP) waits for the scrape in flight,
    # which would otherwise time out against the stopped daemon and count as failed.
    scrape_lock = threading.Lock()

    def scraper():
        while not scrapes["stop"]:
            with scrape_lock:
                if not scrapes["paused"]:
                    try:
                        get()
                        scrapes["ok"] += 1
                    except subprocess.CalledProcessError:
                        scrapes["failed"] += 1
            time.sleep(0.1)

    def m():
        return series(get())

    def v(text, name, **labels):
        for k, x in text.items():
            if k.split("{")[0] == name and all(f'{a}="{b}"' in k for a, b in labels.items()):
                return float(x)
        return 0.0

    def said():
        log.flush()
        return open(d + "/bpfex.log").read()

    def exact(n, what):
        before = m()
        x0 = v(before, "fault_packets", ifindex=str(ifindex), hook="BPFEX_HOOK_XDP")
        t0 = v(before, "fault_packets", ifindex=str(ifindex), hook="BPFEX_HOOK_TC_INGRESS")
        sh("ip", "netns", "exec", PEER, "python3", UDP, "send", "10.81.0.1", "7799", str(n))
        wait_for(f"{n} datagrams counted by XDP and TC ({what})", lambda: (
            v(t := m(), "fault_packets", ifindex=str(ifindex), hook="BPFEX_HOOK_XDP") == x0 + n and
            v(t, "fault_packets", ifindex=str(ifindex), hook="BPFEX_HOOK_TC_INGRESS") == t0 + n), seconds=10)

    try:
        wait_for("bpfex ready", lambda: get("/readyz"), seconds=20)
        threading.Thread(target=scraper, daemon=True).start()
        exact(100, "at start")
        print("ok - serving: XDP and TC count exactly, under scrapes")

        sh("ip", "-n", NS, "link", "set", "dev", "fa0", "xdp", "off")
        wait_for("XDP attached again", lambda: v(m(), "bpfex_bpf_interface_changes_total", object="traffic",
                                                 change="reattach") >= 1, seconds=10)
        exact(100, "after xdp off")
        sh("tc", "-n", NS, "filter", "del", "dev", "fa0", "ingress")
        wait_for("TC attached again", lambda: v(m(), "bpfex_bpf_interface_changes_total", object="traffic",
                                                change="reattach") >= 2, seconds=10)
        exact(100, "after tc filter del")
        print("ok - XDP and TC detached by other tools: attached again, counted (reattach), counts exact")

        def state_errors():
            return v(m(), "bpfex_state_write_errors_total", file="alerts_for_state.json")
        sh("mount", "-o", "remount,ro", state)
        wait_for("a read-only state_dir counted", lambda: state_errors() >= 2, seconds=10)
        sh("mount", "-o", "remount,rw", state)
        wait_for("written again", lambda: "alert for-state: written again" in said(), seconds=10)
        with open(state + "/fill", "wb") as f:
            try:
                f.write(b"x" * (512 << 10))
            except OSError:
                pass  # ENOSPC: the disk is full, as intended
        errs = state_errors()
        wait_for("a full state_dir counted", lambda: state_errors() > errs, seconds=10)
        os.unlink(state + "/fill")
        time.sleep(1)
        if said().count("retried every evaluation") != 2:
            fail("each state_dir fault is not said exactly once:\n" + said()[-2000:])
        print(f"ok - state_dir read-only, then full: counted ({state_errors():g} failed writes), said once each, "
              "written again after")

        sh("umount", "/sys/fs/bpf")
        exact(50, "bpffs unmounted")
        sh("mount", "-t", "bpf", "bpf", "/sys/fs/bpf")
        exact(50, "bpffs mounted again")
        print("ok - bpffs unmounted and mounted again: the loaded maps kept counting")

        ticks0 = v(m(), "bpfex_ticks_total")
        with scrape_lock:  # the scrape in flight, if any, is done
            scrapes["paused"] = True
        p.send_signal(signal.SIGSTOP)
        time.sleep(3)
        p.send_signal(signal.SIGCONT)
        time.sleep(1.0)
        ticks1 = v(m(), "bpfex_ticks_total")
        scrapes["paused"] = False
        # 4 s at 200 ms would be 20 ticks if the missed ones were caught up.
        if ticks1 - ticks0 > 8:
            fail(f"{ticks1 - ticks0:g} ticks in the second after SIGCONT: a burst of catch-up ticks")
        if "skipped them" not in said():
            fail("the stop is not said")
        print(f"ok - SIGSTOP for 3 s: {ticks1 - ticks0:g} ticks across the stop and the second after it, no burst")

        sh("ip", "netns", "del", PEER)
        wait_for("the attachment waiting", lambda: v(m(), "bpfex_bpf_attachment_waiting", type="xdp",
                                                      interface="fa0") == 1, seconds=10)
        print("ok - the peer's namespace deleted (the veth went): the attachment waits, the daemon serves")

        t = m()
        am_errors = v(t, "bpfex_notifications_errors_total") + v(t, "bpfex_notifications_dropped_total")
        push_failed = v(t, "bpfex_push_total", result="failed")
        if am_errors < 1 or push_failed < 1:
            fail(f"the dead peers are not counted: notifications errors+dropped {am_errors}, push failures {push_failed}")
        if v(t, "bpfex_notifications_queue_length") > 10000:
            fail("the notification queue grew without bound")
        if scrapes["failed"]:
            fail(f"{scrapes['failed']} of {scrapes['ok'] + scrapes['failed']} scrapes failed during the faults")
        print(f"ok - a black-holed Alertmanager ({am_errors:g} failures) and a 500-ing Pushgateway "
              f"({push_failed:g} failed pushes) counted; {scrapes['ok']} scrapes, none failed")
        scrapes["stop"] = True
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
        if rc != 0 or time.time() - t0 > 2.5:
            fail(f"SIGTERM: status {rc} after {time.time() - t0:.2f} s")
        print(f"ok - SIGTERM: status 0 in {time.time() - t0:.2f} s")
        print("PASS")
        return 0
    finally:
        scrapes["stop"] = True
        if p.poll() is None:
            p.kill()
            p.wait()
        gw.shutdown()
        am_sock.close()
        for ns in (NS, PEER):
            sh("ip", "netns", "del", ns, check=False)
        sh("umount", state, check=False)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
