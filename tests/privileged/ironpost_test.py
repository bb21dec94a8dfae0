#!/usr/bin/env python3
"""Seed 001 (Ironpost) end to end, against references bpfex did not write.

On a machine whose bpffs was never mounted (a private mount namespace),
bpfex runs the Ironpost package: the bundled ironpost_xdp program on one side
of a veth pair and the counter region, with rules/ironpost.lua.

  - Known raw frames of every protocol class cross the veth, some from
    blocked sources: one blocked by the config's init:, one added at run time
    with bpftool, one never blocked. bpfex serves exactly what was sent, per
    protocol, in packets and bytes; exactly the blocked sources' frames as
    blocked; and the same numbers bpftool decodes from the maps. A packet
    socket on the receiving side is the kernel's witness that the blocked
    frames were dropped and the rest passed.
  - The run-time histogram: its count is the packets, and its buckets and
    sum are bpftool's decoding of the per-CPU map, digit for digit.
  - The counter region: its layout in the kernel's BTF (bpftool btf dump) is
    the C client's and the Rust client's (built here with Debian's cargo).
    Both clients' known increments are served exactly (histograms, sums,
    build_info, uptime) and equal bpftool's decoding of the region.
  - bpfex restarts: the pinned region and counters survive, and a client's
    next increments add to them.
  - The SBOM job pushes to a real Pushgateway; a real Prometheus scrapes both:
    the 29 families of the seed's catalog have their types and labels, and
    every panel query of the three dashboards parses and returns data.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, teardown, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS_A, NS_B = "bpfexip-a", "bpfexip-b"  # A: Ironpost's host (XDP on ip0); B: the traffic
PIN = "/sys/fs/bpf/bpfex"
BLOCK_INIT, BLOCK_LATER, NOT_BLOCKED = "10.77.0.66", "10.77.0.67", "10.77.0.68"

# The clients' known increments (examples/ironpost/client.c's workload()).
PROCESSING_BOUNDS_NS = [100000, 500000, 1000000, 5000000, 10000000, 50000000, 100000000, 500000000,
                        1000000000, 10000000000]
SCAN_BOUNDS_NS = [100000000, 500000000, 1000000000, 5000000000, 10000000000, 30000000000, 60000000000,
                  120000000000, 300000000000]
BATCHES_NS = [50000, 100000, 100001, 700000, 1000000, 3000000, 20000000, 2000000000, 20000000000]
SCANS_NS = [50000000, 100000000, 2000000000, 400000000000]
COUNTERS = {
    "ironpost_log_pipeline_logs_collected_total": 1000,
    "ironpost_log_pipeline_logs_processed_total": 990,
    'ironpost_log_pipeline_parse_errors_total{format="syslog"}': 4,
    'ironpost_log_pipeline_parse_errors_total{format="json"}': 5,
    'ironpost_log_pipeline_parse_errors_total{format="unknown"}': 1,
    "ironpost_log_pipeline_rule_matches_total": 37,
    "ironpost_log_pipeline_alerts_sent_total": 36,
    "ironpost_log_pipeline_logs_dropped_total": 3,
    "ironpost_container_guard_policy_violations_total": 9,
    'ironpost_container_guard_isolations_total{action="disconnect",result="success"}': 3,
    'ironpost_container_guard_isolations_total{action="disconnect",result="failure"}': 0,
    'ironpost_container_guard_isolations_total{action="pause",result="success"}': 2,
    'ironpost_container_guard_isolations_total{action="pause",result="failure"}': 1,
    'ironpost_container_guard_isolations_total{action="stop",result="success"}': 0,
    'ironpost_container_guard_isolations_total{action="stop",result="failure"}': 2,
    "ironpost_container_guard_isolation_failures_total": 3,
    "ironpost_container_guard_alerts_processed_total": 40,
}
GAUGES = {
    "ironpost_log_pipeline_buffer_size": 128,
    "ironpost_container_guard_monitored_containers": 12,
    "ironpost_container_guard_policies_loaded": 7,
    "ironpost_daemon_plugins_registered": 4,
}
# Each served series and the region field bpftool shows for it.
FIELDS = {
    "ironpost_log_pipeline_logs_collected_total": "logs_collected",
    "ironpost_log_pipeline_logs_processed_total": "logs_processed",
    'ironpost_log_pipeline_parse_errors_total{format="syslog"}': "parse_errors.syslog",
    'ironpost_log_pipeline_parse_errors_total{format="json"}': "parse_errors.json",
    'ironpost_log_pipeline_parse_errors_total{format="unknown"}': "parse_errors.unknown",
    "ironpost_log_pipeline_rule_matches_total": "rule_matches",
    "ironpost_log_pipeline_alerts_sent_total": "alerts_sent",
    "ironpost_log_pipeline_logs_dropped_total": "logs_dropped",
    "ironpost_log_pipeline_buffer_size": "buffer_size",
    "ironpost_container_guard_monitored_containers": "monitored_containers",
    "ironpost_container_guard_policy_violations_total": "policy_violations",
    "ironpost_container_guard_isolation_failures_total": "isolation_failures",
    "ironpost_container_guard_alerts_processed_total": "alerts_processed",
    "ironpost_container_guard_policies_loaded": "policies_loaded",
    "ironpost_daemon_plugins_registered": "plugins_registered",
}
for _a in ("disconnect", "pause", "stop"):
    for _r in ("success", "failure"):
        FIELDS[f'ironpost_container_guard_isolations_total{{action="{_a}",result="{_r}"}}'] = f"isolations.{_a}.{_r}"


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        fail(" ".join(cmd) + ":\n" + r.stdout + r.stderr)
    return r.stdout


def bpftool(*args):
    return json.loads(sh("bpftool", "-j", *args))




def cumulative(counts):
    out, run = [], 0
    for c in counts:
        run += c
        out.append(run)
    return out


def bucket_of(ns, bounds):
    return next((i for i, le in enumerate(bounds) if ns <= le), len(bounds))


def le_text(bound_seconds):
    """Prometheus' le label text for a bound (Go's strconv 'g', shortest)."""
    r = repr(float(bound_seconds))
    if r.endswith(".0"):
        r = r[:-2]
    return r


def expect_histogram(have, name, counts, sum_value, bounds_s):
    """have[...] equals a classic histogram from per-bucket counts (the last
    +Inf) and its sum, exactly."""
    cum = cumulative(counts)
    for i, le in enumerate(bounds_s):
        key = f'{name}_bucket{{le="{le_text(le)}"}}'
        if key not in have:
            fail(f"{key} is not served; served buckets: {[k for k in have if k.startswith(name + '_bucket')]}")
        if float(have[key]) != cum[i]:
            fail(f"{key} = {have[key]}, want {cum[i]}")
    if float(have[f'{name}_bucket{{le="+Inf"}}']) != cum[-1] or float(have[f"{name}_count"]) != cum[-1]:
        fail(f"{name}: +Inf/count {have.get(name + '_count')}, want {cum[-1]}")
    if float(have[f"{name}_sum"]) != sum_value:
        fail(f"{name}_sum = {have[name + '_sum']}, want {sum_value!r}")


def btf_layout(map_path):
    """The counter region's fields as the kernel's BTF has them: name,
    offset and size of every leaf, nested structs flattened with dots."""
    btf_id = bpftool("map", "show", "pinned", map_path)["btf_id"]
    types = {t["id"]: t for t in bpftool("btf", "dump", "id", str(btf_id))["types"]}

    def resolve(tid):
        while types[tid]["kind"] in ("TYPEDEF", "VOLATILE", "CONST", "RESTRICT"):
            tid = types[tid]["type_id"]
        return types[tid]

    def size(t):
        t = resolve(t["id"])
        if t["kind"] == "ARRAY":
            return t["nr_elems"] * size(types[t["type_id"]])
        return t["size"]

    root = next(t for t in types.values() if t["kind"] == "STRUCT" and t["name"] == "ironpost_counters")
    out = [f"size {root['size']}"]

    def walk(t, prefix, base):
        for m in t["members"]:
            mt = resolve(m["type_id"])
            off = base + m["bits_offset"] // 8
            if mt["kind"] == "STRUCT":
                walk(mt, prefix + m["name"] + ".", off)
            else:
                out.append(f"{prefix}{m['name']} {off} {size(mt)}")

    walk(root, "", 0)
    return out


def flatten(value, prefix=""):
    out = {}
    for k, v in value.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def region_dump():
    """The region's one value as bpftool decodes it, flattened."""
    d = bpftool("map", "dump", "pinned", f"{PIN}/ironpost_counters")
    return flatten(d[0]["formatted"]["value"])


def percpu_sum(map_name):
    """A one-entry per-CPU map's value summed over the CPUs, as bpftool
    decodes each CPU's copy (integers and integer arrays)."""
    d = bpftool("map", "dump", "pinned", f"{PIN}/{map_name}")
    total = {}
    for c in d[0]["formatted"]["values"]:
        for k, v in flatten(c["value"]).items():
            if isinstance(v, list):
                total[k] = [a + b for a, b in zip(total.get(k, [0] * len(v)), v)]
            else:
                total[k] = total.get(k, 0) + v
    return total


def region_write(abi=None, version=None, commit=None):
    """Rewrites fields of the region with bpftool, as a misbehaving application
    could: the 448-byte value read, patched, written back."""
    key = ["hex", "00", "00", "00", "00"]
    cur = bpftool("map", "lookup", "pinned", f"{PIN}/ironpost_counters", "key", *key)
    value = bytearray(int(b, 16) for b in cur["value"])
    if abi is not None:
        value[0:8] = abi.to_bytes(8, "little")
    if version is not None:
        value[16:48] = version.ljust(32, b"\0")[:32]
    if commit is not None:
        value[48:96] = commit.ljust(48, b"\0")[:48]
    sh("bpftool", "map", "update", "pinned", f"{PIN}/ironpost_counters", "key", *key,
       "value", "hex", *(f"{b:02x}" for b in value))


def build_rust(work):
    cargo, rustc = shutil.which("cargo", path="/usr/bin"), "/usr/bin/rustc"
    if not cargo or not os.path.exists(rustc):
        fail("Debian's cargo and rustc are not installed (apt-get install cargo rustc; "
             "tools/test.sh installs them with the test packages)")
    env = dict(os.environ, RUSTC=rustc, CARGO_HOME=os.path.join(work, "cargo-home"))
    r = subprocess.run([cargo, "build", "--offline", "--locked", "--release", "--quiet",
                        "--target-dir", os.path.join(work, "rust-target")],
                       cwd=os.path.join(ROOT, "examples/ironpost/rust"), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail("cargo build of the Rust client:\n" + r.stdout + r.stderr)
    version = sh(rustc, "--version").strip()
    return os.path.join(work, "rust-target/release/ironpost-client"), version


def build_go(work):
    """The Go client (examples/ironpost/go): standard library only, built offline with Debian's go."""
    go = shutil.which("go", path="/usr/bin:/usr/lib/go/bin")
    if not go:
        fail("Debian's golang-go is not installed (apt-get install golang-go; tools/test.sh installs it with "
             "the test packages)")
    env = dict(os.environ, GOCACHE=os.path.join(work, "go-cache"), GOPATH=os.path.join(work, "go-path"),
               GO111MODULE="off", GOFLAGS="", CGO_ENABLED="0")
    out = os.path.join(work, "ironpost-client-go")
    r = subprocess.run([go, "build", "-o", out, "main.go"], cwd=os.path.join(ROOT, "examples/ironpost/go"), env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("go build of the Go client:\n" + r.stdout + r.stderr)
    return out, sh(go, "version").strip()


def start_bpfex(cfg, log):
    return subprocess.Popen([BPFEX, "run", "-c", cfg], stdout=log, stderr=log)


def stop(p):
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=10) != 0:
        fail(f"bpfex exited {p.returncode} on SIGTERM")


def main():
    if os.geteuid() != 0:
        print("SKIPPED: needs root (BPF, network namespaces, a bpffs of its own)")
        return 77
    c_client = sys.argv[1]
    private_bpffs()
    work = tempfile.mkdtemp(prefix="bpfex-ironpost-")
    rust_client, rustc_version = build_rust(work)
    go_client, go_version = build_go(work)
    print(f"ok - the Rust client built with Debian's {rustc_version}, no crates")

    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
        # No IPv6 (no router solicitations, no MLD): only the frames sent here cross.
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "-n", NS_A, "link", "add", "ip0", "type", "veth", "peer", "name", "ip0p", "netns", NS_B)
    for ns, dev in ((NS_A, "ip0"), (NS_B, "ip0p")):
        sh("ip", "-n", ns, "link", "set", dev, "up")

    port = free_port()
    cfg = os.path.join(work, "bpfex.yaml")
    with open(cfg, "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 500ms
rules: [{ROOT}/rules/ironpost.lua]
rule_params: {{ironpost_rate_window: 3s}}
bpf:
  objects:
    - name: ironpost
      bundled: ironpost_xdp
      attach:
        - {{program: ironpost_xdp, type: xdp, interface: ip0, netns: {NS_A}, mode: native}}
      init:
        - map: ironpost_blocklist
          entries:
            - {{key: {{prefixlen: 32, addr: {BLOCK_INIT}}}}}
    - name: ironpost_app
      bundled: ironpost_region
""")
    log = open(os.path.join(work, "bpfex.log"), "w")
    p = start_bpfex(cfg, log)
    procs = []
    try:
        wait_for("bpfex to serve", lambda: "bpfex_ticks_total" in metrics(port))

        # 1. The region's layout: the kernel's BTF, the C client, the Rust client.
        btf = btf_layout(f"{PIN}/ironpost_counters")
        c_layout = sh(c_client, "layout").splitlines()
        rust_layout = sh(rust_client, "layout").splitlines()
        if btf != c_layout:
            fail("the C client's layout differs from the map's BTF:\n" + "\n".join(btf) + "\n---\n" +
                 "\n".join(c_layout))
        if btf != rust_layout:
            fail("the Rust client's layout differs from the map's BTF:\n" + "\n".join(btf) + "\n---\n" +
                 "\n".join(rust_layout))
        go_layout = sh(go_client, "layout").splitlines()
        if btf != go_layout:
            fail("the Go client's layout differs from the map's BTF:\n" + "\n".join(btf) + "\n---\n" +
                 "\n".join(go_layout))
        print(f"ok - the region's layout: {len(btf) - 1} fields at the same offsets and sizes in the kernel's BTF "
              f"(bpftool), the C client, the Rust client and the Go client ({go_version})")

        # 2. Traffic. A source added to the blocklist at run time, as an operator would.
        a, b, c, d = (int(x) for x in BLOCK_LATER.split("."))
        sh("bpftool", "map", "update", "pinned", f"{PIN}/ironpost_blocklist",
           "key", "hex", "20", "00", "00", "00", f"{a:02x}", f"{b:02x}", f"{c:02x}", f"{d:02x}",
           "value", "hex", "00", "00", "00", "00")
        witness = subprocess.Popen(["ip", "netns", "exec", NS_A, sys.executable, "-c", WITNESS, "ip0", "6"],
                                   stdout=subprocess.PIPE, text=True)
        procs.append(witness)
        time.sleep(1)
        sent = json.loads(sh("ip", "netns", "exec", NS_B, sys.executable,
                             os.path.join(ROOT, "tools/ironpost_traffic.py"), "burst", "ip0p",
                             BLOCK_INIT, BLOCK_LATER, NOT_BLOCKED))
        seen = json.loads(witness.communicate(timeout=20)[0])
        total = sum(v["packets"] for v in sent["sent"].values())
        total_bytes = sum(v["bytes"] for v in sent["sent"].values())
        blocked = sent["from_src"][BLOCK_INIT] + sent["from_src"][BLOCK_LATER]

        def traffic_served():
            have = series(metrics(port))
            return have if float(have.get("ironpost_ebpf_packets_total", -1)) == total else None
        have = wait_for(f"bpfex to count {total} frames", traffic_served, seconds=20)
        for proto, s in sent["sent"].items():
            got = float(have[f'ironpost_ebpf_protocol_packets_total{{protocol="{proto}"}}'])
            if got != s["packets"]:
                fail(f"protocol {proto}: served {got} packets, {s['packets']} were sent")
        if float(have["ironpost_ebpf_bytes_total"]) != total_bytes:
            fail(f"bytes: served {have['ironpost_ebpf_bytes_total']}, {total_bytes} were sent")
        if float(have["ironpost_ebpf_packets_blocked_total"]) != blocked:
            fail(f"blocked: served {have['ironpost_ebpf_packets_blocked_total']}, {blocked} came from blocked sources")
        print(f"ok - {total} frames ({total_bytes} bytes) served exactly as sent, per protocol "
              + ", ".join(f"{k} {v['packets']}" for k, v in sent["sent"].items())
              + f"; {blocked} blocked (init: and a run-time bpftool update)")
        # The kernel's witness: what reached the receiving side's packet taps.
        if seen["total"] != total - blocked or seen["from"].get(BLOCK_INIT, 0) or seen["from"].get(BLOCK_LATER, 0) \
                or seen["from"].get(NOT_BLOCKED, 0) != sent["from_src"][NOT_BLOCKED]:
            fail(f"past XDP the receiver saw {seen}; sent {total}, {blocked} of them from blocked sources")
        print(f"ok - past XDP, a packet socket saw {seen['total']} frames: none from {BLOCK_INIT} or {BLOCK_LATER}, "
              f"all {sent['from_src'][NOT_BLOCKED]} from {NOT_BLOCKED}")
        # bpftool's decoding of the same maps.
        stats = percpu_sum("ironpost_stats")
        for proto in ("tcp", "udp", "icmp", "other"):
            if float(have[f'ironpost_ebpf_protocol_packets_total{{protocol="{proto}"}}']) != stats[f"{proto}.packets"]:
                fail(f"{proto}: bpfex and bpftool differ: {have} vs {stats}")
        if float(have["ironpost_ebpf_bytes_total"]) != sum(stats[f"{p}.bytes"] for p in ("tcp", "udp", "icmp", "other")):
            fail(f"bytes: bpfex and bpftool differ: {stats}")
        if float(have["ironpost_ebpf_packets_blocked_total"]) != sum(
                stats[f"{p}.blocked"] for p in ("tcp", "udp", "icmp", "other")):
            fail(f"blocked: bpfex and bpftool differ: {stats}")
        lat = percpu_sum("ironpost_latency")
        slots = list(lat["slots"])
        slots[0] += lat["zero"]
        counts = slots[:24] + [sum(slots[24:])]
        if sum(counts) != total:
            fail(f"the run-time histogram counts {sum(counts)} runs for {total} frames")
        expect_histogram(have, "ironpost_ebpf_xdp_processing_duration_seconds", counts, lat["sum_ns"] / 1e9,
                         [2 ** k / 1e9 for k in range(24)])
        print(f"ok - the maps as bpftool decodes them are what bpfex serves; the run-time histogram counts every "
              f"frame once, its 24 buckets and sum ({lat['sum_ns']} ns) digit for digit")

        # 3. The application: the C client, then the Rust one, each its known increments.
        t_start = time.time()
        sh(c_client, "--pin", f"{PIN}/ironpost_counters", "--version", "1.4.2", "--commit", "0123abcd")
        # Every start writes its own identity: the Rust client's version is the one served after it.
        sh(rust_client, "--pin", f"{PIN}/ironpost_counters", "--version", "1.4.3", "--commit", "fedcba98")

        def app_served(times):
            def check():
                have = series(metrics(port))
                v = have.get("ironpost_log_pipeline_logs_collected_total")
                return have if v is not None and float(v) == 1000 * times else None
            return check

        def check_app(have, times, build=("1.4.3", "fedcba98")):
            for k, v in COUNTERS.items():
                if float(have.get(k, "nan")) != v * times:
                    fail(f"{k} = {have.get(k)}, want {v * times}")
            for k, v in GAUGES.items():
                if float(have.get(k, "nan")) != v:
                    fail(f"{k} = {have.get(k)}, want {v}")
            pc = [0] * (len(PROCESSING_BOUNDS_NS) + 1)
            for ns in BATCHES_NS:
                pc[bucket_of(ns, PROCESSING_BOUNDS_NS)] += times
            expect_histogram(have, "ironpost_log_pipeline_processing_duration_seconds", pc,
                             times * sum(BATCHES_NS) / 1e9, [x / 1e9 for x in PROCESSING_BOUNDS_NS])
            sc = [0] * (len(SCAN_BOUNDS_NS) + 1)
            for ns in SCANS_NS:
                sc[bucket_of(ns, SCAN_BOUNDS_NS)] += times
            expect_histogram(have, "ironpost_sbom_scanner_scan_duration_seconds", sc, times * sum(SCANS_NS) / 1e9,
                             [x / 1e9 for x in SCAN_BOUNDS_NS])
            builds = {k: v for k, v in have.items() if k.startswith("ironpost_daemon_build_info")}
            if builds != {f'ironpost_daemon_build_info{{version="{build[0]}",commit="{build[1]}"}}': "1"}:
                fail(f"build_info: {builds}, want only version {build[0]} commit {build[1]} (the last start's)")
            up = float(have["ironpost_daemon_uptime_seconds"])
            if not 0 <= up <= time.time() - t_start + 5:
                fail(f"uptime {up} s, the client started {time.time() - t_start:.1f} s ago")
            # bpftool's decoding of the region.
            region = region_dump()
            for k, field in FIELDS.items():
                if float(have[k]) != region[field]:
                    fail(f"{k}: bpfex serves {have[k]}, bpftool decodes {field} = {region[field]}")
            if float(have["ironpost_log_pipeline_processing_duration_seconds_sum"]) != region["processing_sum_ns"] / 1e9:
                fail("processing sum: bpfex and bpftool differ")
            if cumulative(region["processing_buckets"])[-1] != float(
                    have["ironpost_log_pipeline_processing_duration_seconds_count"]):
                fail("processing count: bpfex and bpftool differ")

        have = wait_for("the clients' increments", app_served(2), seconds=20)
        check_app(have, 2)
        print(f"ok - the C and Rust clients' increments served exactly: {len(COUNTERS)} counters, {len(GAUGES)} "
              "gauges, two histograms with their sums, build_info and uptime; equal to bpftool's decoding")

        # 3b. The documented alternative: the same rule over foreign maps (as
        # Ironpost's own engine would pin them), one declared by layout alone.
        foreign = os.path.join(work, "foreign.yaml")
        port2 = free_port()
        decl = "; ".join(f"u64 {p}.{f}" for p in ("tcp", "udp", "icmp", "other") for f in ("packets", "bytes", "blocked"))
        with open(foreign, "w") as f:
            f.write(f"""listen: 127.0.0.1:{port2}
tick_interval: 500ms
rules: [{ROOT}/rules/ironpost.lua]
rule_params: {{ironpost_stats_map: engine_stats, ironpost_latency_map: engine_latency, ironpost_region: daemon}}
bpf:
  pin_path: /sys/fs/bpf/bpfex-foreign
  maps:
    - {{name: engine_stats, pinned: {PIN}/ironpost_stats, key: "u32 index", value: "{decl}"}}
    - {{name: engine_latency, pinned: {PIN}/ironpost_latency}}
    - {{name: daemon, pinned: {PIN}/ironpost_counters}}
""")
        p2 = start_bpfex(foreign, log)
        procs.append(p2)
        wait_for("the foreign-map bpfex", lambda: "ironpost_log_pipeline_logs_collected_total" in metrics(port2))
        mine, theirs = series(metrics(port)), series(metrics(port2))
        moving = ("_per_second", "_uptime_seconds")
        same = [k for k in mine if k.startswith("ironpost_") and not any(m in k for m in moving)]
        diff = [k for k in same if theirs.get(k) != mine[k]]
        if diff or len(same) < 60:
            fail(f"over foreign maps the rule serves differently: {[(k, mine[k], theirs.get(k)) for k in diff][:5]}")
        stop(p2)
        print(f"ok - the same rule over foreign maps (one with a declared layout, no BTF used) serves the same "
              f"{len(same)} series")

        # 4. bpfex restarts: nothing is lost on either side.
        packets_before = have["ironpost_ebpf_packets_total"]
        stop(p)
        p = start_bpfex(cfg, log)
        wait_for("bpfex to serve again", lambda: "bpfex_ticks_total" in metrics(port))
        sh(go_client, "--pin", f"{PIN}/ironpost_counters")  # the Go client's known increments, this time
        have = wait_for("the third workload", app_served(3), seconds=20)
        check_app(have, 3, build=("0.1.0", "unknown"))
        if have["ironpost_ebpf_packets_total"] != packets_before:
            fail(f"packets after the restart {have['ironpost_ebpf_packets_total']}, before {packets_before}")
        print("ok - bpfex restarted: the pinned region and counters kept every count, and the Go client's "
              "increments added to them exactly")

        # 4b. The daemon's liveness (bpf/include/bpfex_liveness.h): running,
        # it is up with its own version and uptime; killed, it is down within
        # the stale limit and two ticks, and its gauges, uptime and build stop
        # while its counters stay; started again (an upgrade), up with the new
        # version and uptime from zero; stopped with SIGTERM, down at once.
        region = f"{PIN}/ironpost_counters"
        stale, tick = 3.0, 0.5
        only_live = ("ironpost_daemon_uptime_seconds", "ironpost_daemon_build_info", "ironpost_daemon_plugins_registered",
                     "ironpost_log_pipeline_buffer_size", "ironpost_container_guard_monitored_containers",
                     "ironpost_container_guard_policies_loaded")

        def daemon_up(want):
            return lambda: (t := series(metrics(port))).get("ironpost_daemon_up") == want and t

        def run_daemon(version, commit, client=c_client):
            started = time.time()
            d = subprocess.Popen([client, "--pin", region, "--version", version, "--commit", commit, "loop"])
            procs.append(d)
            have = wait_for(f"daemon {version} up", daemon_up("1"), seconds=10)
            builds = {k: v for k, v in have.items() if k.startswith("ironpost_daemon_build_info")}
            if builds != {f'ironpost_daemon_build_info{{version="{version}",commit="{commit}"}}': "1"}:
                fail(f"daemon {version} started: build_info {builds}")
            up = float(have["ironpost_daemon_uptime_seconds"])
            if not 0 <= up <= time.time() - started + tick:
                fail(f"daemon {version}: uptime {up} s, started {time.time() - started:.2f} s ago")
            return d, up

        d1, up1 = run_daemon("2.0.0", "c0ffee00")
        collected = float(series(metrics(port))["ironpost_log_pipeline_logs_collected_total"])
        d1.kill()
        d1.wait()
        killed = time.time()
        have = wait_for("the killed daemon down", daemon_up("0"), seconds=stale + 4 * tick + 2)
        took = time.time() - killed
        if took > stale + 2 * tick + 0.3:
            fail(f"the killed daemon was reported down after {took:.2f} s (stale limit {stale} s, tick {tick} s)")
        left = [k for k in have if k.startswith(only_live)]
        if left:
            fail(f"a dead daemon's gauges are still served: {left}")
        if float(have["ironpost_log_pipeline_logs_collected_total"]) < collected:
            fail("a dead daemon's counters went back")
        print(f"ok - liveness: daemon 2.0.0 up (uptime {up1:.1f} s); killed (SIGKILL): down after {took:.1f} s, its "
              f"{len(only_live)} live-only families gone, its counters kept")
        d2, up2 = run_daemon("2.0.1", "c0ffee01", client=go_client)  # the upgrade is the Go client
        if float(series(metrics(port))["ironpost_log_pipeline_logs_collected_total"]) < collected:
            fail("the restarted daemon's counters went back")
        d2.send_signal(signal.SIGTERM)
        d2.wait()
        stopped = time.time()
        wait_for("the stopped daemon down", daemon_up("0"), seconds=5)
        took = time.time() - stopped
        if took > 2 * tick + 0.3:
            fail(f"a daemon that said it stopped was reported down after {took:.2f} s")
        print(f"ok - liveness: upgraded to 2.0.1 (the Go client): up, build_info replaced, uptime reset "
              f"({up2:.1f} s); SIGTERM: down after {took:.1f} s")

        # 5. The SBOM job into a real Pushgateway; a real Prometheus over both.
        gw_port, prom_port = free_port(), free_port()
        gw = subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gw)
        wait_for("the Pushgateway", lambda: urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/-/ready", timeout=2))
        scan = os.path.join(work, "scan")
        os.makedirs(os.path.join(scan, "svc"))
        with open(os.path.join(scan, "Cargo.lock"), "w") as f:
            f.write('version = 3\n\n[[package]]\nname = "openssl"\nversion = "0.10.40"\n\n'
                    '[[package]]\nname = "serde"\nversion = "1.0.150"\n')
        with open(os.path.join(scan, "svc/package-lock.json"), "w") as f:
            f.write('{"lockfileVersion": 3, "packages": {"node_modules/lodash": {"version": "4.17.20"}}}')
        updated = int(time.time()) - 3600
        with open(os.path.join(work, "vulndb.json"), "w") as f:
            f.write(json.dumps({"updated": updated, "vulns": [
                {"id": "CVE-2021-23337", "ecosystem": "npm", "package": "lodash", "versions": ["4.17.20"],
                 "severity": "high"},
                {"id": "CVE-X-1", "ecosystem": "cargo", "package": "openssl", "versions": ["0.10.40"],
                 "severity": "critical"}]}))
        for _ in range(2):
            sh(BPFEX, "push", "--gateway", f"http://127.0.0.1:{gw_port}", "--job", "sbom_scan",
               "--param", f"dir={scan}", "--param", f"vulndb={work}/vulndb.json",
               os.path.join(ROOT, "rules/jobs/sbom_scan.lua"))
        # What the two scans pushed, against their known inputs: 3 packages a
        # scan (2 cargo, 1 npm), one high and one critical CVE, the database's
        # date; counters continue from what the gateway holds.
        pushed = series(urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/metrics", timeout=5).read().decode())
        grp = 'instance="",job="sbom_scan"'
        want = {
            f"ironpost_sbom_scanner_scans_completed_total{{{grp}}}": 2,
            f'ironpost_sbom_scanner_packages_scanned_total{{ecosystem="cargo",{grp}}}': 4,
            f'ironpost_sbom_scanner_packages_scanned_total{{ecosystem="npm",{grp}}}': 2,
            f'ironpost_sbom_scanner_cves_found{{{grp},severity="critical"}}': 1,
            f'ironpost_sbom_scanner_cves_found{{{grp},severity="high"}}': 1,
            f'ironpost_sbom_scanner_cves_found{{{grp},severity="medium"}}': 0,
            f'ironpost_sbom_scanner_cves_found{{{grp},severity="low"}}': 0,
            f"ironpost_sbom_scanner_vulndb_last_update_timestamp{{{grp}}}": updated,
            f"ironpost_sbom_scanner_scan_duration_seconds_count{{{grp}}}": 2,
        }
        wrong = {k: (v, pushed.get(k)) for k, v in want.items() if pushed.get(k) is None or float(pushed[k]) != v}
        if wrong:
            fail("the SBOM job's pushed values (want, have): " + str(wrong) + "\n" +
                 "\n".join(k for k in pushed if "sbom" in k))
        print("ok - the SBOM job pushed exactly its inputs' counts: 2 scans, packages by ecosystem, CVEs by "
              "severity, the database's date")
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: ironpost
    static_configs: [{{targets: ['127.0.0.1:{port}'], labels: {{instance: ironpost-daemon}}}}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{{targets: ['127.0.0.1:{gw_port}']}}]
""")
        prom = subprocess.Popen(["prometheus", "--config.file", os.path.join(work, "prometheus.yml"),
                                 "--storage.tsdb.path", os.path.join(work, "prom"),
                                 "--web.listen-address", f"127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(prom)
        # The demo loop keeps every counter moving while Prometheus scrapes.
        loop = subprocess.Popen([c_client, "--pin", f"{PIN}/ironpost_counters", "loop"])
        procs.append(loop)
        traffic = subprocess.Popen(["ip", "netns", "exec", NS_B, sys.executable,
                                    os.path.join(ROOT, "tools/ironpost_traffic.py"), "loop", "ip0p", BLOCK_INIT],
                                   stdout=subprocess.DEVNULL)
        procs.append(traffic)
        wait_for("the per-second gauges and the demo daemon up",
                 lambda: 'ironpost_ebpf_bits_per_second{protocol="total"}' in (t := metrics(port)) and
                 "\nironpost_daemon_up 1\n" in t)
        with open(os.path.join(work, "bpfex.prom"), "w") as f:
            f.write(metrics(port))
        with open(os.path.join(work, "gateway.prom"), "w") as f:
            f.write(urllib.request.urlopen(f"http://127.0.0.1:{gw_port}/metrics", timeout=5).read().decode())
        r = subprocess.run([os.path.join(ROOT, "tools/check_catalog.py"), "--ignore-labels", "job,instance",
                            os.path.join(ROOT, "tests/privileged/ironpost_catalog.txt"),
                            os.path.join(work, "bpfex.prom"), os.path.join(work, "gateway.prom")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("seed 001's catalog:\n" + r.stdout + r.stderr)
        print("ok - catalog: " + r.stdout.strip().splitlines()[-1] + " (bpfex and the SBOM job's Pushgateway)")
        dashboards = [os.path.join(ROOT, "grafana/dashboards/ironpost", n)
                      for n in ("ironpost-overview.json", "ironpost-log-pipeline.json", "ironpost-security.json")]
        result = {}

        def queries_answer():
            result["r"] = subprocess.run([os.path.join(ROOT, "tools/check_dashboard_queries.py"),
                                          f"http://127.0.0.1:{prom_port}"] + dashboards,
                                         capture_output=True, text=True)
            return result["r"].returncode == 0
        if not wait_for_quietly(queries_answer, 60):
            fail("Ironpost dashboard queries on Prometheus:\n" + result["r"].stdout + result["r"].stderr)
        print("ok - the three dashboards on a real Prometheus: " + result["r"].stdout.strip().splitlines()[-1])

        # 6. A hostile application: bytes that are not UTF-8 and characters
        # that need escaping in its strings, then a layout bpfex does not know.
        region_write(version=b"\xff\xfe1", commit=b'a"b\nc\\d')
        want = 'ironpost_daemon_build_info{version="\ufffd\ufffd1",commit="a\\"b\\nc\\\\d"} 1'
        wait_for("the hostile strings served escaped", lambda: want in metrics(port), seconds=10)
        q = urllib.parse.quote('ironpost_daemon_build_info{job="ironpost"}')
        wait_for("Prometheus to parse them", lambda: 'a\\"b\\nc\\\\d' in urllib.request.urlopen(
            f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", timeout=5).read().decode(), seconds=15)
        region_write(abi=7)
        wait_for("a region of an unknown layout to be ignored",
                 lambda: "ironpost_log_pipeline_logs_collected_total" not in series(metrics(port)), seconds=10)
        before = float(series(metrics(port))["ironpost_ebpf_packets_total"])
        wait_for("the eBPF group to go on", lambda: float(series(metrics(port))["ironpost_ebpf_packets_total"]) > before,
                 seconds=10)
        region_write(abi=2)
        wait_for("the region back", lambda: "ironpost_log_pipeline_logs_collected_total" in series(metrics(port)),
                 seconds=10)
        print("ok - a hostile application: invalid UTF-8 served as U+FFFD, quotes and newlines escaped (and parsed by "
              "Prometheus); a region of an unknown abi is not served while the eBPF group goes on")
        stop(p)
        print("PASS")
        return 0
    finally:
        teardown(procs + [p], (NS_A, NS_B), work)


def wait_for_quietly(fn, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if fn():
            return True
        time.sleep(2)
    return False


# Counts the frames that reach the receiving side's packet taps (after XDP)
# for a while: in total and by IPv4 source. Prints JSON.
WITNESS = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
total, by = 0, {}
while time.time() < end:
    try:
        f, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    total += 1
    if f[12:14] == b"\x08\x00":
        src = socket.inet_ntoa(f[26:30])
        by[src] = by.get(src, 0) + 1
print(json.dumps({"total": total, "from": by}))
"""

if __name__ == "__main__":
    sys.exit(main())
