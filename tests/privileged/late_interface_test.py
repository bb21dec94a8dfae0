#!/usr/bin/env python3
"""Interfaces named by `interface:` follow the host, as a VPN's TUN or a
service's veth does: bpfex starts first, the interface comes later, goes,
and comes back.
  - started with the interface absent: the object loads (its maps serve),
    the wait is said once and shown (bpfex_bpf_attachment_waiting 1);
  - the interface appears: XDP and TC attach, and count exactly what was
    sent (static neighbours, no IPv6: the datagrams are the only frames);
  - it is deleted and created again (a new ifindex): attached again, exact
    again;
  - XDP `mode` unset is auto: a driver without native XDP (a bridge) gets
    generic mode, shown as the mode label of bpfex_bpf_attachment_info;
  - SIGTERM: status 0.

  late_interface_test.py   (BPFEX, BPFEX_UDP_SEND in the environment)
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, netns_lab, private_bpffs, series, sh, veth, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
UDP = os.environ.get("BPFEX_UDP_SEND") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools", "udp_send.py")
NS, PEER = "bpfexlate", "bpfexlate-peer"
RULE = """
local g = metric.gauge("late_packets", "packets per interface and hook", { "ifindex", "hook" })
local m = bpf.map("traffic/bpfex_iface_stats")
on_tick(function() for k, v in m:entries() do g:set({ k.ifindex, k.hook }, v.packets) end end)
"""


def make_veth():
    return veth(NS, "lt0", "10.79.0.1", PEER, "ltp0", "10.79.0.2")


def ifindex():
    return int(re.match(r"(\d+):", sh("ip", "-n", NS, "-o", "link", "show", "lt0")).group(1))


def main():
    private_bpffs()
    netns_lab(NS, PEER)
    d = tempfile.mkdtemp(prefix="bpfex-late-")
    port = free_port()
    with open(d + "/late.lua", "w") as f:
        f.write(RULE)
    with open(d + "/bpfex.yaml", "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 200ms
rules: [{d}/late.lua]
bpf:
  pin_path: /sys/fs/bpf/bpfex-late
  objects:
    - name: traffic
      bundled: iface_traffic
      attach:
        - {{program: bpfex_xdp_count, type: xdp, interface: lt0}}
        - {{program: bpfex_tc_ingress, type: tc_ingress, interface: lt0}}
        - {{program: bpfex_xdp_count, type: xdp, interface: ltd0}}
""")
    log = open(d + "/bpfex.log", "w")
    p = None
    try:
        # bpfex first, in the namespace's network only (nsenter keeps /sys).
        p = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{NS}", BPFEX, "run", "-c", d + "/bpfex.yaml"],
                             stdout=log, stderr=log)

        def metrics():
            return sh("ip", "netns", "exec", NS, "curl", "-sf", f"http://127.0.0.1:{port}/metrics")

        def value(text, name, **labels):
            for k, v in series(text).items():
                if k.split("{")[0] == name and all(f'{a}="{b}"' in k for a, b in labels.items()):
                    return float(v)
            return None

        m = wait_for("bpfex to serve", lambda: "bpfex_bpf_attachment_waiting" in (t := metrics()) and t, seconds=20)
        for t in ("xdp", "tc_ingress"):
            if value(m, "bpfex_bpf_attachment_waiting", type=t, interface="lt0") != 1:
                fail(f"{t} on the absent lt0 is not shown waiting:\n" +
                     "\n".join(line for line in m.splitlines() if "attachment" in line or "bpf_errors" in line))
        if value(m, "bpfex_bpf_errors_total", operation="load", object="traffic"):
            fail("the object failed to load for want of its interface")
        log.flush()
        said = open(d + "/bpfex.log").read()
        if said.count("interface lt0 is not there now") != 2:  # xdp and tc_ingress, once each
            fail("the wait is not said once per attachment:\n" + said[-1500:])
        print("ok - started without lt0: the object loaded, both attachments shown waiting, said once each")

        def attached_and_exact(n, what):
            idx = ifindex()
            wait_for(f"attachment to lt0 ({what})", lambda: value(
                metrics(), "bpfex_bpf_attachment_info", type="xdp", interface="lt0", mode="native") == 1, seconds=10)
            m = metrics()
            if value(m, "bpfex_bpf_attachment_waiting", type="tc_ingress", interface="lt0") != 0:
                fail(f"tc_ingress still waiting ({what})")
            sh("ip", "netns", "exec", PEER, "python3", UDP, "send", "10.79.0.1", "7790", str(n))

            def counted():
                m = metrics()
                return (value(m, "late_packets", ifindex=str(idx), hook="BPFEX_HOOK_XDP") == n and
                        value(m, "late_packets", ifindex=str(idx), hook="BPFEX_HOOK_TC_INGRESS") == n)
            if not wait_for_quiet(counted):
                m = metrics()
                fail(f"lt0 ({what}, ifindex {idx}) counted " +
                     str([(line) for line in m.splitlines() if line.startswith("late_packets")]) + f", sent {n}")
            print(f"ok - lt0 {what}: XDP (native) and TC ingress attached, {n} datagrams counted exactly by both")

        make_veth()
        attached_and_exact(300, "created after bpfex")
        sh("ip", "-n", NS, "link", "del", "lt0")
        wait_for("lt0 shown waiting again", lambda: value(
            metrics(), "bpfex_bpf_attachment_waiting", type="xdp", interface="lt0") == 1, seconds=10)
        make_veth()
        attached_and_exact(200, "deleted and created again")

        sh("ip", "-n", NS, "link", "add", "ltd0", "type", "bridge")
        sh("ip", "-n", NS, "link", "set", "ltd0", "up")
        wait_for("ltd0 attached in generic mode", lambda: value(
            metrics(), "bpfex_bpf_attachment_info", type="xdp", interface="ltd0", mode="generic") == 1, seconds=10)
        print("ok - a bridge (no native XDP): attached in generic mode, shown as mode=\"generic\"")

        p.send_signal(signal.SIGTERM)
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
        subprocess.run(["rm", "-rf", d])


def wait_for_quiet(fn, seconds=5):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if fn():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    sys.exit(main())
