#!/usr/bin/env python3
"""Seed 002 (masque-vpn) end to end.

A stand-in server (examples/masque/masque_server.c) owns a TUN device in a
namespace of its own, gives three clients addresses from the pool, moves
their packets through the TUN and keeps its counters in the counter region.
bpfex runs the bundled addr_traffic program on the TUN (TC ingress and
egress) and the region object, with rules/masque.lua and masque_alerts.lua.

  - What each client sent and what was sent to it crosses the tunnel in
    known packets: bpfex serves exactly those packets and bytes per
    client_id, equal to bpftool's decoding of the map and to the server's own
    count; traffic to a pool address nobody holds is "unassigned".
  - The server's counters are served exactly (connections, CONNECT-IP
    requests, streams, errors, drops, the pool), histograms with the seed's
    buckets; the TUN's link state is the status gauge, before, during and
    after the server.
  - Past masque_max_clients, client_id values are summed into "other".
  - The catalog's 19 families; a real Prometheus answers every panel query
    of the dashboard.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import (dashboards_answer, fail, free_port, metrics, private_bpffs, series, start_prometheus,  # noqa: E402
                     teardown, wait_for)

BPFEX = os.environ["BPFEX"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = "bpfexmasque"
PIN = "/sys/fs/bpf/bpfex"
CLIENTS = ["alice", "bob", "carol"]
INJECT = 10
SEND = {"alice": [200] * 7, "bob": [500, 600, 700], "carol": [1450]}  # payload bytes; 1450: oversized for the server
UNASSIGNED = "10.99.0.200"


def sh(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and r.returncode != 0:
        fail(" ".join(cmd) + ":\n" + r.stdout + r.stderr)
    return r.stdout




def value(have, key):
    if key not in have:
        fail(f"{key} is not served; served: " + ", ".join(k for k in have if k.split("{")[0] == key.split("{")[0]))
    return float(have[key])


def addr_stats():
    """bpftool's decoding of bpfex_addr_stats: {(address, hook): (packets, bytes)} summed over CPUs."""
    out = {}
    for e in json.loads(sh("bpftool", "-j", "map", "dump", "pinned", f"{PIN}/bpfex_addr_stats")):
        f = e["formatted"]
        addr = ".".join(str(b) for b in f["key"]["addr"].to_bytes(4, "little"))
        p = sum(c["value"]["packets"] for c in f["values"])
        b = sum(c["value"]["bytes"] for c in f["values"])
        out[(addr, f["key"]["hook"])] = (p, b)
    return out


def main():
    if os.geteuid() != 0:
        print("SKIPPED: needs root (BPF, a network namespace, a TUN device)")
        return 77
    server_bin = sys.argv[1]
    private_bpffs()
    work = tempfile.mkdtemp(prefix="bpfex-masque-")
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "netns", "add", NS)
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    sh("ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    # The tunnel exists before the server, as a persistent TUN does.
    sh("ip", "-n", NS, "tuntap", "add", "mode", "tun", "name", "mtun0")
    port = free_port()
    cfg = os.path.join(work, "bpfex.yaml")

    def config(max_clients):
        with open(cfg, "w") as f:
            f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 500ms
rules: [{ROOT}/rules/masque.lua, {ROOT}/rules/masque_alerts.lua]
rule_params: {{masque_netns: {NS}, masque_max_clients: "{max_clients}"}}
bpf:
  objects:
    - name: masque_tun
      bundled: addr_traffic
      globals: {{prefix: 10.99.0.0, prefix_mask: 255.255.255.0, l2_len: 0}}
      attach:
        - {{program: addr_tc_ingress, type: tc_ingress, interface: mtun0, netns: {NS}}}
        - {{program: addr_tc_egress, type: tc_egress, interface: mtun0, netns: {NS}}}
    - name: masque_app
      bundled: masque_region
""")
    config(100)
    log = open(os.path.join(work, "bpfex.log"), "w")
    p = subprocess.Popen([BPFEX, "run", "-c", cfg], stdout=log, stderr=log)
    procs = [p]
    try:
        wait_for("bpfex to serve", lambda: "bpfex_ticks_total" in metrics(port))
        have = series(metrics(port))
        if value(have, "masque_vpn_tun_interface_status") != 0 or "masque_vpn_active_connections" in have:
            fail("before the server: the TUN is down and there is no region data; served " +
                 str({k: v for k, v in have.items() if k.startswith("masque")}))
        print("ok - before the server starts: tun_interface_status 0, nothing from the empty region")

        # nsenter, not ip netns exec: that one remounts /sys, and with it the bpffs the region is pinned in.
        server = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{NS}", server_bin, "--clients", ",".join(CLIENTS),
                                   "--inject", str(INJECT), "--failed-requests", "2"],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(server)
        if "ready" not in server.stdout.readline():
            fail("the server did not start")
        # What is sent to the clients: routed out of the TUN.
        sender = ("import socket, sys, time, json\n"
                  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "for dst, size in json.loads(sys.argv[1]):\n"
                  "    s.sendto(b'x' * size, (dst, 7000)); time.sleep(0.002)\n")
        plan = [(f"10.99.0.{2 + i}", size) for i, c in enumerate(CLIENTS) for size in SEND[c]]
        plan.append((UNASSIGNED, 300))
        sh("ip", "netns", "exec", NS, sys.executable, "-c", sender, json.dumps(plan))
        want_rx = {c: (INJECT, sum(28 + 100 + k % 50 for k in range(INJECT))) for c in CLIENTS}
        want_tx = {c: (len(SEND[c]), sum(28 + s for s in SEND[c])) for c in CLIENTS if SEND[c]}
        want_tx["unassigned"] = (1, 328)

        def served():
            have = series(metrics(port))
            k = 'masque_vpn_packets_sent_total{client_id="unassigned"}'
            return have if k in have and value(have, "masque_vpn_active_connections") == 3 else None
        have = wait_for("the traffic served", served, seconds=20)
        time.sleep(1.2)  # two more ticks: every packet is in
        have = series(metrics(port))
        for side, want in (("received", want_rx), ("sent", want_tx)):
            for c, (pk, by) in want.items():
                got = (value(have, f'masque_vpn_packets_{side}_total{{client_id="{c}"}}'),
                       value(have, f'masque_vpn_bytes_{side}_total{{client_id="{c}"}}'))
                if got != (pk, by):
                    fail(f"{c}: {side} {got[0]:.0f} packets, {got[1]:.0f} bytes; want {pk}, {by}")
        kernel = addr_stats()
        for i, c in enumerate(CLIENTS):
            a = f"10.99.0.{2 + i}"
            if kernel.get((a, "BPFEX_HOOK_TC_INGRESS")) != want_rx[c]:
                fail(f"bpftool: {a} ingress {kernel.get((a, 'BPFEX_HOOK_TC_INGRESS'))}, want {want_rx[c]}")
            if c in want_tx and kernel.get((a, "BPFEX_HOOK_TC_EGRESS")) != want_tx[c]:
                fail(f"bpftool: {a} egress {kernel.get((a, 'BPFEX_HOOK_TC_EGRESS'))}, want {want_tx[c]}")
        print("ok - per client_id, packets and bytes each way exactly as they crossed the tunnel, equal to bpftool's "
              "decoding; a pool address nobody holds is client_id=\"unassigned\"")

        expect = {
            "masque_vpn_active_connections": 3, "masque_vpn_total_connections": 3,
            'masque_vpn_masque_requests_total{method="CONNECT",status="success"}': 3,
            'masque_vpn_masque_requests_total{method="CONNECT",status="failed"}': 2,
            'masque_vpn_masque_request_duration_seconds_count{method="CONNECT"}': 5,
            'masque_vpn_errors_total{error_type="auth"}': 2, 'masque_vpn_errors_total{error_type="tun"}': 0,
            'masque_vpn_packet_drops_total{reason="oversized"}': 1,
            'masque_vpn_packet_drops_total{reason="invalid"}': 1,
            "masque_vpn_ip_pool_total": 253, "masque_vpn_ip_pool_used": 3, "masque_vpn_ip_pool_available": 250,
            "masque_vpn_tun_interface_status": 1, "masque_vpn_server_up": 1,
            'masque_vpn_packet_processing_duration_seconds_count{direction="inbound"}': 3 * INJECT,
            'masque_vpn_packet_processing_duration_seconds_count{direction="outbound"}': 7 + 3,
            'masque_vpn_quic_streams_total{client_id="bob",stream_type="bidirectional"}': 1,
            'masque_vpn_quic_streams_total{client_id="bob",stream_type="unidirectional"}': 2,
            'masque_vpn_connection_duration_seconds_count{client_id="alice"}': 0,
        }
        for k, v in expect.items():
            if value(have, k) != v:
                fail(f"{k} = {have[k]}, want {v}")
        le = [k for k in have if k.startswith('masque_vpn_masque_request_duration_seconds_bucket{method="CONNECT"')]
        if [k.split('le="')[1].split('"')[0] for k in le] != ["0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1",
                                                              "+Inf"]:
            fail("the request histogram's buckets are not the seed's: " + str(le))
        print(f"ok - the server's counters served exactly ({len(expect)} series), the seed's buckets, the TUN up")

        r = subprocess.run([os.path.join(ROOT, "tools/check_catalog.py"),
                            os.path.join(ROOT, "tests/privileged/masque_catalog.txt"), "/dev/stdin"],
                           input=metrics(port), capture_output=True, text=True)
        if r.returncode != 0:
            fail("seed 002's catalog:\n" + r.stdout + r.stderr)
        print("ok - catalog: " + r.stdout.strip().splitlines()[-1])

        # A real Prometheus over the dashboard, while the server runs.
        prom_port = free_port()
        procs.append(start_prometheus(work, "masque-vpn", f"127.0.0.1:{port}", prom_port))
        summary = dashboards_answer(prom_port, [os.path.join(ROOT, "grafana/dashboards/masque-vpn.json")])
        print("ok - the dashboard on a real Prometheus: " + summary)

        # The server stops: everyone disconnects, the TUN loses its carrier.
        server.send_signal(signal.SIGTERM)
        moved = json.loads(server.communicate(timeout=10)[0].strip().splitlines()[-1])["clients"]
        for c in CLIENTS:
            m = moved[c]
            if (m["received_packets"], m["received_bytes"]) != want_rx[c]:
                fail(f"{c}: the server moved {m} in, bpfex counted {want_rx[c]}")
            if c in ("alice", "bob") and (m["sent_packets"], m["sent_bytes"]) != want_tx[c]:
                fail(f"{c}: the server moved {m} out, bpfex counted {want_tx[c]}")
        if moved["carol"]["sent_packets"] != 0:
            fail("carol's oversized datagram should have been dropped by the server")

        def after():
            have = series(metrics(port))
            return have if value(have, "masque_vpn_tun_interface_status") == 0 else None
        have = wait_for("the TUN down", after, seconds=10)
        time.sleep(1.2)
        have = series(metrics(port))
        for k, v in {"masque_vpn_server_up": 0,
                     'masque_vpn_connection_duration_seconds_count{client_id="alice"}': 1,
                     'masque_vpn_quic_stream_duration_seconds_count{client_id="carol"}': 3}.items():
            if value(have, k) != v:
                fail(f"after the server stopped: {k} = {have.get(k)}, want {v}")
        # A stopped server (bpfex_liveness.h) is down: its gauges and uptime stop, its counters stay.
        left = [k for k in have if k.startswith(("masque_vpn_active_connections", "masque_vpn_ip_pool_",
                                                   "masque_vpn_server_uptime_seconds"))]
        if left:
            fail(f"a stopped server's gauges are still served: {left}")
        print("ok - the server's own counts are bpfex's (its dropped datagram aside); when it stops, the TUN is "
              "down, the server down (masque_vpn_server_up 0, its gauges and uptime gone), every connection and "
              "stream duration observed")

        # The cardinality cap: at most 2 client_ids, the rest summed as "other".
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        config(2)
        p = subprocess.Popen([BPFEX, "run", "-c", cfg], stdout=log, stderr=log)
        procs.append(p)
        have = wait_for("bpfex with a cap of 2", lambda: (lambda h: h if 'masque_vpn_packets_received_total'
                        '{client_id="other"}' in h else None)(series(metrics(port))), seconds=15)
        if value(have, 'masque_vpn_packets_received_total{client_id="other"}') != INJECT or \
                any('client_id="carol"' in k for k in have):
            fail("the third client is not summed into other: " +
                 str({k: v for k, v in have.items() if "received_total" in k}))
        print("ok - past masque_max_clients, the third client_id is served as \"other\"")
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=10) != 0:
            fail(f"bpfex exited {p.returncode}")
        print("PASS")
        return 0
    finally:
        teardown(procs, (NS,), work)


if __name__ == "__main__":
    sys.exit(main())
