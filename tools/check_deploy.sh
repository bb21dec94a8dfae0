#!/usr/bin/env bash
# Lint of deploy/ and grafana/ (the lint suite): every file there is checked by
# the tool that would read it.
#   promtool check rules    deploy/prometheus/alerts.yml, the PrometheusRule's rules, masque_alerts.yml
#   promtool check config   deploy/prometheus/prometheus.yml, deploy/compose/prometheus.yml,
#                           deploy/ironpost/prometheus/prometheus.yml (seed 001 §8.2)
#   amtool check-config     deploy/alertmanager/alertmanager.yml, deploy/ojeomneo/alertmanager.yml (+ routes test)
#   bpfex check             every bpfex config (the installed default, demo, systemd, compose, the k8s ConfigMap)
#   systemd-analyze         the unit: a system user, three capabilities, exposure at most 2.0
#   the Dockerfile          install tree, non-root user, HEALTHCHECK, runtime libraries (a lint: no pulls here)
#   PrometheusRule == alerts.yml; the dashboard JSON == tools/gen_dashboards.py's output
#   check_deploy.sh BPFEX
set -euo pipefail
BPFEX=${1:?usage: check_deploy.sh BPFEX}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$ROOT/deploy
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ok() { echo "ok - $*"; }
for t in promtool amtool; do
  command -v $t >/dev/null || { echo "SKIPPED: $t is not installed"; exit 77; }
done

promtool check rules "$D/prometheus/alerts.yml" >/dev/null
promtool check rules "$D/prometheus/masque_alerts.yml" >/dev/null
promtool check rules "$D/prometheus/ojeomneo_alerts.yml" >/dev/null
promtool check rules "$D/prometheus/ojeomneo_bpfex_alerts.yml" >/dev/null
python3 - "$D/ojeomneo/prometheusrule.yaml" "$D/prometheus/ojeomneo_alerts.yml" <<'PY'
import sys, yaml
k8s, plain = yaml.safe_load(open(sys.argv[1])), yaml.safe_load(open(sys.argv[2]))
assert k8s["kind"] == "PrometheusRule" and k8s["spec"] == plain, "deploy/ojeomneo/prometheusrule.yaml differs"
PY
python3 - "$D/kubernetes/prometheusrule.yaml" "$D/prometheus/alerts.yml" "$TMP/k8s-rules.yml" <<'PY'
import sys, yaml
k8s = yaml.safe_load(open(sys.argv[1]))
plain = yaml.safe_load(open(sys.argv[2]))
assert k8s["kind"] == "PrometheusRule", "not a PrometheusRule"
if k8s["spec"] != plain:
    sys.exit("deploy/kubernetes/prometheusrule.yaml and deploy/prometheus/alerts.yml differ")
yaml.safe_dump(k8s["spec"], open(sys.argv[3], "w"), allow_unicode=True)
PY
promtool check rules "$TMP/k8s-rules.yml" >/dev/null
ok "promtool check rules: alerts.yml and the PrometheusRule (the same rules), masque_alerts.yml, ojeomneo_alerts.yml (and its PrometheusRule)"

promtool check config "$D/prometheus/prometheus.yml" >/dev/null
mkdir -p "$TMP/compose" && cp "$D/compose/prometheus.yml" "$D/prometheus/alerts.yml" "$TMP/compose/"
promtool check config "$TMP/compose/prometheus.yml" >/dev/null
promtool check config "$D/ironpost/prometheus/prometheus.yml" >/dev/null
python3 - "$D/ironpost/prometheus/prometheus.yml" "$D/ironpost/grafana/provisioning/dashboards/dashboards.yml" <<'PY'
import sys, yaml
p = yaml.safe_load(open(sys.argv[1]))
g = p["global"]
assert (g["scrape_interval"], g["evaluation_interval"], g["scrape_timeout"]) == ("15s", "15s", "10s"), g
jobs = {j["job_name"]: j for j in p["scrape_configs"]}
assert jobs["ironpost"]["static_configs"][0]["labels"] == {"instance": "ironpost-daemon"}, "the instance label"
assert jobs["prometheus"]["static_configs"][0]["targets"] == ["localhost:9090"], "Prometheus scrapes itself"
prov = yaml.safe_load(open(sys.argv[2]))["providers"][0]
assert (prov["folder"], prov["updateIntervalSeconds"], prov["allowUiUpdates"]) == ("Ironpost", 30, True), prov
PY
ok "promtool check config: deploy/prometheus, deploy/compose and deploy/ironpost (seed 001's jobs, timeouts, provisioning)"

amtool check-config "$D/alertmanager/alertmanager.yml" >/dev/null
amtool check-config "$D/ojeomneo/alertmanager.yml" >/dev/null
# Seed 003's routing: Slack for all, email for critical, PagerDuty for pages.
route() { amtool config routes test --config.file="$D/ojeomneo/alertmanager.yml" "$@" 2>/dev/null; }
[ "$(route alertname=HighLatency severity=warning)" = slack ] &&
  [ "$(route alertname=HighErrorRate severity=critical)" = slack,email ] &&
  [ "$(route alertname=PodDown severity=critical pager=true)" = slack,email,pagerduty ] &&
  [ "$(route alertname=SLOBudgetBurnPage severity=critical pager=true slo=availability)" = slack,email,pagerduty ] ||
  { echo "FAIL: deploy/ojeomneo/alertmanager.yml does not route as seed 003 plans" >&2; exit 1; }
ok "amtool: deploy/alertmanager and deploy/ojeomneo check; seed 003's routes (Slack / +email / +PagerDuty)"

python3 - "$D/kubernetes/bpfex.yaml" "$TMP/k8s-bpfex.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
need = ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceMonitor"]
assert kinds == need, f"kinds {kinds}, want {need}"
ds = next(d for d in docs if d["kind"] == "DaemonSet")
c = ds["spec"]["template"]["spec"]["containers"][0]
assert sorted(c["securityContext"]["capabilities"]["add"]) == ["BPF", "NET_ADMIN", "PERFMON"], "capabilities"
mounts = {m["mountPath"] for m in c["volumeMounts"]}
assert {"/sys/fs/bpf", "/sys/kernel/btf"} <= mounts, f"host mounts: {mounts}"
open(sys.argv[2], "w").write(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["bpfex.yaml"])
PY
# The packages as installed (their @paths@ this checkout's), for the configs
# that include them.
mkdir -p "$TMP/bpfex/packages" "$TMP/etc/bpfex/rules"
for pkg in "$D"/packages/*.yaml.in; do
  sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$pkg" > "$TMP/bpfex/packages/$(basename "$pkg" .in)"
done
sed -i "s#/usr/share/bpfex/packages/#$TMP/bpfex/packages/#g" "$TMP/k8s-bpfex.yaml"
for cfg in "$D/demo/bpfex.yaml" "$D/systemd/bpfex.yaml" "$D/compose/bpfex.yaml" "$TMP/k8s-bpfex.yaml"; do
  "$BPFEX" check --config "$cfg" --rules "$ROOT/rules/vpn_router.lua" --rules "$ROOT/rules/vpn_alerts.lua" >/dev/null ||
    { echo "FAIL: bpfex check --config $cfg" >&2; exit 1; }
done
# The installed default (NetProbe on every interface), with its own rules.
mkdir -p "$TMP/etc/bpfex/rules"
sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$D/default/bpfex.yaml.in" > "$TMP/default.yaml"
"$BPFEX" check --config "$TMP/default.yaml" >/dev/null || { echo "FAIL: bpfex check of the default config" >&2; exit 1; }
# ... and with the VPN router package included, as its comment says.
mkdir -p "$TMP/bpfex/packages"
sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$D/packages/vpn-router.yaml.in" > "$TMP/bpfex/packages/vpn-router.yaml"
sed "s#^\#   include: \[$ROOT/packages/vpn-router.yaml\]#include: [$TMP/bpfex/packages/vpn-router.yaml]#" "$TMP/default.yaml" > "$TMP/default-vpn.yaml"
grep -q "^include: " "$TMP/default-vpn.yaml" || { echo "FAIL: the default config's include line is not where the lint expects it" >&2; exit 1; }
"$BPFEX" check --config "$TMP/default-vpn.yaml" >/dev/null || { echo "FAIL: bpfex check of the default with the VPN package" >&2; exit 1; }
# ... and with the Ironpost package (seed 001), as deploy/ironpost runs it.
sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$D/packages/ironpost.yaml.in" > "$TMP/bpfex/packages/ironpost.yaml"
sed "s#/usr/share/bpfex/packages/ironpost.yaml#$TMP/bpfex/packages/ironpost.yaml#" "$D/ironpost/ironpost.yaml" > "$TMP/ironpost.yaml"
"$BPFEX" check --config "$TMP/ironpost.yaml" >/dev/null || { echo "FAIL: bpfex check of deploy/ironpost/ironpost.yaml" >&2; exit 1; }
"$BPFEX" check --config "$D/demo/ironpost.yaml" --rules "$ROOT/rules/ironpost.lua" --rules "$ROOT/rules/netprobe.lua" >/dev/null ||
  { echo "FAIL: bpfex check of deploy/demo/ironpost.yaml" >&2; exit 1; }
# ... and the services' packages (seeds 002 and 003), each included by the default.
# Each package its default's comment names, included as the comment says.
for pkg in ironpost masque-vpn ojeomneo; do
  sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$D/packages/$pkg.yaml.in" > "$TMP/bpfex/packages/$pkg.yaml"
  sed "s#^\#   include: \[$ROOT/packages/$pkg.yaml\]#include: [$TMP/bpfex/packages/$pkg.yaml]#" "$TMP/default.yaml" > "$TMP/default-$pkg.yaml"
  grep -q "^include: " "$TMP/default-$pkg.yaml" || { echo "FAIL: the default config does not name the $pkg package" >&2; exit 1; }
  "$BPFEX" check --config "$TMP/default-$pkg.yaml" >/dev/null || { echo "FAIL: bpfex check of the default with $pkg" >&2; exit 1; }
done
ok "bpfex check: default, demo, systemd, compose, Ironpost, masque-vpn, ojeomneo and Kubernetes configs; the DaemonSet's capabilities and host mounts"

unit_in="$D/systemd/bpfex.service.in"
grep -q '^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN$' "$unit_in"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit_in"
grep -q '^User=bpfex$' "$unit_in"
sed "s#@bindir@/bpfex#$(realpath "$BPFEX")#; s#@sysconfdir@#/etc#g; s#@datadir@#/usr/share#g" "$unit_in" > "$TMP/bpfex.service"
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
  systemd-analyze verify "$TMP/bpfex.service"
fi
# Hardened as far as a BPF daemon allows: at most 2.0 (threshold x10).
if command -v systemd-analyze >/dev/null; then
  systemd-analyze security --offline=true --threshold=20 "$TMP/bpfex.service" >"$TMP/security.txt" 2>&1 ||
    { tail -3 "$TMP/security.txt" >&2; echo "FAIL: the unit's exposure is over 2.0" >&2; exit 1; }
  level=$(sed -n 's/.*Overall exposure level for bpfex.service: \([0-9.]*\).*/\1/p' "$TMP/security.txt")
  echo "   systemd-analyze security: $level"
fi
ok "systemd unit: a system user with three capabilities, reload on SIGHUP, exposure at most 2.0"

# The image (images cannot be pulled here, so this is a lint): built from the
# install tree, run as a non-root user with a health check, and its runtime
# stage installs the package of every library the binary needs directly.
python3 - "$D/compose/Dockerfile" "$BPFEX" <<'PY'
import os, re, subprocess, sys
text = open(sys.argv[1]).read()
stages = re.split(r"^FROM ", text, flags=re.M)[1:]
assert len(stages) == 2, "a build stage and a runtime stage"
build, run = stages
assert "DESTDIR=/staging meson install" in build, "the build stage installs with meson install"
assert re.search(r"^COPY --from=build /staging/ /$", run, re.M), "the runtime stage copies the install tree"
user = re.search(r"^USER (\S+)$", run, re.M)
assert user and user.group(1) not in ("root", "0"), "runs as a non-root user"
assert re.search(r"^HEALTHCHECK .*http://127\.0\.0\.1:\$\{BPFEX_LISTEN_PORT:-9479\}/healthz", run, re.M), "a HEALTHCHECK on /healthz"
assert re.search(r'^CMD \["run", "--config", "/etc/bpfex/bpfex\.yaml"\]', run, re.M), "runs the installed config"
wanted = set(re.findall(r"\b(lib[a-z0-9.+-]+|zlib1g|ca-certificates|curl)\b", run))
needed = subprocess.run(["objdump", "-p", sys.argv[2]], capture_output=True, text=True, check=True).stdout
missing = []
for lib in re.findall(r"NEEDED\s+(\S+)", needed):
    path = next((d + "/" + lib for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64")
                 if os.path.exists(d + "/" + lib)), None)
    owner = None
    for p in filter(None, [path, path and os.path.realpath(path)]):
        for c in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
            r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner:
            break
    if owner in (None, "libc6", "libstdc++6", "libgcc-s1"):  # in every Debian image
        continue
    if owner not in wanted:
        missing.append(f"{lib} ({owner})")
assert not missing, "the runtime stage does not install: " + ", ".join(missing)
PY
ok "Dockerfile: the install tree, a non-root user, a health check on /healthz, every library the binary needs"

python3 "$ROOT/tools/gen_dashboards.py" --check
for f in "$ROOT"/grafana/dashboards/*.json "$ROOT"/grafana/dashboards/*/*.json "$ROOT"/grafana/provisioning/*/*.yaml \
         "$D"/ironpost/grafana/provisioning/*/*.yml; do
  python3 -c 'import json, sys, yaml; f = sys.argv[1]; (json.load if f.endswith(".json") else yaml.safe_load)(open(f))' "$f"
done
ok "grafana: dashboards are the generator's output; provisioning parses"
