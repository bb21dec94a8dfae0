#!/usr/bin/env python3
"""Every shipped artifact agrees with every other (the lint suite).

Loads what a user deploys from this repository, as the tools that read them
would, and checks what no single file's own tool can:

  jobs     every job="X" selector in an alert (deploy/prometheus/*.yml, the
           PrometheusRules) or a dashboard panel (grafana/dashboards) names a
           job that a shipped scrape config (deploy/**/prometheus.yml), a
           ServiceMonitor (its jobLabel, else its Service's name) or a pushed
           job behind an honor_labels scrape produces;
  absent   an alert on `up == 0` also fires for a target that vanished
           (absent(...)): `== 0` alone never fires for it;
  health   every health check probes the port its service listens on: each
           compose service built from deploy/compose/Dockerfile (its
           HEALTHCHECK with the service's environment, or the service's own
           healthcheck) against the port the service's environment or config
           gives bpfex; each Kubernetes probe against its container's ports;
  packages every package (deploy/packages/*.yaml.in) is included by a shipped
           manifest's bpfex configuration (compose, Kubernetes, systemd).

  check_artifacts.py [ROOT]      exit 1 with one line per finding
"""
import glob
import json
import os
import re
import sys

import yaml

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PORT = 9479
findings = []


def rel(p):
    return os.path.relpath(p, ROOT)


def find(msg):
    findings.append(msg)


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def expand(text, env):
    """${VAR:-default} and ${VAR} as a shell (and compose) expands them."""
    def sub(m):
        name, default = m.group(1), m.group(3)
        v = env.get(name)
        return v if v not in (None, "") else (default or "")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, text)


# ---- jobs --------------------------------------------------------------------

def kubernetes_jobs():
    """The jobs the ServiceMonitors produce: their Service's label named by
    jobLabel, else the Service's name (the Prometheus Operator's rule)."""
    jobs = set()
    for path in glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")):
        docs = load_all(path)
        services = [d for d in docs if d.get("kind") == "Service"]
        for sm in (d for d in docs if d.get("kind") == "ServiceMonitor"):
            sel = sm["spec"]["selector"].get("matchLabels", {})
            for svc in services:
                labels = svc["metadata"].get("labels", {})
                if all(labels.get(k) == v for k, v in sel.items()):
                    label = sm["spec"].get("jobLabel")
                    jobs.add(labels.get(label, svc["metadata"]["name"]) if label else svc["metadata"]["name"])
    return jobs


def produced_jobs():
    jobs, honor = kubernetes_jobs(), False
    for path in glob.glob(os.path.join(ROOT, "deploy", "**", "prometheus.yml"), recursive=True):
        cfg = yaml.safe_load(open(path)) or {}
        for sc in cfg.get("scrape_configs") or []:
            jobs.add(sc["job_name"])
            honor = honor or bool(sc.get("honor_labels"))
    if honor:  # pushed jobs keep their job label through the Pushgateway
        for path in glob.glob(os.path.join(ROOT, "deploy", "**", "*"), recursive=True):
            if os.path.isfile(path):
                text = open(path, errors="replace").read()
                jobs.update(re.findall(r"--job[ =]([A-Za-z0-9_:-]+)", text))
    return jobs


def alert_rules():
    """(where, name, expr) of every shipped alerting rule."""
    out = []
    files = glob.glob(os.path.join(ROOT, "deploy", "prometheus", "*.yml"))
    files += glob.glob(os.path.join(ROOT, "deploy", "**", "prometheusrule.yaml"), recursive=True)
    for path in files:
        for doc in load_all(path):
            spec = doc.get("spec", doc)
            for g in spec.get("groups") or []:
                for r in g.get("rules") or []:
                    if "alert" in r:
                        out.append((rel(path), "alert " + r["alert"], str(r["expr"])))
    return out


def panel_queries():
    out = []
    for path in glob.glob(os.path.join(ROOT, "grafana", "dashboards", "**", "*.json"), recursive=True):
        def walk(node, title):
            if isinstance(node, dict):
                title = node.get("title", title)
                if isinstance(node.get("expr"), str):
                    out.append((rel(path), f'panel "{title}"', node["expr"]))
                for v in node.values():
                    walk(v, title)
            elif isinstance(node, list):
                for v in node:
                    walk(v, title)
        walk(json.load(open(path)), "")
    return out


def check_jobs():
    everywhere, k8s = produced_jobs(), kubernetes_jobs()
    for where, what, expr in alert_rules() + panel_queries():
        # A PrometheusRule runs beside the ServiceMonitors: their jobs only.
        jobs = k8s if where.startswith("deploy/kubernetes/") else everywhere
        for job in re.findall(r'\bjob\s*=\s*"([^"$]+)"', expr):
            if job not in jobs:
                find(f"{where}: {what}: job=\"{job}\" is no job a shipped scrape config, ServiceMonitor or "
                     f"pushed job produces (they are: {', '.join(sorted(jobs))})")
    for where, what, expr in alert_rules():
        if re.search(r"\bup\s*(\{[^}]*\})?\s*==\s*0", expr) and "absent(" not in expr:
            find(f"{where}: {what}: `{expr}` never fires for a target that vanished; "
                 "add `or absent(up{...})`")


# ---- health checks -------------------------------------------------------------

def config_port(path):
    try:
        listen = (yaml.safe_load(open(path)) or {}).get("listen", "")
    except OSError:
        return None
    m = re.search(r":(\d+)$", str(listen))
    return int(m.group(1)) if m else None


def check_health():
    dockerfile = os.path.join(ROOT, "deploy", "compose", "Dockerfile")
    image_check = None
    m = re.search(r"^HEALTHCHECK .*?CMD (.*)$", open(dockerfile).read(), re.M)
    if m:
        image_check = m.group(1)
    for path in glob.glob(os.path.join(ROOT, "deploy", "**", "docker-compose.yml"), recursive=True):
        compose = yaml.safe_load(open(path))
        for name, svc in (compose.get("services") or {}).items():
            build = svc.get("build") or {}
            ours = isinstance(build, dict) and build.get("dockerfile") == "deploy/compose/Dockerfile"
            if not ours or svc.get("entrypoint"):
                continue  # not bpfex run (an init or a push loop)
            env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
            env = {k: expand(v, {}) for k, v in env.items()}
            port = None
            if env.get("BPFEX_LISTEN_PORT"):
                port = int(env["BPFEX_LISTEN_PORT"])
            elif env.get("BPFEX_LISTEN"):
                port = int(env["BPFEX_LISTEN"].rsplit(":", 1)[1])
            else:
                cmd = svc.get("command") or []
                cfg = cmd[cmd.index("--config") + 1] if "--config" in cmd else "/etc/bpfex/bpfex.yaml"
                for v in svc.get("volumes") or []:
                    parts = str(v).split(":")
                    if len(parts) >= 2 and parts[1] == cfg:
                        port = config_port(os.path.join(os.path.dirname(path), parts[0]))
                port = port or DEFAULT_PORT
            hc = svc.get("healthcheck", {}).get("test") if svc.get("healthcheck") else None
            check = " ".join(hc) if isinstance(hc, list) else hc or image_check
            if check is None:
                find(f"{rel(path)}: service {name}: no health check")
                continue
            probed = re.findall(r"127\.0\.0\.1:(\d+)", expand(check.replace("$$", "$"), env))
            if env.get("BPFEX_HTTP_ENABLED", "true") == "false":
                continue
            if [int(p) for p in probed] != [port]:
                find(f"{rel(path)}: service {name}: the health check probes port(s) {probed or 'none'}, "
                     f"the service listens on {port}")
    for path in glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")):
        for doc in load_all(path):
            if doc.get("kind") not in ("DaemonSet", "Deployment"):
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    p = (c.get(probe) or {}).get("httpGet")
                    if p and p["port"] not in ports and p["port"] not in ports.values():
                        find(f"{rel(path)}: {doc['kind']} {doc['metadata']['name']}: {probe} probes port "
                             f"{p['port']}, which container {c['name']} does not expose")


# ---- packages ------------------------------------------------------------------

def shipped_configs():
    """The text of every bpfex configuration a shipped manifest runs."""
    texts = []
    for path in glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")):
        for doc in load_all(path):
            if doc.get("kind") == "ConfigMap":
                texts += [(rel(path), v) for v in (doc.get("data") or {}).values()]
    for path in glob.glob(os.path.join(ROOT, "deploy", "**", "*.yaml"), recursive=True):
        if "/demo/" not in path and "kubernetes" not in path and "packages" not in path:
            texts.append((rel(path), open(path).read()))
    return texts


def bundled_objects(text):
    try:
        cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return set()
    return {o.get("bundled") for o in ((cfg.get("bpf") or {}).get("objects") or []) if o.get("bundled")}


def check_packages():
    configs = shipped_configs()
    for pkg in sorted(glob.glob(os.path.join(ROOT, "deploy", "packages", "*.yaml.in"))):
        name = os.path.basename(pkg)[: -len(".yaml.in")]
        pattern = re.compile(r"^\s*include:.*\bpackages/" + re.escape(name) + r"\.yaml", re.M)
        # Included, or written out in full (every bundled object of the package).
        objects = bundled_objects(re.sub(r"@(\w+)@", r"/\1", open(pkg).read()))
        if not any(pattern.search(t) or (objects and objects <= bundled_objects(t)) for _, t in configs):
            find(f"{rel(pkg)}: no shipped manifest (compose, Kubernetes, systemd) includes the {name} package")


def main():
    check_jobs()
    check_health()
    check_packages()
    for f in findings:
        print("FAIL: " + f)
    print(f"artifacts: {'OK' if not findings else str(len(findings)) + ' finding(s)'} "
          "(jobs, dead-target alerts, health checks, packages)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
