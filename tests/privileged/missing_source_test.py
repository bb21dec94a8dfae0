#!/usr/bin/env python3
"""A missing source silences only what is computed from it
(docs/lua-api.md, "Maps that are not there"). One rule reads two maps: one
of an object that did not load, and a pinned map of another program's that
is removed and pinned again while bpfex runs.
  - the rule's run is never aborted: what it computes from the map that is
    there is served, and its own counter keeps counting every run;
  - nothing is served from the missing map, and each tick it is missing is
    counted against it (bpfex_bpf_errors_total{operation="read_map"});
  - the pin removed: its series go stale (leave /metrics), the rest stays;
    pinned again (a new map, a new value): served again.

  missing_source_test.py   (BPFEX in the environment)
"""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port, metrics, private_bpffs, series, wait_for  # noqa: E402

BPFEX = os.environ["BPFEX"]
PIN = "/sys/fs/bpf/bpfex-src-test/m"
RULE = """
local from_ghost = metric.gauge("src_ghost", "from the object that did not load", { "k" })
local from_pin = metric.gauge("src_pinned", "from the pinned map", { "k" })
local runs = metric.counter("src_runs_total", "runs of this rule")
local ghost = bpf.map("ghost/counts")
local pinned = bpf.map("pinned")
on_tick(function()
  for k, v in ghost:entries() do from_ghost:set({ k.k }, v.v) end
  for k, v in pinned:entries() do from_pin:set({ k.k }, v.v) end
  runs:add({}, 1)
end)
"""


def sh(*cmd):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True).stdout


def pin_map(value):
    os.makedirs(os.path.dirname(PIN), exist_ok=True)
    sh("bpftool", "map", "create", PIN, "type", "hash", "key", "4", "value", "8", "entries", "16", "name", "srctest")
    sh("bpftool", "map", "update", "pinned", PIN, "key", "1", "0", "0", "0",
       "value", *[str(b) for b in value.to_bytes(8, "little")])


def main():
    private_bpffs()
    d = tempfile.mkdtemp(prefix="bpfex-src-")
    port = free_port()
    with open(d + "/src.lua", "w") as f:
        f.write(RULE)
    with open(d + "/bpfex.yaml", "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
tick_interval: 200ms
rules: [{d}/src.lua]
bpf:
  pin_path: /sys/fs/bpf/bpfex-src-own
  objects:
    - {{name: ghost, file: {d}/no-such-object.bpf.o}}
  maps:
    - {{name: pinned, pinned: {PIN}, key: "u32 k", value: "u64 v"}}
""")
    pin_map(42)
    log = open(d + "/bpfex.log", "w")
    p = subprocess.Popen([BPFEX, "run", "-c", d + "/bpfex.yaml"], stdout=log, stderr=log)
    try:
        def s():
            return series(metrics(port))
        rule = d + "/src.lua"

        def runs(m):
            return float(m.get("src_runs_total", "0"))
        m = wait_for("a few runs", lambda: runs(t := s()) >= 3 and t, seconds=20)
        if m.get('src_pinned{k="1"}') != "42":
            fail("the map that is there is not served: " + str({k: v for k, v in m.items() if k.startswith("src_")}))
        if any(k.startswith("src_ghost") for k in m):
            fail("something served from the object that did not load")
        ghost_errors = float(m.get('bpfex_bpf_errors_total{operation="read_map",object="ghost/counts"}', "0"))
        # Counted each tick it is read; the self-metric is written before the
        # rules run, so it shows the ticks before this one.
        if ghost_errors < runs(m) - 1:
            fail(f"the missing map is not counted each tick: {ghost_errors} after {runs(m):g} runs")
        for k, v in m.items():
            if k.startswith("bpfex_rule_errors_total") and rule in k and float(v) > 0:
                fail(f"the rule's runs failed: {k} {v}")
        print(f"ok - an object that did not load: nothing from it, counted ({ghost_errors:g} ticks), "
              "the rest of the run served (src_pinned 42, runs counted)")

        os.unlink(PIN)
        before = runs(s())
        m = wait_for("src_pinned to go stale", lambda: 'src_pinned{k="1"}' not in (t := s()) and t, seconds=10)
        m = wait_for("more runs", lambda: runs(t := s()) >= before + 3 and t, seconds=10)
        if float(m.get('bpfex_bpf_errors_total{operation="read_map",object="pinned"}', "0")) < 1:
            fail("the removed pin is not counted")
        print("ok - the pin removed: its series left /metrics, the rule kept running, the map counted as missing")

        pin_map(7)
        wait_for("src_pinned back", lambda: s().get('src_pinned{k="1"}') == "7", seconds=10)
        log.flush()
        said = open(d + "/bpfex.log").read()
        if said.count("what rules compute from it stops") < 2 or "bpf map pinned: available again" not in said:
            fail("the going and the coming back are not said:\n" + said[-2000:])
        print("ok - pinned again (a new map): served again (src_pinned 7); going and coming back logged once each")
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=5) != 0:
            fail(f"exit status {p.returncode}")
        print("PASS")
        return 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
