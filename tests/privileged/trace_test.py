#!/usr/bin/env python3
"""Every tracing attach type, on real programs, with exact witnesses.

bpfex starts first, as the shipped unit runs it (its own user, CAP_BPF,
CAP_PERFMON, CAP_NET_ADMIN, nothing else); then the witness (trace_witness.c)
starts in an account of its own, as a service would. The witness calls
getppid() N times, its own function N times and fires its USDT probe N times,
and faults in F pages; one BPF object per group of attach types
(trace_test.bpf.c) counts what that account does into one pinned map, which a
rule exports. Then, for every type:
  - the count bpfex serves equals the witness's own count, exactly, and the
    sums of what the probes saw (returned values, the USDT argument);
  - it equals bpftool's dump of the same map (per-CPU values summed);
  - a type this kernel cannot run is decided by a reference bpfex did not
    write (bpftool loading the same object; the kernel's kprobe PMU), and then
    bpfex must report that object's failure, clearly and counted, and serve
    the others; a type the kernel can run must count exactly.
Attach failures (a missing tracepoint, a stripped binary, a binary with no
USDT note) are one error each naming object, program and target, counted in
bpfex_bpf_errors_total, and never take the other objects down.
Classic tracepoints read their id from tracefs, which only root can: as the
unit, bpfex says so; run as root on a host where tracefs is not mounted,
bpfex mounts it and counts exactly.
  trace_test.py BUILD_TESTS_DIR WITNESS   (BPFEX: the bpfex binary)
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, sh, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
DAEMON_USER = "bpfex-trace"      # the unit's user
WITNESS_USER = "bpfex-witness"   # the service's
CAPS = "+bpf,+perfmon,+net_admin"
PIN = "/sys/fs/bpf/bpfex-trace"
N = 1000
FAULTS = 300

# Every object shares the one pinned map; the rule reads it through one that loads.
RULE = """
local probes = bpf.map("%s/probes")
bpf.export(probes, metric.counter("trace_test_hits_total", "Events per probe.", {"probe"}), "hits")
bpf.export(probes, metric.counter("trace_test_sum_total", "Sum of what each probe saw.", {"probe"}), "sum")
"""

# group -> (attachments as (program, type, target)); "" type: auto (the SEC()).
GROUPS = {
    "kprobe": [("on_kprobe", "kprobe", "__x64_sys_getppid"), ("on_kretprobe", "kretprobe", "__x64_sys_getppid")],
    "fentry": [("on_fentry", "fentry", "__do_sys_getppid"), ("on_fexit", "fexit", "__do_sys_getppid")],
    "raw_tp": [("on_raw_tp", "raw_tp", "sys_enter")],
    "tp_btf": [("on_tp_btf", "tp_btf", "sys_enter")],
    "uprobe": [("on_uprobe", "uprobe", "{witness}:bpfex_witness_step"),
               ("on_uretprobe", "uretprobe", "{witness}:bpfex_witness_step"),
               ("on_uprobe_lib", "uprobe", "libc.so.6:getppid"),
               ("on_uretprobe_lib", "uretprobe", "libc.so.6:getppid")],
    "usdt": [("on_usdt", "usdt", "{witness}:bpfex_witness:step")],
    "perf": [("on_page_fault", "perf_event", "type=software,config=page-faults,period=1"),
             ("on_cpu_clock", "", "")],  # SEC("perf_event/type=1,config=0,frequency=100"), ebpf_exporter's form
    "tracepoint": [("on_tracepoint", "", "")],  # SEC("tracepoint/syscalls/sys_enter_getppid")
}
# Each group's probes (the map's enum names) and what the witness makes each count.
PROBES = {"kprobe": ["kprobe", "kretprobe"], "fentry": ["fentry", "fexit"], "raw_tp": ["raw_tp"],
          "tp_btf": ["tp_btf"], "uprobe": ["uprobe", "uretprobe", "uprobe_lib", "uretprobe_lib"], "usdt": ["usdt"],
          "tracepoint": ["tracepoint"]}
# Failures that must be reported, not fatal: object -> (group, program, type, target, what the log names).
BROKEN = {
    "b_raw": ("raw_tp", "on_raw_tp", "raw_tp", "bpfex_no_such_tracepoint", "bpfex_no_such_tracepoint"),
    "b_strip": ("uprobe", "on_uprobe", "uprobe", "{stripped}:bpfex_witness_step", "bpfex_witness_step"),
    "b_note": ("usdt", "on_usdt", "usdt", "/bin/true:bpfex_witness:step", "/bin/true"),
}


def ensure_user(name):
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
        return True


def kernel_allows(build, group):
    """What this kernel allows, decided without bpfex: bpftool loads the same
    object; kprobes also need the kernel's kprobe PMU."""
    if group == "kprobe" and not os.path.exists("/sys/bus/event_source/devices/kprobe"):
        return False, "no kprobe PMU (/sys/bus/event_source/devices/kprobe): the kernel has no CONFIG_KPROBES"
    d = f"/sys/fs/bpf/ref-{group}"
    r = subprocess.run(["bpftool", "prog", "loadall", f"{build}/trace_{group}.bpf.o", d],
                       capture_output=True, text=True)
    subprocess.run(["rm", "-rf", d])
    subprocess.run(["rm", "-f", f"/sys/fs/bpf/probes"])
    if r.returncode != 0:
        err = [line for line in r.stderr.splitlines() if "failed" in line or "Error" in line]
        return False, "bpftool cannot load it either: " + "; ".join(err[:2])
    return True, ""


def config(d, port, uid, witness, stripped, groups, broken, reader):
    with open(d + "/trace.lua", "w") as f:
        f.write(RULE % reader)
    lines = [f"listen: 127.0.0.1:{port}", "tick_interval: 200ms", f"rules: [{d}/trace.lua]",
             f"state_dir: {d}/state", "bpf:", f"  pin_path: {PIN}", "  objects:"]

    def obj(name, group, attach):
        lines.append(f"    - name: {name}")
        lines.append(f"      file: {d}/trace_{group}.bpf.o")
        lines.append(f"      globals: {{target_uid: {uid}}}")
        lines.append("      attach:")
        for prog, typ, target in attach:
            item = f"program: {prog}"
            if typ:
                item += f", type: {typ}"
            if target:
                item += ", target: \"" + target.format(witness=witness, stripped=stripped) + "\""
            lines.append(f"        - {{{item}}}")
    for g in groups:
        obj("t_" + g, g, GROUPS[g])
    for name in broken:
        g, prog, typ, target, _ = BROKEN[name]
        obj(name, g, [(prog, typ, target)])
    path = f"{d}/bpfex-{port}.yaml"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def dump_probes():
    """bpftool's decoding of the pinned map: probe name -> (hits, sum), per-CPU summed."""
    out = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", PIN + "/probes"))
    got = {}
    for e in out:
        key = e.get("formatted", e)["key"] if "formatted" in e else e["key"]
        values = e.get("formatted", e)["values"] if "formatted" in e else e["values"]
        name = key["probe"] if isinstance(key, dict) else key
        hits = sum(v["value"]["hits"] for v in values)
        total = sum(v["value"]["sum"] for v in values)
        got[name] = (hits, total)
    return got


class Witness:
    def __init__(self, path, user):
        self.p = subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", path],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        words = self.p.stdout.readline().split()
        if not words or words[0] != "ready":
            fail("the witness did not start: " + " ".join(words))
        self.pid, self.ppid = int(words[1]), int(words[2])

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("exit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


def start(args, log, as_unit):
    cmd = [BPFEX, "run", "-c", args]
    if as_unit:
        cmd = ["setpriv", f"--reuid={DAEMON_USER}", f"--regid={DAEMON_USER}", "--clear-groups",
               f"--bounding-set=-all,{CAPS}", f"--inh-caps=-all,{CAPS}", f"--ambient-caps=-all,{CAPS}"] + cmd
    return subprocess.Popen(cmd, stdout=log, stderr=log)


def stop(p, log_path):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("bpfex did not stop on SIGTERM:\n" + open(log_path).read()[-2000:])
    if rc != 0:
        fail(f"bpfex exited {rc}:\n" + open(log_path).read()[-2000:])


def served(port):
    m = series(metrics(port))
    out = {}
    for k, v in m.items():
        mm = re.fullmatch(r'trace_test_(hits|sum)_total\{probe="([a-z_]+)"\}', k)
        if mm:
            out.setdefault(mm.group(2), [0, 0])[0 if mm.group(1) == "hits" else 1] = int(float(v))
    return m, {k: tuple(v) for k, v in out.items()}


def check_counts(port, w, probes, tag):
    """Runs the witness N times and checks each probe's increase."""
    # Where each count starts: served and dumped alike (the witness's own
    # start-up, e.g. its first getppid(), may not be exported yet).
    before = wait_for("served counts to settle", lambda: (t := served(port)[1]) == (t2 := served(port)[1]) and
                      all(dump_probes().get(p, (0, 0)) == t2.get(p, (0, 0)) for p in probes) and t2, seconds=10)
    ran = w.ask(f"run {N}")
    if ran[:2] != ["ran", str(N)]:
        fail("the witness: " + " ".join(ran))
    step_sum = int(ran[2])  # sum of 2i+1
    want = {"kprobe": (N, 0), "kretprobe": (N, 0), "fentry": (N, 0), "fexit": (N, N * w.ppid),
            "tracepoint": (N, 0), "raw_tp": (N, 0), "tp_btf": (N, 0), "uprobe": (N, 0),
            "uretprobe": (N, step_sum), "uprobe_lib": (N, 0), "uretprobe_lib": (N, N * w.ppid),
            "usdt": (N, N * (N + 1) // 2)}

    def increase(now):
        return {p: (now.get(p, (0, 0))[0] - before.get(p, (0, 0))[0], now.get(p, (0, 0))[1] - before.get(p, (0, 0))[1])
                for p in probes}
    got = None
    end = time.time() + 10
    while time.time() < end:
        got = increase(served(port)[1])
        if all(got[p] == want[p] for p in probes):
            break
        time.sleep(0.2)
    for p in probes:
        if got[p] != want[p]:
            fail(f"{tag}: probe {p} served +{got[p][0]} events (sum +{got[p][1]}), the witness did "
                 f"{want[p][0]} (sum {want[p][1]})")
    # The same map as bpftool decodes it, against what is served now.
    time.sleep(0.5)
    ref = dump_probes()
    now = served(port)[1]
    for p in probes:
        if ref.get(p) != now.get(p):
            fail(f"{tag}: probe {p}: bpfex serves {now.get(p)}, bpftool dumps {ref.get(p)}")
    print(f"ok - {tag}: " + ", ".join(f"{p} +{got[p][0]}" for p in probes) +
          f" = the witness's {N} (sums too); equal to bpftool's dump")


def main():
    build, witness_bin = sys.argv[1], sys.argv[2]
    private_bpffs()
    # A host where tracefs is not mounted (as here): for the unit, tracepoint
    # attachment must fail clearly; as root, bpfex mounts it itself.
    subprocess.run(["umount", "/sys/kernel/tracing"], capture_output=True)
    made = [u for u in (DAEMON_USER, WITNESS_USER) if ensure_user(u)]
    d = tempfile.mkdtemp(prefix="bpfex-trace-")
    os.chmod(d, 0o755)
    procs = []
    witness = None
    try:
        uid = pwd.getpwnam(WITNESS_USER).pw_uid
        daemon = pwd.getpwnam(DAEMON_USER)
        # What the unit's user may read: copies outside the checkout.
        witness_path = d + "/bpfex-witness"
        stripped = d + "/bpfex-witness-stripped"
        shutil.copy(witness_bin, witness_path)
        shutil.copy(witness_bin, stripped)
        sh("strip", "--strip-all", stripped)
        for g in GROUPS:
            shutil.copy(f"{build}/trace_{g}.bpf.o", d)
        os.makedirs(d + "/state")
        os.chown(d + "/state", daemon.pw_uid, daemon.pw_gid)
        os.makedirs(PIN, exist_ok=True)  # what the unit's ExecStartPre does
        os.chown(PIN, daemon.pw_uid, daemon.pw_gid)

        allowed = {g: kernel_allows(build, g) for g in GROUPS if g != "perf"}
        allowed["perf"] = (True, "")
        for g, (ok, why) in allowed.items():
            if not ok:
                print(f"SKIPPED count for {g}: {why}; bpfex must report it instead")

        # 1. As the unit: every group but classic tracepoints (below), and the broken ones.
        groups = [g for g in GROUPS if g != "tracepoint"] + ["tracepoint"]
        port = free_port()
        cfg = config(d, port, uid, witness_path, stripped, groups, list(BROKEN), "t_perf")
        subprocess.run([BPFEX, "check", "-c", cfg], check=True, capture_output=True)
        log_path = d + "/unit.log"
        log = open(log_path, "w")
        p = start(cfg, log, as_unit=True)
        procs.append(p)
        m = wait_for("bpfex to serve", lambda: "bpfex_bpf_errors_total" in (t := metrics(port)) and t, seconds=30)
        time.sleep(1)
        # The service starts after bpfex, in its own account.
        witness = Witness(witness_path, WITNESS_USER)
        log.flush()
        said = open(log_path).read()
        # uprobe and USDT: counted exactly, or (the kernel's uprobe PMU wants
        # CAP_SYS_ADMIN, which the unit lacks) refused with that said.
        refused = {g for g in ("uprobe", "usdt") if f"BPF object t_{g}:" in said}
        for g in sorted(refused):
            line = next(l for l in said.splitlines() if f"BPF object t_{g}:" in l)
            if "CAP_SYS_ADMIN" not in line:
                fail(f"{g} as the unit: refused without saying why: {line!r}")
            print(f"ok - {g} as the unit: refused, and said: " + line.split(" error ", 1)[-1][:220])
        works = [g for g in PROBES if g != "tracepoint" and allowed[g][0] and g not in refused]
        check_counts(port, witness, [pr for g in works for pr in PROBES[g]], "as the unit")

        # perf_event: page faults, exactly (period 1), against getrusage.
        served_faults = []
        for _ in range(2):  # the first round warms the witness's own code paths
            before = served(port)[1].get("perf_page_faults", (0, 0))[0]
            said = witness.ask(f"faults {FAULTS}")
            if said[:1] != ["faulted"]:
                fail("the witness: " + " ".join(said))
            time.sleep(0.6)
            after = served(port)[1].get("perf_page_faults", (0, 0))[0]
            served_faults.append((after - before, int(said[1])))
        got, own = served_faults[-1]
        if own != FAULTS or got != FAULTS:
            fail(f"perf_event page-faults: served +{got}, getrusage +{own}, pages written {FAULTS}")
        print(f"ok - perf_event (software page-faults, period 1): +{got} = getrusage's +{own} = {FAULTS} pages written")
        # ebpf_exporter's SEC("perf_event/type=1,config=0,frequency=100"): every CPU, 100 Hz.
        cpus = os.cpu_count()
        c0, t0 = served(port)[1].get("perf_clock", (0, 0))[0], time.time()
        time.sleep(3)
        c1, t1 = served(port)[1].get("perf_clock", (0, 0))[0], time.time()
        rate = (c1 - c0) / (t1 - t0)
        if not 0.8 * 100 * cpus <= rate <= 1.2 * 100 * cpus:
            fail(f"perf_event cpu-clock at 100 Hz on {cpus} CPUs: {rate:.1f} samples/s")
        print(f"ok - perf_event in ebpf_exporter's SEC() form (cpu-clock, 100 Hz): {rate:.1f}/s on {cpus} CPUs")

        # The failures: each reported once, naming object, program and target; counted; nothing else lost.
        m = series(metrics(port))
        log.flush()
        said = open(log_path).read()
        for name, (g, prog, typ, target, named) in BROKEN.items():
            n = m.get(f'bpfex_bpf_errors_total{{operation="attach",object="{name}"}}')
            if n != "1":
                fail(f"{name}: bpfex_bpf_errors_total{{operation=attach}} is {n}, want 1")
            line = next((l for l in said.splitlines() if f"BPF object {name}:" in l), "")
            if prog not in line or named not in line:
                fail(f"{name}: the log does not name program {prog} and target {named}: {line!r}")
            print(f"ok - {name}: counted once; {line.split(' error ', 1)[-1][:150]}")
        for g, (ok, why) in allowed.items():
            key = "t_" + g
            load = m.get(f'bpfex_bpf_errors_total{{operation="load",object="{key}"}}')
            attach = m.get(f'bpfex_bpf_errors_total{{operation="attach",object="{key}"}}')
            if g == "tracepoint":
                line = next((l for l in said.splitlines() if "BPF object t_tracepoint:" in l), "")
                if attach != "1" or "tracefs" not in line:
                    fail(f"classic tracepoint as the unit: want one attach error that names tracefs; got {attach}: {line!r}")
                print("ok - classic tracepoint as the unit: " + line.split(" error ", 1)[-1][:200])
            elif g in refused:
                continue
            elif ok and (load or attach):
                fail(f"{g}: the kernel allows it (bpftool loads it) but bpfex failed it: load {load}, attach {attach}")
            elif not ok and not (load or attach):
                fail(f"{g}: the kernel refuses it ({why}) but bpfex reports nothing")
            elif not ok:
                line = next((l for l in said.splitlines() if f"BPF object {key}:" in l), "")
                print(f"ok - {g} refused by this kernel, reported: {line.split(' error ', 1)[-1][:160]}")
        stop(p, log_path)
        print("ok - SIGTERM: status 0")

        # 2. As root, on a host with tracefs unmounted: bpfex mounts it, and a
        # classic tracepoint (SEC() form, type auto) counts exactly; so do
        # uprobes and USDT whatever the unit could do.
        subprocess.run(["umount", "/sys/kernel/tracing"], capture_output=True)
        port = free_port()
        cfg = config(d, port, uid, witness_path, stripped, ["tracepoint", "uprobe", "usdt"], [], "t_tracepoint")
        log_path = d + "/root.log"
        log = open(log_path, "w")
        p = start(cfg, log, as_unit=False)
        procs.append(p)
        wait_for("bpfex as root to serve", lambda: "bpfex_bpf_errors_total" in metrics(port), seconds=30)
        time.sleep(0.5)
        check_counts(port, witness, PROBES["tracepoint"] + PROBES["uprobe"] + PROBES["usdt"],
                     "as root, tracefs mounted by bpfex")
        stop(p, log_path)
        print("PASS")
        return 0
    except SystemExit:
        for name in ("unit.log", "root.log"):
            if os.path.exists(f"{d}/{name}"):
                print(f"--- {name} (tail)\n" + open(f"{d}/{name}").read()[-3000:])
        raise
    finally:
        if witness is not None:
            witness.stop()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", d, PIN])
        for u in made:
            subprocess.run(["userdel", u], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
