#!/usr/bin/env python3
"""Crash consistency of the state directory: `bpfex run` is killed with
SIGKILL at random moments, over and over, while it rewrites its state files
every tick (alerts_for_state.json with hundreds of pending alerts, and the
starts counter). After every kill, each state file that exists must parse as
what bpfex writes, and the next start must find nothing to set aside. Then:
a truncated state file is reported, set aside (.corrupt) and never fatal,
and the alerts' for-state still comes back after a clean restart.

  crash_consistency_test.py [KILLS]   (default 200)
"""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
RULE = """
local hot = alert{ name = "Hot", ["for"] = "1h", labels = { severity = "page" },
                   annotations = { summary = "{{ $labels.cpu }} is hot" } }
on_tick(function()
  for cpu = 1, 400 do hot:fire({ cpu = tostring(cpu), pad = string.rep("x", 64) }, cpu) end
end)
"""


def check_state(d, when):
    path = os.path.join(d, "state", "alerts_for_state.json")
    if os.path.exists(path):
        text = open(path, "rb").read()
        try:
            j = json.loads(text)
        except ValueError as e:
            fail(f"{when}: alerts_for_state.json does not parse ({e}): {len(text)} bytes, ends {text[-60:]!r}")
        if not isinstance(j.get("alerts"), list) or not isinstance(j.get("written_at"), (int, float)):
            fail(f"{when}: alerts_for_state.json is not what bpfex writes: {text[:200]!r}")
    starts = os.path.join(d, "state", "starts")
    if os.path.exists(starts):
        s = open(starts).read()
        if not s.strip().isdigit():
            fail(f"{when}: starts holds {s!r}")
    if os.path.exists(path + ".corrupt"):
        fail(f"{when}: a start found a corrupt alerts_for_state.json")


def main():
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rng = random.Random(int(os.environ.get("BPFEX_TEST_SEED", "20261207")))
    d = tempfile.mkdtemp(prefix="bpfex-crash-")
    port = free_port()
    with open(os.path.join(d, "hot.lua"), "w") as f:
        f.write(RULE)
    with open(os.path.join(d, "bpfex.yaml"), "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\ntick_interval: 100ms\nstate_dir: {d}/state\n"
                f"rules: [{d}/hot.lua]\nbpf: {{objects: []}}\n")
    log = open(os.path.join(d, "bpfex.log"), "w")
    cmd = [BPFEX, "run", "-c", os.path.join(d, "bpfex.yaml")]
    try:
        written = 0
        for i in range(kills):
            p = subprocess.Popen(cmd, stdout=log, stderr=log)
            time.sleep(rng.uniform(0.02, 0.5))
            p.send_signal(signal.SIGKILL)
            p.wait()
            check_state(d, f"kill {i + 1}")
            written += os.path.exists(os.path.join(d, "state", "alerts_for_state.json"))
        if written < kills // 2:
            fail(f"the state file was written before only {written} of {kills} kills: the loop tested little")
        print(f"ok - {kills} SIGKILLs at random points: every state file parsed after each")
        # A truncated file (as a filesystem without the fsync could leave):
        # reported, set aside, the daemon serves.
        path = os.path.join(d, "state", "alerts_for_state.json")
        text = open(path).read()
        with open(path, "w") as f:
            f.write(text[: len(text) // 2])
        p = subprocess.Popen(cmd, stdout=log, stderr=log)
        wait_for("readyz", lambda: subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/readyz"],
                                                    capture_output=True).returncode == 0, seconds=20)
        if not os.path.exists(path + ".corrupt"):
            fail("the truncated state file was not set aside")
        log.flush()
        if "truncated or corrupt" not in open(os.path.join(d, "bpfex.log")).read():
            fail("the truncated state file was not reported")
        print("ok - a truncated alerts_for_state.json: reported, set aside as .corrupt, the daemon ready")
        # The for-state survives a clean restart: what was pending stays
        # pending for as long as it had been (active_at moves by the downtime,
        # as Prometheus restores it), never reset to the new start.
        def active_at():
            j = json.loads(open(path).read())
            return {a["labels"]["cpu"]: a["active_at"] for a in j["alerts"] if a["alert"] == "Hot"}
        wait_for("state written", lambda: len(active_at()) == 400, seconds=20)
        time.sleep(2.5)
        first = active_at()
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"SIGTERM: exit status {p.returncode}")
        restart = time.time()
        p = subprocess.Popen(cmd, stdout=log, stderr=log)
        time.sleep(1.0)
        again = active_at()
        bad = [(k, first[k], again.get(k)) for k in first
               if again.get(k) is None or not first[k] <= again[k] <= restart - 1.5]
        if bad:
            fail(f"for-state not restored after a restart (restart at {restart:.3f}): {bad[:3]}")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=5)
        print("ok - the alerts' for-state survived a restart (active_at moved by the downtime only)")
        print("PASS")
    finally:
        subprocess.run(["pkill", "-9", "-f", f"bpfex run -c {d}/bpfex.yaml"])
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
