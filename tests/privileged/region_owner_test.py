#!/usr/bin/env python3
"""Regions a service can own (bpf.pin_group): bpfex runs as the unit runs
it (its own user, three capabilities, a 0700 pin directory its
ExecStartPre made), and the application runs after it as a user of its own,
with no capability, a member of the region group only.
  - bpfex gives the pin directory to the group to search (0710) and the
    counter region to read and write (0660); nothing else of its pins;
  - the application maps the region and counts: bpfex serves exactly what
    bpftool reads from the same map;
  - a user outside the group cannot open the region.

  region_owner_test.py   (BPFEX, BPFEX_IRONPOST_CLIENT in the environment)
"""
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
CLIENT = os.environ["BPFEX_IRONPOST_CLIENT"]
DAEMON, APP, OTHER, GROUP = "bpfex-rt-d", "bpfex-rt-app", "bpfex-rt-other", "bpfex-rt-regions"
PIN = "/sys/fs/bpf/bpfex-own"
CAPS = "+bpf,+perfmon,+net_admin"
RULE = """
local g = metric.gauge("own_logs_collected", "the region's logs_collected")
local region = bpf.map("app/ironpost_counters")
on_tick(function() for _, v in region:entries() do g:set({}, v.logs_collected) end end)
"""


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


def main():
    private_bpffs()
    made = []
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        sh("groupadd", "--system", GROUP)
        made.append(("groupdel", GROUP))
    for user in (DAEMON, APP, OTHER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user)
            made.insert(0, ("userdel", user))
    sh("usermod", "-a", "-G", GROUP, DAEMON)
    sh("usermod", "-a", "-G", GROUP, APP)
    d = tempfile.mkdtemp(prefix="bpfex-region-owner-")
    os.chmod(d, 0o755)
    p = None
    try:
        # What the package installs: copies a checkout's 0700 home would hide.
        for name, src in (("bpfex", BPFEX), ("client", CLIENT)):
            shutil.copy(src, f"{d}/{name}")
        with open(f"{d}/own.lua", "w") as f:
            f.write(RULE)
        port = free_port()
        with open(f"{d}/bpfex.yaml", "w") as f:
            f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 200ms
rules: [{d}/own.lua]
bpf:
  pin_path: {PIN}
  pin_group: {GROUP}
  objects:
    - {{name: app, bundled: ironpost_region}}
""")
        daemon = pwd.getpwnam(DAEMON)
        os.makedirs(PIN, exist_ok=True)  # the unit's ExecStartPre: bpfex's own, 0700
        os.chown(PIN, daemon.pw_uid, daemon.pw_gid)
        os.chmod(PIN, 0o700)
        log = open(f"{d}/bpfex.log", "w")
        p = subprocess.Popen(["setpriv", f"--reuid={DAEMON}", f"--regid={DAEMON}", f"--groups={GROUP}",
                              f"--bounding-set=-all,{CAPS}", f"--inh-caps=-all,{CAPS}", f"--ambient-caps=-all,{CAPS}",
                              f"{d}/bpfex", "run", "-c", f"{d}/bpfex.yaml"], stdout=log, stderr=log)
        wait_for("bpfex to serve", lambda: "own_logs_collected" in metrics(port) or
                 os.path.exists(f"{PIN}/ironpost_counters") and metrics(port), seconds=20)
        gid = grp.getgrnam(GROUP).gr_gid
        dir_st, reg_st = os.stat(PIN), os.stat(f"{PIN}/ironpost_counters")
        if (stat.S_IMODE(dir_st.st_mode), dir_st.st_gid) != (0o710, gid):
            fail(f"the pin directory is {oct(stat.S_IMODE(dir_st.st_mode))} group {dir_st.st_gid}, want 0o710 {gid}")
        if (stat.S_IMODE(reg_st.st_mode), reg_st.st_gid, reg_st.st_uid) != (0o660, gid, daemon.pw_uid):
            fail(f"the region's pin is {oct(stat.S_IMODE(reg_st.st_mode))} group {reg_st.st_gid}, want 0o660 {gid}")
        for entry in os.listdir(PIN):
            st = os.stat(f"{PIN}/{entry}")
            if entry != "ironpost_counters" and stat.S_IMODE(st.st_mode) & 0o077:
                fail(f"{entry}, not a region, is open to others: {oct(stat.S_IMODE(st.st_mode))}")
        print(f"ok - bpfex as {DAEMON}: pin directory 0710 and the region 0660 for group {GROUP}, nothing else")

        other = sh("setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups", "--bounding-set=-all",
                   f"{d}/client", "--pin", f"{PIN}/ironpost_counters", check=False)
        if other.returncode == 0:
            fail("a user outside the region group mapped the region")
        app = sh("setpriv", f"--reuid={APP}", f"--regid={APP}", f"--groups={GROUP}", "--bounding-set=-all",
                 f"{d}/client", "--pin", f"{PIN}/ironpost_counters", check=False)
        if app.returncode != 0:
            fail(f"the application in the group could not use its region: {app.stderr}")
        print(f"ok - {APP} (no capability, in the group) mapped and counted; {OTHER} (outside it) was refused: "
              + other.stderr.strip().splitlines()[0])

        dump = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", f"{PIN}/ironpost_counters").stdout)
        want = dump[0]["formatted"]["value"]["logs_collected"]
        if not want:
            fail("bpftool reads no logs_collected: the client counted nothing")
        wait_for(f"bpfex to serve logs_collected {want}",
                 lambda: float(series(metrics(port)).get("own_logs_collected", "-1")) == want, seconds=10)
        print(f"ok - bpfex serves own_logs_collected {want}, as bpftool reads it from the region")
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"exit status {p.returncode}:\n" + open(f"{d}/bpfex.log").read()[-2000:])
        print("PASS")
        return 0
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        for cmd, name in made:
            sh(cmd, name, check=False)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
