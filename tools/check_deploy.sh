#!/usr/bin/env bash
# Lint of deploy/ and grafana/ (the lint suite): every file there is checked by
# the tool that would read it.
#   promtool check rules    deploy/prometheus/alerts.yml, the PrometheusRule's rules
#   promtool check config   deploy/prometheus/prometheus.yml, deploy/compose/prometheus.yml
#   amtool check-config     deploy/alertmanager/alertmanager.yml
#   bpfex check             every bpfex config (the installed default, demo, systemd, compose, the k8s ConfigMap)
#   systemd-analyze         the unit: a system user, three capabilities, exposure at most 2.0
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
ok "promtool check rules: alerts.yml and the PrometheusRule (the same rules)"

promtool check config "$D/prometheus/prometheus.yml" >/dev/null
mkdir -p "$TMP/compose" && cp "$D/compose/prometheus.yml" "$D/prometheus/alerts.yml" "$TMP/compose/"
promtool check config "$TMP/compose/prometheus.yml" >/dev/null
ok "promtool check config: deploy/prometheus and deploy/compose"

amtool check-config "$D/alertmanager/alertmanager.yml" >/dev/null
ok "amtool check-config: deploy/alertmanager/alertmanager.yml"

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
for cfg in "$D/demo/bpfex.yaml" "$D/systemd/bpfex.yaml" "$D/compose/bpfex.yaml" "$TMP/k8s-bpfex.yaml"; do
  "$BPFEX" check --config "$cfg" --rules "$ROOT/rules/vpn_router.lua" --rules "$ROOT/rules/vpn_alerts.lua" >/dev/null ||
    { echo "FAIL: bpfex check --config $cfg" >&2; exit 1; }
done
# The installed default (NetProbe on every interface), with its own rules.
mkdir -p "$TMP/etc/bpfex/rules"
sed "s#@datadir@/bpfex#$ROOT#g; s#@sysconfdir@#$TMP/etc#g" "$D/default/bpfex.yaml.in" > "$TMP/default.yaml"
"$BPFEX" check --config "$TMP/default.yaml" >/dev/null || { echo "FAIL: bpfex check of the default config" >&2; exit 1; }
ok "bpfex check: default, demo, systemd, compose and Kubernetes configs; the DaemonSet's capabilities and host mounts"

unit_in="$D/systemd/bpfex.service.in"
grep -q '^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN$' "$unit_in"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit_in"
grep -q '^User=bpfex$' "$unit_in"
sed "s#@bindir@/bpfex#$BPFEX#; s#@sysconfdir@#/etc#g; s#@datadir@#/usr/share#g" "$unit_in" > "$TMP/bpfex.service"
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

python3 "$ROOT/tools/gen_dashboards.py" --check
for f in "$ROOT"/grafana/dashboards/*.json "$ROOT"/grafana/provisioning/*/*.yaml; do
  python3 -c 'import json, sys, yaml; f = sys.argv[1]; (json.load if f.endswith(".json") else yaml.safe_load)(open(f))' "$f"
done
ok "grafana: dashboards are the generator's output; provisioning parses"
