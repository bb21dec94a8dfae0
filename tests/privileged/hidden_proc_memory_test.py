#!/usr/bin/env python3
"""A service's memory as bpfex sees it deployed: /proc mounted
hidepid=invisible (what the unit's ProtectProc=invisible does), bpfex as an
unprivileged user, and the service as another user in a PID namespace of its
own (a container) inside a memory cgroup with a limit.
  - host.process_memory(pid) cannot see the service (the reason the shipped
    unit lost HighMemory's input);
  - host.cgroup_memory(path) reads the service's cgroup: its limit exactly,
    its use as the cgroup's own file says it, with the service's allocation
    in it; rules/ojeomneo.lua takes it through rule_params.ojeomneo_cgroup.

  hidden_proc_memory_test.py   (BPFEX in the environment)
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, sh, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
DAEMON, SERVICE = "bpfex-hm-d", "bpfex-hm-svc"
NAME = "bpfex-test-memory"
LIMIT = 64 << 20
ALLOC = 24 << 20
CAPS = "+bpf,+perfmon,+net_admin"


def cgroup():
    """(the cgroup's directory, the file of its use, the rule's path)."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2
        d = f"/sys/fs/cgroup/{NAME}"
        os.makedirs(d, exist_ok=True)
        open(f"{d}/memory.max", "w").write(str(LIMIT))
        return d, f"{d}/memory.current"
    d = f"/sys/fs/cgroup/memory/{NAME}"  # v1's memory controller
    os.makedirs(d, exist_ok=True)
    open(f"{d}/memory.limit_in_bytes", "w").write(str(LIMIT))
    return d, f"{d}/memory.usage_in_bytes"


def main():
    private_bpffs()
    made = []
    for user in (DAEMON, SERVICE):
        try:
            pwd.getpwnam(user)
        except KeyError:
            sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user)
            made.append(user)
    cg, usage_file = cgroup()
    d = tempfile.mkdtemp(prefix="bpfex-hidden-proc-")
    os.chmod(d, 0o755)
    svc = p = None
    try:
        # The service: its own user, its own PID namespace, in the cgroup,
        # holding ALLOC bytes it has touched.
        svc = subprocess.Popen(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec unshare --pid --fork --kill-child "
                                f"setpriv --reuid={SERVICE} --regid={SERVICE} --clear-groups /usr/bin/python3 -c "
                                f"\"b = bytearray({ALLOC}); b[::4096] = b'x' * len(b[::4096]); "
                                f"import time; print('ready', flush=True); time.sleep(120)\""],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if svc.stdout.readline().strip() != "ready":
            fail("the service did not start")
        svc_pid = int(open(f"{cg}/cgroup.procs").read().split()[0])
        # /proc as the unit's sandbox has it, for everything started from here.
        sh("mount", "-t", "proc", "-o", "hidepid=invisible", "proc", "/proc")
        shutil.copy(BPFEX, f"{d}/bpfex")
        with open(f"{d}/mem.lua", "w") as f:
            f.write("""
local current = metric.gauge("hm_cgroup_current_bytes", "the service's cgroup's memory use")
local limit = metric.gauge("hm_cgroup_limit_bytes", "the service's cgroup's memory limit")
local visible = metric.gauge("hm_process_visible", "1 when /proc shows the service's process")
on_tick(function()
  local m = host.cgroup_memory(params.cgroup)
  if m then current:set({}, m.current_bytes); limit:set({}, m.limit_bytes) end
  visible:set({}, host.process_memory(tonumber(params.pid)) and 1 or 0)
end)
""")
        port = free_port()
        rel = cg.replace("/sys/fs/cgroup/memory/", "").replace("/sys/fs/cgroup/", "")
        with open(f"{d}/bpfex.yaml", "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\ntick_interval: 200ms\nrules: [{d}/mem.lua]\n"
                    f"rule_params: {{cgroup: \"{rel}\", pid: \"{svc_pid}\"}}\n")
        log = open(f"{d}/bpfex.log", "w")
        p = subprocess.Popen(["setpriv", f"--reuid={DAEMON}", f"--regid={DAEMON}", "--clear-groups",
                              f"--bounding-set=-all,{CAPS}", f"--inh-caps=-all,{CAPS}", f"--ambient-caps=-all,{CAPS}",
                              f"{d}/bpfex", "run", "-c", f"{d}/bpfex.yaml"], stdout=log, stderr=log)
        m = wait_for("bpfex to serve the cgroup", lambda: "hm_cgroup_limit_bytes" in (t := series(metrics(port)))
                     and t, seconds=20)
        if m.get("hm_process_visible") != "0":
            fail("the service's process is visible through /proc: the test hides nothing")
        if float(m["hm_cgroup_limit_bytes"]) != LIMIT:
            fail(f"limit {m['hm_cgroup_limit_bytes']}, want {LIMIT}")
        have = float(m["hm_cgroup_current_bytes"])
        now = float(open(usage_file).read())
        if not (ALLOC <= have <= LIMIT) or abs(have - now) > (4 << 20):
            fail(f"use {have:.0f}: want the service's {ALLOC} or more, within 4 MiB of the cgroup's own {now:.0f}")
        print(f"ok - /proc hidden (hidepid=invisible), bpfex as {DAEMON}, the service as {SERVICE} in its own PID "
              f"namespace: process_memory sees nothing; cgroup_memory reads limit {LIMIT} exactly and use "
              f"{have:.0f} (the cgroup's file: {now:.0f})")
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"exit status {p.returncode}")
        print("PASS")
        return 0
    finally:
        for q in (p, svc):
            if q is not None and q.poll() is None:
                q.kill()
                q.wait()
        # The service's process outlives unshare (its parent-death signal
        # goes with its change of user): every process of the cgroup goes.
        for pid in open(f"{cg}/cgroup.procs").read().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)
        try:
            os.rmdir(cg)
        except OSError:
            pass
        for user in made:
            sh("userdel", user, check=False)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
