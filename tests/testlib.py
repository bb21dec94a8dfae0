"""Helpers the Python tests share (integration and privileged)."""
import os
import socket
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    """A port on 127.0.0.1 nobody listens on (now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(what, fn, seconds=60, every=0.2):
    """fn() until it returns something true (errors count as not yet); fails
    the test after `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(every)
    fail("timed out waiting for " + what)


def metrics(port):
    """bpfex's /metrics on 127.0.0.1:port, as text."""
    import urllib.request
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def series(text):
    """{series: value text} of a text exposition (comments left out)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = v
    return out


def start_prometheus(workdir, job, target, port):
    """The real Prometheus, scraping `target` (host:port) as `job` every
    second, its data under workdir. Returns the process."""
    cfg = os.path.join(workdir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: {job}\n"
                f"    static_configs: [{{targets: ['{target}']}}]\n")
    return subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path", os.path.join(workdir, "prom"),
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dashboards_answer(prom_port, paths, seconds=60, between=None):
    """Every panel query of the dashboards parses and returns data on the
    Prometheus at prom_port (tools/check_dashboard_queries.py), retried while
    Prometheus gathers samples; `between` runs before each try (traffic).
    Returns the checker's summary line; fails the test after `seconds`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    end = time.time() + seconds
    while True:
        if between:
            between()
        r = subprocess.run([os.path.join(root, "tools/check_dashboard_queries.py"),
                            f"http://127.0.0.1:{prom_port}"] + list(paths), capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip().splitlines()[-1]
        if time.time() > end:
            fail("dashboard queries on Prometheus:\n" + r.stdout + r.stderr)
        time.sleep(2)


def private_bpffs():
    """Re-executes this script in a private mount namespace and mounts a bpffs
    of its own there: a machine where bpffs was never mounted, and nothing of
    the host's is touched. Returns in the re-executed process."""
    if not os.environ.get("BPFEX_TEST_PRIVATE_NS"):
        os.environ["BPFEX_TEST_PRIVATE_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv)
    subprocess.check_call(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])


def sh(*cmd, check=True):
    """Runs cmd and returns its stdout; raises on a failure unless check=False."""
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True).stdout


def netns_lab(*namespaces):
    """Fresh network namespaces (any left over from an earlier run deleted
    first), IPv6 off so nothing but a test's own frames crosses their links,
    lo up. Delete them with teardown() or `ip netns del`."""
    for ns in namespaces:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def veth(ns, dev, ip, peer_ns, peer_dev, peer_ip, prefix=30):
    """A veth pair from ns/dev (ip) to peer_ns/peer_dev (peer_ip), both up,
    with permanent neighbour entries both ways: no ARP, so a test counts its
    own datagrams exactly. Returns dev's ifindex."""
    import re
    sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer_dev, "netns", peer_ns)
    sh("ip", "-n", ns, "addr", "add", f"{ip}/{prefix}", "dev", dev)
    sh("ip", "-n", peer_ns, "addr", "add", f"{peer_ip}/{prefix}", "dev", peer_dev)
    mac = {d: re.search(r"link/ether (\S+)", sh("ip", "-n", n, "link", "show", d)).group(1)
           for n, d in ((ns, dev), (peer_ns, peer_dev))}
    sh("ip", "-n", ns, "neigh", "replace", peer_ip, "lladdr", mac[peer_dev], "dev", dev, "nud", "permanent")
    sh("ip", "-n", peer_ns, "neigh", "replace", ip, "lladdr", mac[dev], "dev", peer_dev, "nud", "permanent")
    sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", peer_ns, "link", "set", peer_dev, "up")
    return int(re.match(r"(\d+):", sh("ip", "-n", ns, "-o", "link", "show", dev)).group(1))


def bpfex_test_ticks(bpfex, test_file, require_pass=False):
    """Runs `bpfex test -v FILE` and returns, per tick, {series: value text}
    as it printed them. A failing expectation of the file's own is the file's
    business unless require_pass; a run with no tick fails the test."""
    out = subprocess.run([bpfex, "test", "-v", test_file], capture_output=True, text=True)
    if "(tick 1)" not in out.stdout or (require_pass and out.returncode != 0):
        fail("bpfex test " + test_file + ":\n" + out.stdout[-3000:] + out.stderr[-2000:])
    ticks = []
    for line in out.stdout.splitlines():
        if line.startswith("-- "):
            ticks.append({})
        elif line.startswith("   ") and not line.startswith("    ") and ticks:  # not a FAIL's want/have
            series, _, value = line.strip().rpartition(" ")
            ticks[-1][series] = value
    return ticks


def teardown(procs, namespaces, workdir):
    """A test's finally: kills what still runs, deletes its network
    namespaces, and removes its scratch directory (kept with BPFEX_KEEP=1)."""
    for q in procs:
        if q is not None and q.poll() is None:
            q.kill()
            q.wait()
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if os.environ.get("BPFEX_KEEP"):
        print("kept", workdir)
    else:
        subprocess.run(["rm", "-rf", workdir])


def listening_inodes(pid):
    """Inodes of the TCP sockets in LISTEN state that pid holds."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[8:-1])
    listening = set()
    for table in ("tcp", "tcp6"):
        for line in open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":  # TCP_LISTEN
                listening.add(cols[9])
    return held & listening
