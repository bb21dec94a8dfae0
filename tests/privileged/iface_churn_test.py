#!/usr/bin/env python3
"""Interfaces that come and go while traffic flows (NetProbe on a node).

bpfex runs the bundled iface_traffic object with TC ingress and egress
attached by pattern (`interfaces: {match: "c[0-9]+"}`) in a namespace of its
own, and rules/netprobe.lua. While pings flow over a first veth, 20 more are
created; bpfex attaches to each as the kernel announces it (rtnetlink),
before the link is up, so it sees every packet. Then 10 are deleted.
  - every survivor's netprobe_tc_packets_total equals the kernel's own
    rx_packets (ingress) and tx_packets (egress) for it, exactly;
  - the deleted ones leave /metrics, and their entries leave the map;
  - each survivor carries exactly one bpfex filter per direction, and none
    after bpfex exits;
  - bpfex's open file descriptors are the same after the churn as before;
  - the churn is counted: bpfex_bpf_interface_changes_total, and
    bpfex_bpf_interface_attachments;
  - every panel query of the NetProbe dashboard (grafana/dashboards/
    netprobe.json) returns data on a real Prometheus scraping this bpfex.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, private_bpffs, teardown, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS_A, NS_B = "bpfexchurn-a", "bpfexchurn-b"  # A: watched by bpfex; B: the peers
NEW, DELETE = 20, 10


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True).stdout


def in_a(*cmd, check=True):
    return sh("ip", "netns", "exec", NS_A, *cmd, check=check)


def in_b(*cmd, check=True):
    return sh("ip", "netns", "exec", NS_B, *cmd, check=check)


def metrics(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def make_veth(k):
    """c<k> in A (10.77.k.1) <-> p<k> in B (10.77.k.2), down, no IPv6 (no stray packets)."""
    sh("ip", "link", "add", f"c{k}", "netns", NS_A, "type", "veth", "peer", "name", f"p{k}", "netns", NS_B)
    in_a("sysctl", "-qw", f"net.ipv6.conf.c{k}.disable_ipv6=1")
    in_b("sysctl", "-qw", f"net.ipv6.conf.p{k}.disable_ipv6=1")
    in_a("ip", "addr", "add", f"10.77.{k}.1/30", "dev", f"c{k}")
    in_b("ip", "addr", "add", f"10.77.{k}.2/30", "dev", f"p{k}")


def link_up(k):
    in_b("ip", "link", "set", f"p{k}", "up")
    in_a("ip", "link", "set", f"c{k}", "up")
    # Permanent neighbours: no ARP comes and goes while the counts are read.
    mac_a = in_a("cat", f"/sys/class/net/c{k}/address").strip()
    mac_b = in_b("cat", f"/sys/class/net/p{k}/address").strip()
    in_a("ip", "neigh", "replace", f"10.77.{k}.2", "lladdr", mac_b, "dev", f"c{k}", "nud", "permanent")
    in_b("ip", "neigh", "replace", f"10.77.{k}.1", "lladdr", mac_a, "dev", f"p{k}", "nud", "permanent")


def attaches(port):
    return sample(metrics(port), "bpfex_bpf_interface_changes_total", object="traffic", change="attach") or 0


def kernel_counts(k):
    rx = int(in_a("cat", f"/sys/class/net/c{k}/statistics/rx_packets"))
    tx = int(in_a("cat", f"/sys/class/net/c{k}/statistics/tx_packets"))
    return rx, tx


def bpfex_filters(k, direction):
    out = in_a("tc", "filter", "show", "dev", f"c{k}", direction, check=False)
    # One line per filter with its handle; the kernel keeps 15 characters of
    # a program's name (bpfex_tc_ingres).
    return len(re.findall(r"handle \S+ bpfex_tc_\w+:", out))


def main():
    private_bpffs()
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
    in_a("ip", "link", "set", "lo", "up")
    in_b("ip", "link", "set", "lo", "up")
    d = tempfile.mkdtemp(prefix="bpfex-churn-")
    port = free_port()
    with open(os.path.join(d, "bpfex.yaml"), "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 1s
rules: [{ROOT}/rules/netprobe.lua]
rule_params: {{netprobe_netns: {NS_A}, netprobe_rate_window: 5s}}
bpf:
  pin_path: /sys/fs/bpf/bpfex-churn
  objects:
    - name: traffic
      bundled: iface_traffic
      attach:
        - {{program: bpfex_tc_ingress, type: tc_ingress, interfaces: {{match: "c[0-9]+"}}, netns: {NS_A}}}
        - {{program: bpfex_tc_egress, type: tc_egress, interfaces: {{match: "c[0-9]+"}}, netns: {NS_A}}}
""")
    log = open(os.path.join(d, "bpfex.log"), "w")
    p = subprocess.Popen([BPFEX, "run", "-c", os.path.join(d, "bpfex.yaml")], stdout=log, stderr=log)
    flood = None
    prom_port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: netprobe\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    prom = subprocess.Popen(["prometheus", "--config.file", os.path.join(d, "prometheus.yml"),
                             "--storage.tsdb.path", os.path.join(d, "prom"),
                             "--web.listen-address", f"127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("bpfex to serve", lambda: "bpfex_ticks_total" in metrics(port))
        # The first link, and traffic over it for the whole run.
        make_veth(0)
        wait_for("attach to c0", lambda: attaches(port) >= 2)
        link_up(0)
        flood = subprocess.Popen(["ip", "netns", "exec", NS_B, "ping", "-q", "-i", "0.01", "10.77.0.1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Prometheus scraping (its keep-alive connection is one of bpfex's fds).
        def scraped():
            q = urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?query=up", timeout=5).read()
            return b'"1"]' in q
        wait_for("Prometheus to scrape bpfex", scraped)
        time.sleep(1)
        fds_before = len(os.listdir(f"/proc/{p.pid}/fd"))
        # 20 more while it flows: each attached as the kernel announces it,
        # then brought up and pinged.
        for k in range(1, NEW + 1):
            make_veth(k)
        wait_for("attach to all 21", lambda: attaches(port) >= 2 * (NEW + 1))
        for k in range(1, NEW + 1):
            link_up(k)
        pings = [subprocess.Popen(["ip", "netns", "exec", NS_B, "ping", "-q", "-c", str(3 + k % 5), "-i", "0.05",
                                   f"10.77.{k}.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for k in range(1, NEW + 1)]
        for pg in pings:
            if pg.wait(timeout=30) != 0:
                fail("a ping over a new veth failed: the path is broken")
        # The NetProbe dashboard, while traffic flows: every panel's query
        # on the real Prometheus that scrapes this bpfex.
        time.sleep(4)
        r = subprocess.run([os.path.join(ROOT, "tools/check_dashboard_queries.py"), f"http://127.0.0.1:{prom_port}",
                            os.path.join(ROOT, "grafana/dashboards/netprobe.json")], capture_output=True, text=True)
        if r.returncode != 0:
            fail("NetProbe dashboard queries on Prometheus:\n" + r.stdout + r.stderr)
        print("ok - NetProbe dashboard: " + r.stdout.strip().splitlines()[-1])
        # 10 go.
        for k in range(NEW - DELETE + 1, NEW + 1):
            in_a("ip", "link", "del", f"c{k}")
        flood.terminate()
        flood.wait()
        flood = None
        # The kernel's counts, then a few ticks, then bpfex's, and the
        # kernel's again: compared only when the link was quiet in between.
        for attempt in range(10):
            time.sleep(0.5)
            expected = {k: kernel_counts(k) for k in range(0, NEW - DELETE + 1)}
            time.sleep(2.5)
            text = metrics(port)
            if expected == {k: kernel_counts(k) for k in range(0, NEW - DELETE + 1)}:
                break
        else:
            fail("the veths never went quiet")
        for k, (rx, tx) in expected.items():
            got_in = sample(text, "netprobe_tc_packets_total", interface=f"c{k}", direction="ingress")
            got_out = sample(text, "netprobe_tc_packets_total", interface=f"c{k}", direction="egress")
            if got_in != rx or got_out != tx:
                fail(f"c{k}: bpfex counted ingress {got_in} egress {got_out}; the kernel rx {rx} tx {tx}")
            if rx < 3:
                fail(f"c{k}: only {rx} packets: the traffic did not flow")
        print(f"ok - {len(expected)} surviving interfaces: TC counts equal the kernel's rx/tx_packets exactly")
        for k in range(NEW - DELETE + 1, NEW + 1):
            if f'interface="c{k}"' in text:
                fail(f"c{k} was deleted and is still on /metrics")
        print(f"ok - the {DELETE} deleted interfaces left /metrics")
        attached = sample(text, "bpfex_bpf_interface_attachments", object="traffic")
        forgotten = sample(text, "bpfex_bpf_interface_changes_total", object="traffic", change="forget_entry")
        detached = sample(text, "bpfex_bpf_interface_changes_total", object="traffic", change="detach")
        if attached != 2 * (NEW - DELETE + 1) or detached != 2 * DELETE or not forgotten or forgotten < 2 * DELETE:
            fail(f"churn counters: attached {attached}, detached {detached}, forgotten entries {forgotten}")
        entries = sample(text, "bpfex_bpf_map_entries", map="traffic/bpfex_iface_stats", type="percpu_hash")
        if entries != 2 * (NEW - DELETE + 1):
            fail(f"the map holds {entries} entries for {NEW - DELETE + 1} interfaces x 2 directions")
        print(f"ok - churn counted: {attached:.0f} attached, {detached:.0f} detached, "
              f"{forgotten:.0f} map entries forgotten; the map holds only live interfaces")
        for k in range(0, NEW - DELETE + 1):
            n_in, n_out = bpfex_filters(k, "ingress"), bpfex_filters(k, "egress")
            if n_in != 1 or n_out != 1:
                fail(f"c{k}: {n_in} ingress and {n_out} egress bpfex filters, not one each:\n" +
                     in_a("tc", "filter", "show", "dev", f"c{k}", "ingress") +
                     in_a("tc", "filter", "show", "dev", f"c{k}", "egress"))
        fds_after = len(os.listdir(f"/proc/{p.pid}/fd"))
        if fds_after != fds_before:
            fail(f"bpfex had {fds_before} open fds before the churn and {fds_after} after")
        print(f"ok - one filter per direction on each survivor; {fds_after} fds before and after")
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"bpfex exited {p.returncode}")
        left = sum(bpfex_filters(k, dirn) for k in range(0, NEW - DELETE + 1) for dirn in ("ingress", "egress"))
        if left:
            fail(f"{left} bpfex filters left after bpfex exited")
        print("ok - nothing left attached after SIGTERM")
        print("PASS")
        return 0
    finally:
        teardown([flood, prom, p], (NS_A, NS_B), d)


if __name__ == "__main__":
    sys.exit(main())
