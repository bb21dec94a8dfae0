#!/usr/bin/env python3
"""cloudflare/ebpf_exporter's configuration format, run as it is.

tests/privileged/ebpf_exporter/witness.{yaml,bpf.c} are a configuration and a
program in ebpf_exporter's conventions (written here: maps named after the
metrics, u64 values, keys decoded by label size, padding and decoders,
histogram keys ending in a bucket index with the sum at bucket_max + 1).
bpfex loads them with `bpf.ebpf_exporter: {dir, names}`, attaches every
program as its SEC() says (raw_tp, usdt), and the witness process
(trace_witness.c) then fires its USDT probe N times and calls getppid() N
times. Checked:
  - every counter and histogram is served under ebpf_exporter_<name>, with the
    label values the decoders give (syscall, string + regexp submatch, uint +
    static_map, hex; a padded struct key);
  - counts are exact: getppid N + 1 (the witness's first call, at start),
    the probe N times;
  - each histogram (exp2, exp2zero, linear, fixed; multipliers; sum keys)
    equals what ebpf_exporter's README says its transform makes of the map,
    computed here from bpftool's dump of the same map, and from the values
    the witness observed (1..N);
  - a Lua rule extends them: a quantile from ebpf_exporter's histogram and an
    alert on its counter, evaluated in the daemon;
  - mistakes in a configuration are refused by `bpfex check` with the file,
    line and field: a decoder bpfex does not have, an unknown key, a bad
    bucket type.
  ebpf_exporter_test.py WITNESS_BPF_OBJECT WITNESS   (BPFEX: the bpfex binary)
"""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, sh, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
HERE = os.path.dirname(os.path.abspath(__file__))
RUN = "/run/bpfex-ee-test"  # where the program's SEC("usdt/...") looks for the witness
PIN = "/sys/fs/bpf/bpfex-ee"
N = 1000
PREFIX = "ebpf_exporter_"
# ebpf_exporter's families are in the registry: a rule derives from them and alerts on them.
RULE = """
local p50 = metric.gauge("witness_step_p50", "Median of the probe's argument, from ebpf_exporter's linear histogram")
local busy = alert{ name = "WitnessProbeBusy", labels = { severity = "info" },
                    annotations = { summary = "{{ $value }} probe firings by {{ $labels.command }}" } }
on_tick(function()
  local q = vec.histogram_quantile(0.5, vec.series("ebpf_exporter_witness_step_linear_bucket"))
  if q[1] then p50:set({}, q[1].value) end
  for _, c in ipairs(vec.series("ebpf_exporter_witness_calls_total")) do
    if c.value >= 1000 then busy:fire({ command = c.labels.command }, c.value) end
  end
end)
"""
# name -> (bucket_type, min, max or keys, multiplier), as witness.yaml says.
HISTOGRAMS = {
    "witness_step_exp2": ("exp2", 0, 12, 1.0),
    "witness_step_exp2zero": ("exp2zero", 0, 13, 0.001),
    "witness_step_linear": ("linear", 0, 12, 100.0),
    "witness_step_fixed": ("fixed", None, [10, 100, 500, 1000], 1.0),
}


def kernel_bucket(name, v):
    """The bucket index witness.bpf.c files v under (its own arithmetic)."""
    k = 0
    while (1 << k) < v:
        k += 1
    if name.endswith("exp2"):
        return min(k, 12)
    if name.endswith("exp2zero"):
        return min(0 if v == 0 else k + 1, 13)
    if name.endswith("linear"):
        return min((v + 99) // 100, 12)
    return 10 if v <= 10 else 100 if v <= 100 else 500 if v <= 500 else 1000


def transform(name, buckets):
    """ebpf_exporter's README ("exp2 histograms" ... "sum keys"): map keys ->
    cumulative (le, count) in key order, and the sum (the key after the last,
    times the multiplier)."""
    kind, lo, hi, mult = HISTOGRAMS[name]
    keys = hi if kind == "fixed" else list(range(lo, hi + 1))
    out, count = [], 0
    for k in keys:
        count += buckets.get(k, 0)
        if kind == "exp2":
            le = 2.0 ** k * mult
        elif kind == "exp2zero":
            le = 0.0 if k == 0 else 2.0 ** (k - 1) * mult
        else:
            le = k * mult
        out.append((le, count))
    return out, buckets.get(keys[-1] + 1, 0) * mult


def le_text(x):
    """Go's strconv.FormatFloat(x, 'g', -1, 64) as Prometheus prints le, for these values."""
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    return repr(x)


def dump(map_name):
    """bpftool's dump of the object's map: key -> value (per-CPU summed)."""
    out = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", f"{PIN}/{map_name}"))
    got = {}
    for e in out:
        f = e.get("formatted", e)
        key = f["key"]
        vals = f.get("values") or [{"value": f["value"]}]
        got[json.dumps(key, sort_keys=True)] = sum(int(v["value"]) for v in vals)
    return got


def cgroup2_root():
    """Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host)."""
    for line in open("/proc/self/mountinfo"):
        if " - cgroup2 " in line:
            return line.split()[4]
    fail("no cgroup2 mount")


def check_refused(d, yaml_text, want):
    os.makedirs(d + "/bad", exist_ok=True)
    with open(d + "/bad/bad.yaml", "w") as f:
        f.write(yaml_text)
    with open(d + "/bad/bpfex.yaml", "w") as f:
        f.write(f"bpf:\n  ebpf_exporter: {{dir: {d}/bad, names: [bad]}}\n")
    r = subprocess.run([BPFEX, "check", "-c", d + "/bad/bpfex.yaml"], capture_output=True, text=True)
    said = r.stdout + r.stderr
    if r.returncode == 0 or want not in said:
        fail(f"a bad configuration: want a refusal saying {want!r}, got exit {r.returncode}: {said}")
    return said.strip().splitlines()[-1]


def main():
    obj, witness_bin = sys.argv[1], sys.argv[2]
    private_bpffs()
    d = tempfile.mkdtemp(prefix="bpfex-ee-")
    os.makedirs(RUN, exist_ok=True)
    procs, made = [], []
    try:
        shutil.copy(witness_bin, RUN + "/bpfex-witness")
        shutil.copy(os.path.join(HERE, "ebpf_exporter/witness.yaml"), d + "/witness.yaml")
        shutil.copy(obj, d + "/witness.bpf.o")
        port = free_port()
        with open(d + "/extend.lua", "w") as f:
            f.write(RULE)
        with open(d + "/bpfex.yaml", "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\ntick_interval: 200ms\nrules: [{d}/extend.lua]\nbpf:\n  pin_path: {PIN}\n"
                    f"  ebpf_exporter:\n    dir: {d}\n    names: [witness]\n")
        subprocess.run([BPFEX, "check", "-c", d + "/bpfex.yaml"], check=True, capture_output=True)
        log = open(d + "/bpfex.log", "w")
        p = subprocess.Popen([BPFEX, "run", "-c", d + "/bpfex.yaml"], stdout=log, stderr=log)
        procs.append(p)
        wait_for("bpfex to serve", lambda: "bpfex_bpf_errors_total" in metrics(port) or
                 "bpfex_ticks_total" in metrics(port), seconds=30)
        time.sleep(0.5)
        # The witness starts after bpfex, and runs, in a cgroup (v2) of its own.
        cg = os.path.join(cgroup2_root(), "bpfex-ee-test")
        os.makedirs(cg, exist_ok=True)
        made.append(cg)
        w = subprocess.Popen(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$1"', cg, RUN + "/bpfex-witness"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(w)
        if not w.stdout.readline().startswith("ready"):
            fail("the witness did not start")
        w.stdin.write(f"run {N}\n")
        w.stdin.flush()
        if not w.stdout.readline().startswith(f"ran {N}"):
            fail("the witness did not run")
        calls = f'{PREFIX}witness_calls_total{{command="bpfex-wit",operation="step",magic="eeffc00000000000"}}'
        have = wait_for("the probe's counts", lambda: (t := series(metrics(port))).get(calls) == str(N) and t,
                        seconds=10)
        getppid = have.get(f'{PREFIX}witness_syscalls_total{{syscall="getppid"}}')
        if getppid != str(N + 1):
            fail(f"getppid: served {getppid}, the witness called it {N + 1} times")
        raw = dump("witness_syscalls_total")
        if raw.get("110") != N + 1 and raw.get(json.dumps(110)) != N + 1:
            fail(f"bpftool's dump of witness_syscalls_total has no {N + 1} for 110: {list(raw.items())[:5]}")
        # SEC("xdp/lo"), attached to lo as ebpf_exporter attaches it: 100 datagrams to port 9999.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(100):
            s.sendto(b"x" * 32, ("127.0.0.1", 9999))
        s.close()
        lo = wait_for("the datagrams on lo", lambda: (t := series(metrics(port))).get(
            f'{PREFIX}witness_lo_udp_total{{port="9999"}}') == "100" and t, seconds=10)
        print("ok - SEC(\"xdp/lo\"): attached to lo, 100 datagrams to port 9999 counted exactly")
        kaddr = have.get(f'{PREFIX}witness_kaddr_total{{symbol="jiffies_to_msecs"}}')
        if kaddr != str(N):
            fail(f"kaddrs and ksym: want jiffies_to_msecs {N}: " +
                 str({k: v for k, v in have.items() if "witness_kaddr" in k}))
        print(f"ok - kaddrs: the object's kaddr_jiffies_to_msecs set from /proc/kallsyms, and the ksym decoder "
              f"names that address back: symbol=\"jiffies_to_msecs\" {N}")
        by_cgroup = {k: v for k, v in have.items() if k.startswith(f"{PREFIX}witness_cgroup_total")}
        if by_cgroup != {f'{PREFIX}witness_cgroup_total{{cgroup="{cg}"}}': str(N)}:
            fail(f"the cgroup decoder: want the witness's cgroup {cg} {N} times: {by_cgroup}")
        print(f"ok - the cgroup decoder: the probe's {N} firings under cgroup=\"{cg}\"")
        getpids = {k: v for k, v in have.items() if k.startswith(f"{PREFIX}witness_getpids_total")}
        if getpids != {f'{PREFIX}witness_getpids_total{{call="get"}}': str(N + 2)}:
            fail(f"keys that decode alike add up (getppid {N + 1} + getpid 1), the rest dropped: {getpids}")
        print(f"ok - keys that decode alike add up: getpid and getppid as call=\"get\" {N + 2}, every other "
              "syscall dropped by the regexp")
        per_cpu = {k: v for k, v in have.items() if k.startswith(f"{PREFIX}witness_probe_cpu_total{{cpu=")}
        if len(per_cpu) != os.cpu_count() or sum(int(v) for v in per_cpu.values()) != N:
            fail(f"a per-CPU map with a last label cpu: want one series per CPU summing to {N}: {per_cpu}")
        print(f"ok - a per-CPU map whose last label is cpu: {len(per_cpu)} series (one per CPU) summing to {N}")
        print(f"ok - counters: getppid {getppid} (syscall decoder), the probe {N} times under command=\"bpfex-wit\" "
              "(string, regexp submatch), operation=\"step\" (uint, static_map, after 7 bytes of padding), "
              "magic=\"eeffc00000000000\" (hex); equal to bpftool's dump")
        for name, (kind, _, _, _) in HISTOGRAMS.items():
            observed = {}
            for v in range(1, N + 1):
                k = kernel_bucket(name, v)
                observed[k] = observed.get(k, 0) + 1
            keys = HISTOGRAMS[name][2] if kind == "fixed" else [HISTOGRAMS[name][2]]
            observed[keys[-1] + 1] = N * (N + 1) // 2
            from_kernel = {}
            for key, value in dump(name).items():
                k = json.loads(key)
                from_kernel[int(k["bucket"]) if isinstance(k, dict) else int(k)] = value
            if from_kernel != observed:
                fail(f"{name}: bpftool dumps {from_kernel}, the witness observed {observed}")
            want, want_sum = transform(name, from_kernel)
            for le, count in want:
                k = f'{PREFIX}{name}_bucket{{le="{le_text(le)}"}}'
                if have.get(k) != str(count):
                    fail(f"{k}: served {have.get(k)}, ebpf_exporter's transform of the map gives {count}")
            if float(have[f"{PREFIX}{name}_sum"]) != want_sum:
                fail(f"{name}_sum: served {have[f'{PREFIX}{name}_sum']}, want {want_sum}")
            if have[f"{PREFIX}{name}_count"] != str(want[-1][1]):
                fail(f"{name}_count: served {have[f'{PREFIX}{name}_count']}, want {want[-1][1]}")
            print(f"ok - {kind} histogram {name}: {len(want)} buckets and the sum ({want_sum:g}) as ebpf_exporter "
                  "transforms bpftool's dump of the map")
        w.stdin.write("exit\n")
        w.stdin.flush()
        w.wait(timeout=5)
        firing = 'ALERTS{alertname="WitnessProbeBusy",alertstate="firing",command="bpfex-wit",severity="info"} 1'
        have = wait_for("the rule's quantile and alert", lambda: firing in (t := metrics(port)) and
                        "\nwitness_step_p50 500\n" in t and t, seconds=10)
        print("ok - a Lua rule over ebpf_exporter's families: histogram_quantile(0.5) of the linear histogram = 500 "
              "(values 1..1000), and an alert on its counter firing in the daemon")

        # Mistakes, refused at their line.
        base = "metrics:\n  counters:\n    - name: x_total\n      help: x\n      labels:\n        - name: a\n"
        print("ok - refused: " + check_refused(
            d, base + "          size: 8\n          decoders:\n            - name: kstack\n",
            "bad.yaml:9:15: metrics.counters[0].labels[0].decoders[0].name: decoder kstack: not supported"))
        print("ok - refused: " + check_refused(
            d, base + "          size: 8\n          sizes: 4\n          decoders:\n            - name: uint\n",
            "bad.yaml:8:11: metrics.counters[0].labels[0].sizes: unknown key"))
        print("ok - refused: " + check_refused(
            d, "metrics:\n  histograms:\n    - name: h\n      bucket_type: exp3\n      bucket_max: 3\n"
               "      labels: [{name: bucket, size: 8, decoders: [{name: uint}]}]\n",
            "bad.yaml:3:7: metrics.histograms[0].bucket_type: \"exp3\""))
        print("ok - refused: " + check_refused(d, "kaddrs: [bpfex_no_such_symbol]\n",
                                                "bad.yaml:1:9: kaddrs: kernel symbol bpfex_no_such_symbol is not in "
                                                "/proc/kallsyms"))
        print("ok - refused: " + check_refused(d, "cgroup_id_map: {name: x}\n", "bad.yaml:1:1: cgroup_id_map: not "
                                                "supported"))
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=10) != 0:
            fail(f"bpfex exited {p.returncode}")
        print("PASS")
        return 0
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
                q.wait()
        subprocess.run(["rm", "-rf", d, RUN, PIN])
        for cg in made:
            try:
                os.rmdir(cg)
            except OSError as e:
                print(f"could not remove {cg}: {e}")


if __name__ == "__main__":
    sys.exit(main())
