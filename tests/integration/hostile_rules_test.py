#!/usr/bin/env python3
"""Hostile rules against the real daemon (tests/hostile/README.md).

For every tests/hostile/*.lua: `bpfex run` with it next to a good rule, then
  - the daemon is ready within its budget (readyz 200),
  - the good rule keeps ticking,
  - the offender is counted (bpfex_rule_errors_total) and shown on /rules,
    as its `-- expect:` line says,
  - `bpfex check` on it finishes, and exits 1 exactly when it is refused,
  - SIGTERM stops the daemon within 2 s, with exit status 0.
Usage: hostile_rules_test.py [FILE.lua ...]   (default: the whole corpus)
"""
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BPFEX = os.environ.get("BPFEX", "bpfex")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "hostile")
# BPFEX_TEST_SLOWDOWN scales the clocks for slow builds (the ASan+UBSan lane
# runs about 5x slower): bombs must still reach their cap before their budget.
SLOW = float(os.environ.get("BPFEX_TEST_SLOWDOWN", "1"))
TICK = 0.5 * SLOW      # s
BUDGET = 0.3 * SLOW    # s: rule_limits.time_budget
READY_WITHIN = 3.0 * SLOW
STOP_WITHIN = 2.0      # SIGTERM: never scaled
GOOD = "local g = metric.counter('good_ticks_total', 'ticks')\non_tick(function() g:add({}, 1) end)\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def samples(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$', line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def value(s, name, **labels):
    total, found = 0.0, False
    for (n, l), v in s.items():
        if n != name:
            continue
        if all(f'{k}="{val}"' in l for k, val in labels.items()):
            total += v
            found = True
    return total if found else None


def expectation(path):
    with open(path) as f:
        first = f.readline().strip()
    m = re.match(r"^-- expect: (refused|errors|contained)(?: ([a-z,]+))?$", first)
    if not m:
        raise SystemExit(f"{path}:1: the first line must be '-- expect: refused KIND | errors KINDS | contained'")
    return m.group(1), (m.group(2) or "").split(",") if m.group(2) else []


def run_case(path):
    name = os.path.basename(path)
    outcome, kinds = expectation(path)
    # In a slowed build (sanitizers) a memory bomb may reach its time budget
    # before its memory cap; either limit containing it is right there. The
    # normal lane keeps the strict kind.
    if SLOW > 1 and "memory" in kinds and "timeout" not in kinds:
        kinds = kinds + ["timeout"]
    problems = []
    with tempfile.TemporaryDirectory(prefix="bpfex-hostile-") as d:
        rules = os.path.join(d, "rules")
        state = os.path.join(d, "state")
        os.mkdir(rules)
        with open(os.path.join(rules, "good.lua"), "w") as f:
            f.write(GOOD)
        hostile = os.path.join(rules, name)
        with open(path) as src, open(hostile, "w") as f:
            f.write(src.read())

        # bpfex check: bounded, never a crash, exit 1 exactly for refusals.
        t0 = time.monotonic()
        try:
            chk = subprocess.run([BPFEX, "check", "--rules", hostile, "--tick-interval", f"{TICK}s"],
                                 env={**os.environ, "BPFEX_RULE_TIME_BUDGET": f"{int(BUDGET * 1000)}ms"},
                                 capture_output=True, text=True, timeout=10 * SLOW)
            want_rc = 1 if outcome == "refused" else 0
            if chk.returncode != want_rc:
                problems.append(f"bpfex check exited {chk.returncode}, want {want_rc}: {chk.stderr.strip()[:300]}")
            if outcome == "refused" and hostile not in chk.stderr:
                problems.append(f"bpfex check does not name the file: {chk.stderr.strip()[:300]}")
        except subprocess.TimeoutExpired:
            problems.append("bpfex check did not finish within 10 s")
        check_seconds = time.monotonic() - t0

        port = free_port()
        log = open(os.path.join(d, "log"), "w+")
        t0 = time.monotonic()
        p = subprocess.Popen([BPFEX, "run", "--listen", f"127.0.0.1:{port}", "--rules", rules,
                              "--tick-interval", f"{TICK}s", "--state-dir", state, "--log-level", "info"],
                             env={**os.environ, "BPFEX_RULE_TIME_BUDGET": f"{int(BUDGET * 1000)}ms"},
                             stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            ready = None
            while time.monotonic() - t0 < READY_WITHIN + 2 * SLOW:
                if p.poll() is not None:
                    break
                st, _ = get(base + "/readyz", 0.5)
                if st == 200:
                    ready = time.monotonic() - t0
                    break
                time.sleep(0.05)
            if ready is None:
                problems.append(f"not ready within {READY_WITHIN + 2} s (exit {p.poll()})")
            elif ready > READY_WITHIN:
                problems.append(f"ready only after {ready:.2f} s (budget {READY_WITHIN} s)")
            # The good rule ticks on; the hostile one's runs are counted.
            s = {}
            deadline = time.monotonic() + 8 * SLOW
            while time.monotonic() < deadline and p.poll() is None:
                st, text = get(base + "/metrics")
                s = samples(text) if st == 200 else {}
                good = value(s, "bpfex_rule_runs_total", rule=os.path.join(rules, "good.lua")) or 0
                mine = value(s, "bpfex_rule_runs_total", rule=hostile) or 0
                if good >= 4 and (outcome == "refused" or mine >= 3):
                    break
                time.sleep(TICK / 2)
            good = value(s, "good_ticks_total")
            if not good or good < 3:
                problems.append(f"the good rule stopped ticking (good_ticks_total {good})")
            st, rules_json = get(base + "/rules")
            entry = None
            if st == 200:
                for r in json.loads(rules_json).get("rules", []):
                    if r.get("rule") == hostile:
                        entry = r
            else:
                problems.append(f"/rules answered {st}")
            if entry is None:
                problems.append("/rules does not show the hostile rule")
            counted = {k: value(s, "bpfex_rule_errors_total", rule=hostile, kind=k) or 0 for k in kinds}
            if outcome == "refused":
                if entry and (entry.get("health") != "refused" or entry.get("load_error", {}).get("kind") not in kinds):
                    problems.append(f"/rules shows {json.dumps(entry)[:300]}, want refused with kind {'|'.join(kinds)}")
                if sum(counted.values()) < 1:
                    problems.append(f"not counted as bpfex_rule_errors_total{{kind={'|'.join(kinds)}}}")
            elif outcome == "errors":
                if sum(counted.values()) < 2:
                    problems.append(f"its failures are not counted per run: {counted}; /rules: {json.dumps(entry)[:300]}")
                if entry and "last_error" not in entry:
                    problems.append("/rules shows no last_error")
            else:
                errs = {l: v for (n, l), v in s.items() if n == "bpfex_rule_errors_total" and hostile in l}
                if errs:
                    problems.append(f"a contained rule failed: {errs}; /rules: {json.dumps(entry)[:400]}")
                if value(s, "hostile_contained") != 1:
                    problems.append("hostile_contained is not 1: its checks did not finish")
            mem = value(s, "bpfex_rule_memory_bytes", rule=hostile)
            if mem is not None and mem > 64 * 2**20:
                problems.append(f"the rule holds {mem} bytes, over its cap")
        finally:
            t1 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=10)
                took = time.monotonic() - t1
                if took > STOP_WITHIN:
                    problems.append(f"SIGTERM took {took:.2f} s (at most {STOP_WITHIN} s)")
                if rc != 0:
                    problems.append(f"the daemon exited {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                problems.append("SIGTERM did not stop the daemon within 10 s")
            log.seek(0)
            lines = log.read().splitlines()
            if len(lines) > 2000:
                problems.append(f"the daemon logged {len(lines)} lines: a rule can flood the log")
            if problems:
                problems.append("daemon log (tail):\n        " + "\n        ".join(l[:300] for l in lines[-12:]))
    return name, outcome, kinds, problems, check_seconds


def main():
    files = sys.argv[1:] or sorted(os.path.join(CORPUS, f) for f in os.listdir(CORPUS) if f.endswith(".lua"))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for name, outcome, kinds, problems, check_s in ex.map(run_case, files):
            what = outcome + (" " + ",".join(kinds) if kinds else "")
            if problems:
                failed += 1
                print(f"FAIL {name} ({what})")
                for pr in problems:
                    print("    " + pr)
            else:
                print(f"ok   {name} ({what}; check {check_s:.2f} s)")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
