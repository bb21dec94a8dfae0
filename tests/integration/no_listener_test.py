#!/usr/bin/env python3
"""http.enabled: false, end to end: a daemon with no HTTP listener at all
still collects, evaluates alerts and pushes (Ironpost's metrics.enabled:
false). Against the real Pushgateway and the real Alertmanager:
  - bpfex listens on no TCP port (its /proc/<pid>/net/tcp has no LISTEN
    socket of its own inode);
  - the rule's counter reaches the Pushgateway, and grows between pushes;
  - the rule's alert reaches the Alertmanager;
  - SIGTERM: status 0 within 2 s, after the final push.

  no_listener_test.py   (BPFEX in the environment)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, listening_inodes, series, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
RULE = """
local runs = metric.counter("nolisten_runs_total", "runs of this rule")
local hot = alert{ name = "NoListenerHot", labels = { severity = "page" } }
on_tick(function()
  runs:add({}, 1)
  hot:fire({ where = "here" }, 1)
end)
"""


def get(url):
    return urllib.request.urlopen(url, timeout=5).read().decode()


def main():
    d = tempfile.mkdtemp(prefix="bpfex-nolisten-")
    gw, am = free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with open(d + "/am.yml", "w") as f:
            f.write("route: {receiver: none}\nreceivers: [{name: none}]\n")
        procs.append(subprocess.Popen(["prometheus-alertmanager", "--config.file", d + "/am.yml",
                                       "--storage.path", d + "/am", f"--web.listen-address=127.0.0.1:{am}",
                                       "--cluster.listen-address="],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for("pushgateway", lambda: get(f"http://127.0.0.1:{gw}/-/ready"), seconds=20)
        wait_for("alertmanager", lambda: get(f"http://127.0.0.1:{am}/-/ready"), seconds=30)
        with open(d + "/r.lua", "w") as f:
            f.write(RULE)
        with open(d + "/bpfex.yaml", "w") as f:
            f.write(f"""http: {{enabled: false}}
tick_interval: 200ms
rules: [{d}/r.lua]
push: {{gateway: "http://127.0.0.1:{gw}", job: nolisten, interval: 1s, families: ["nolisten_.*"]}}
alerting: {{alertmanagers: ["http://127.0.0.1:{am}"], resend_delay: 1s}}
""")
        log = open(d + "/bpfex.log", "w")
        p = subprocess.Popen([BPFEX, "run", "-c", d + "/bpfex.yaml"], stdout=log, stderr=log)
        procs.append(p)

        def pushed():
            s = series(get(f"http://127.0.0.1:{gw}/metrics"))
            for k, v in s.items():
                if k.startswith("nolisten_runs_total{") and 'job="nolisten"' in k:
                    return float(v)
            return None
        first = wait_for("a push", pushed, seconds=20)
        later = wait_for("a later push with more runs", lambda: (v := pushed()) and v > first and v, seconds=10)
        print(f"ok - no listener: the rule's counter reached the Pushgateway and grew ({first:g} -> {later:g})")
        if listening_inodes(p.pid):
            fail("bpfex listens on a TCP socket with http.enabled: false")
        print("ok - no TCP socket in LISTEN state held by bpfex")

        def alerted():
            alerts = json.loads(get(f"http://127.0.0.1:{am}/api/v2/alerts"))
            return any(a["labels"].get("alertname") == "NoListenerHot" and a["labels"].get("where") == "here"
                       for a in alerts)
        wait_for("the alert at the Alertmanager", alerted, seconds=20)
        print("ok - the rule's alert reached the Alertmanager")
        before = pushed()
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=5)
        took = time.time() - t0
        if rc != 0 or took > 2:
            fail(f"SIGTERM: status {rc} after {took:.2f} s:\n" + open(d + "/bpfex.log").read()[-2000:])
        after = pushed()
        if after is None or after < before:
            fail(f"no final push: {before} then {after}")
        print(f"ok - SIGTERM: status 0 in {took:.2f} s, final push {after:g}")
        print("PASS")
        return 0
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
                q.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
