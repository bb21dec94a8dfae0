#!/usr/bin/env python3
"""The installed default, run as the unit runs it: a system user with only
CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (setpriv sets what systemd's User=,
CapabilityBoundingSet= and AmbientCapabilities= set), a pin directory the
unit's ExecStartPre made for it, in a network namespace of the test's own
(so "every interface" is that namespace's, not the host's).
  - bpfex loads the bundled object, attaches to every interface but lo, and
    serves NetProbe's series for the traffic sent over a veth;
  - the process holds those three capabilities and nothing else, as that user;
  - SIGTERM stops it with status 0.

  unprivileged_test.py DEFAULT_CONFIG   (the build's deploy/bpfex.yaml)
"""
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, private_bpffs, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER = "bpfex-test"
NS, PEER = "bpfexunpriv", "bpfexunpriv-peer"
CAPS = {"bpf": 39, "perfmon": 38, "net_admin": 12}


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True).stdout


def in_ns(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def main():
    default_cfg = sys.argv[1]
    private_bpffs()
    created_user = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER)
        created_user = True
    for ns in (NS, PEER):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
    d = tempfile.mkdtemp(prefix="bpfex-unpriv-")
    os.chmod(d, 0o755)
    p = None
    try:
        in_ns(NS, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "u0", "netns", NS, "type", "veth", "peer", "name", "u1", "netns", PEER)
        in_ns(NS, "ip", "addr", "add", "10.78.0.1/30", "dev", "u0")
        in_ns(PEER, "ip", "addr", "add", "10.78.0.2/30", "dev", "u1")
        in_ns(NS, "ip", "link", "set", "u0", "up")
        in_ns(PEER, "ip", "link", "set", "u1", "up")
        # What the unit's ExecStartPre does, with full privileges.
        user = pwd.getpwnam(USER)
        os.makedirs("/sys/fs/bpf/bpfex", exist_ok=True)
        os.chown("/sys/fs/bpf/bpfex", user.pw_uid, user.pw_gid)
        os.chmod("/sys/fs/bpf/bpfex", 0o700)
        # The installed default, with a port of the test's. What the unit's
        # user runs and reads is copied out of the checkout, as the package
        # installs it: a checkout is often unreadable to other users (a 0700
        # home, as Debian 12 makes them, /root, a mktemp -d).
        port = free_port()
        os.makedirs(d + "/rules")  # the operator's rules: none
        os.makedirs(d + "/share")
        os.makedirs(d + "/bin")
        shutil.copy(BPFEX, d + "/bin/bpfex")
        shutil.copy(os.path.join(ROOT, "rules/netprobe.lua"), d + "/share/netprobe.lua")
        text = open(default_cfg).read()
        text = re.sub(r"[^\s\[,]*/share/bpfex/rules/netprobe\.lua", d + "/share/netprobe.lua", text)
        text = re.sub(r"[^\s\[,]*/bpfex/rules\]", d + "/rules]", text)
        text = re.sub(r"^listen: .*$", f"listen: 127.0.0.1:{port}", text, flags=re.M)
        text = re.sub(r"^state_dir: .*$", f"state_dir: {d}/state", text, flags=re.M)
        os.makedirs(d + "/state")
        os.chown(d + "/state", user.pw_uid, user.pw_gid)
        with open(d + "/bpfex.yaml", "w") as f:
            f.write(text)
        caps = ",".join("+" + c for c in CAPS)
        log = open(d + "/bpfex.log", "w")
        # nsenter, not `ip netns exec`: only the network namespace, /sys (and
        # the bpffs on /sys/fs/bpf) stay as they are.
        p = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{NS}", "setpriv", f"--reuid={USER}", f"--regid={USER}",
                              "--clear-groups", f"--bounding-set=-all,{caps}", f"--inh-caps=-all,{caps}",
                              f"--ambient-caps=-all,{caps}", d + "/bin/bpfex", "run", "-c", d + "/bpfex.yaml"],
                             stdout=log, stderr=log)

        def metrics():
            return in_ns(NS, "curl", "-sf", f"http://127.0.0.1:{port}/metrics")
        wait_for("bpfex to serve as " + USER, lambda: "bpfex_bpf_interface_attachments" in metrics(), seconds=20)
        in_ns(PEER, "ping", "-q", "-c", "5", "-i", "0.05", "10.78.0.1")
        time.sleep(6)  # a tick (5 s in the default)
        m = metrics()
        pkts = re.search(r'netprobe_tc_packets_total\{interface="u0",ifindex="\d+",direction="ingress"\} (\d+)', m)
        if not pkts or int(pkts.group(1)) < 5:
            fail("no NetProbe counts for u0 as an unprivileged user:\n" + open(d + "/bpfex.log").read()[-2000:] +
                 "\n".join(l for l in m.splitlines() if "netprobe_tc_packets" in l or "bpfex_bpf_errors" in l))
        attached = re.search(r'bpfex_bpf_interface_attachments\{object="traffic"\} (\d+)', m)
        if not attached or int(attached.group(1)) < 2:  # u0, ingress and egress
            fail("not attached to u0: " + (attached.group(0) if attached else "no bpfex_bpf_interface_attachments"))
        print(f"ok - as {USER} with three capabilities: attached to every interface but lo, u0 counted "
              f"{pkts.group(1)} packets in")
        # The process: that user, those capabilities, nothing more.
        pid = int(sh("pgrep", "-f", "-n", f"bpfex run -c {d}/bpfex.yaml").strip())
        status = open(f"/proc/{pid}/status").read()
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1), 16)
        bnd = int(re.search(r"^CapBnd:\s+([0-9a-f]+)", status, re.M).group(1), 16)
        want = sum(1 << b for b in CAPS.values())
        if uid != user.pw_uid or eff != want or bnd != want:
            fail(f"uid {uid} (want {user.pw_uid}), CapEff {eff:#x}, CapBnd {bnd:#x} (want {want:#x})")
        print(f"ok - uid {uid}, effective and bounding capabilities exactly bpf, perfmon, net_admin ({want:#x})")
        os.kill(pid, signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"exit status {p.returncode}:\n" + open(d + "/bpfex.log").read()[-2000:])
        print("ok - SIGTERM: status 0")
        print("PASS")
        return 0
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        for ns in (NS, PEER):
            sh("ip", "netns", "del", ns, check=False)
        if created_user:
            sh("userdel", USER, check=False)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
