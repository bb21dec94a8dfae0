#!/usr/bin/env python3
"""Writes grafana/dashboards/: vpn-router.json (seed 000's eight panel
groups over rules/vpn_router.lua), netprobe.json (seed 004's four panels
and recommended queries over rules/netprobe.lua) and ironpost/ (seed 001's
Overview, Log Pipeline and Security dashboards, every panel of its §8.5 with
its query and visualisation, over rules/ironpost.lua and the SBOM push job). The dashboards are code
here so every panel is reviewed as a query, not as a screen of JSON; the lint
suite checks that the committed JSON is this script's output, and the
privileged tests run every panel's query on a real Prometheus.

  gen_dashboards.py [--check]   write (or, with --check, compare) the JSON
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "grafana", "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}

# Each group: (title, [panel]); a panel: (type, title, unit, [(expr, legend)], width, options)
GROUPS = [
    ("Overview", [
        ("stat", "Uptime", "s", [("max(vpn_daemon_uptime_seconds)", "uptime")], 6, {}),
        ("stat", "Active sessions", "short", [("sum(vpn_sessions_active)", "sessions")], 6, {}),
        ("timeseries", "Packets per second", "pps",
         [("sum by (hook) (rate(vpn_packets_total[5m]))", "{{hook}}")], 6, {}),
        ("timeseries", "Average latency", "µs",
         [("sum by (hook) (rate(vpn_latency_microseconds_sum[5m])) / sum by (hook) (rate(vpn_latency_microseconds_count[5m]))",
           "{{hook}}")], 6, {}),
    ]),
    ("Packets", [
        ("timeseries", "Ingress / egress packets", "pps",
         [("sum by (direction) (rate(vpn_packets_total[5m]))", "{{direction}}")], 8, {"stack": True}),
        ("timeseries", "Drop rate", "percent",
         [("100 * sum by (hook) (rate(vpn_packets_total{action=\"drop\"}[5m])) / sum by (hook) (rate(vpn_packets_total[5m]))",
           "{{hook}}")], 8, {}),
        ("piechart", "Packets by hook", "short",
         [("sum by (hook) (increase(vpn_packets_total[1h]))", "{{hook}}")], 8, {}),
    ]),
    ("Latency", [
        ("timeseries", "p50 / p95 / p99 latency", "µs",
         [("max by (hook, quantile) (vpn_latency_microseconds)", "{{hook}} p{{quantile}}")], 12, {}),
        ("heatmap", "Latency distribution", "µs",
         [("sum by (le) (rate(vpn_packet_latency_microseconds_bucket[5m]))", "{{le}}")], 12, {"heatmap": True}),
    ]),
    ("Policy", [
        ("gauge", "Policy lookup hit ratio", "percentunit",
         [("sum(rate(vpn_policy_lookups_total{result=\"hit\"}[5m])) / sum(rate(vpn_policy_lookups_total[5m]))", "hit ratio")],
         6, {"min": 0, "max": 1}),
        ("barchart", "Violations by role (last hour)", "short",
         [("topk(10, sum by (role) (increase(vpn_policy_violations_total[1h])))", "{{role}}")], 9, {"instant": True}),
        ("timeseries", "Violations per second", "short",
         [("sum by (role) (rate(vpn_policy_violations_total[5m]))", "{{role}}")], 9, {}),
    ]),
    ("VPN sessions", [
        ("piechart", "Session states", "short",
         [("sum(vpn_sessions_active)", "active"),
          ("sum(vpn_ebpf_map_entries{map_name=\"session_key_map\",status=\"current\"}) - sum(vpn_sessions_active)", "idle")],
         6, {}),
        ("timeseries", "Traffic by tunnel", "pps",
         [("sum by (tunnel_id, direction) (rate(vpn_session_packets_total[5m]))", "{{tunnel_id}} {{direction}}")],
         9, {"stack": True}),
        ("timeseries", "Session errors per second", "short",
         [("sum by (tunnel_id, error_type) (rate(vpn_session_errors_total[5m]))", "{{tunnel_id}} {{error_type}}")], 9, {}),
    ]),
    ("eBPF maps", [
        ("gauge", "Map usage", "percentunit", [("max by (map_name) (vpn_ebpf_map_usage_ratio)", "{{map_name}}")], 12,
         {"min": 0, "max": 1}),
        ("timeseries", "Map operations per second", "ops",
         [("sum by (map_name, operation) (rate(vpn_ebpf_map_operations_total[5m]))", "{{map_name}} {{operation}}")],
         12, {}),
    ]),
    ("IDP", [
        ("gauge", "Sync success ratio (6h)", "percentunit",
         [("sum(increase(vpn_idp_sync_total{status=\"success\"}[6h])) / sum(increase(vpn_idp_sync_total[6h]))", "success")],
         8, {"min": 0, "max": 1}),
        ("barchart", "Sync duration", "short",
         [("sum by (le) (vpn_idp_sync_duration_seconds_bucket)", "{{le}}")], 8, {"instant": True, "heatmap": True}),
        ("stat", "IDP connection", "none", [("min(vpn_idp_connected)", "connected")], 8, {"status": True}),
    ]),
    ("System", [
        ("timeseries", "Daemon CPU", "percent", [("100 * rate(vpn_daemon_cpu_seconds_total[5m])", "{{instance}}")], 8, {}),
        ("timeseries", "Daemon memory", "bytes", [("vpn_daemon_memory_bytes", "{{instance}} {{type}}")], 8, {}),
        ("heatmap", "Load by CPU", "percent", [("avg by (cpu) (vpn_cpu_usage_percent)", "cpu {{cpu}}")], 8,
         {"by_series": True}),
    ]),
]


def panel(pid, kind, title, unit, targets, width, opts, x, y):
    p = {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [],
    }
    for i, (expr, legend) in enumerate(targets):
        t = {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
        if opts.get("instant"):
            t["instant"] = True
        if opts.get("heatmap"):
            t["format"] = "heatmap"
        p["targets"].append(t)
    d = p["fieldConfig"]["defaults"]
    if "min" in opts:
        d["min"], d["max"] = opts["min"], opts["max"]
    if opts.get("stack"):
        d["custom"] = {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30}
    if opts.get("status"):
        off, on = opts["status"] if isinstance(opts["status"], tuple) else ("disconnected", "connected")
        d["mappings"] = [{"type": "value", "options": {"0": {"text": off, "color": "red"},
                                                        "1": {"text": on, "color": "green"}}}]
        p["options"] = {"colorMode": "background"}
    if opts.get("bg"):  # a stat on a background of one colour (seed 001's CVE counters)
        d["color"] = {"mode": "fixed", "fixedColor": opts["bg"]}
        p["options"] = {"colorMode": "background", "graphMode": "none"}
    if "thresholds" in opts:
        d["thresholds"] = {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in opts["thresholds"]]}
    if kind == "heatmap":
        p["options"] = {"calculate": bool(opts.get("by_series")), "yAxis": {"unit": unit},
                        "color": {"scheme": "Oranges", "mode": "scheme"}}
    return p


# Seed 004's "示例面板" (traffic overview, interface details, rate trends,
# active interfaces), each with its recommended queries.
NETPROBE_GROUPS = [
    ("Traffic overview", [
        ("timeseries", "Total traffic by direction", "Bps",
         [("sum(rate(netprobe_tc_bytes_total[5m])) by (direction)", "{{direction}}")], 16, {"stack": True}),
        ("stat", "Active interfaces", "short", [("sum(netprobe_interface_active)", "active")], 8, {}),
    ]),
    ("Interface details", [
        ("table", "Per interface", "short",
         [("sum by (interface, direction) (netprobe_tc_packets_total)", "packets"),
          ("sum by (interface, direction) (netprobe_tc_bytes_total)", "bytes")], 24, {"instant": True}),
    ]),
    ("Rate trends", [
        ("timeseries", "Bytes per second by interface", "Bps",
         [("rate(netprobe_tc_bytes_total[5m])", "{{interface}} {{direction}}")], 12, {}),
        ("timeseries", "Top 5 interfaces by packet rate", "pps",
         [("topk(5, sum(rate(netprobe_tc_packets_total[5m])) by (interface))", "{{interface}}")], 12, {}),
    ]),
    ("Active interfaces", [
        ("table", "Active now", "short", [("netprobe_interface_active == 1", "{{interface}}")], 12, {"instant": True}),
        ("timeseries", "Collections per second", "ops", [("rate(netprobe_collection_total[5m])", "collections")], 12,
         {}),
    ]),
]


# Seed 001 §8.5: three dashboards, the seed's panel, type and PromQL each.
# One query differs from the seed's text: its Error Ratio divides a rate with
# a format label by one without, which matches no series in PromQL; summing
# both sides gives the ratio the panel means.
IRONPOST_OVERVIEW = [
    ("Status", [
        ("stat", "Daemon Uptime", "s", [("ironpost_daemon_uptime_seconds", "uptime")], 5, {}),
        ("stat", "Active Plugins", "short", [("ironpost_daemon_plugins_registered", "plugins")], 5, {}),
        ("stat", "Total Events/min", "short",
         [("rate(ironpost_log_pipeline_logs_collected_total[1m]) * 60", "events/min")], 5, {}),
        ("stat", "Total Alerts/min", "short",
         [("rate(ironpost_log_pipeline_alerts_sent_total[1m]) * 60", "alerts/min")], 5, {}),
        ("stat", "Monitored Containers", "short", [("ironpost_container_guard_monitored_containers", "containers")],
         4, {}),
    ]),
    ("Rates", [
        ("timeseries", "Event Rate", "short", [("rate(ironpost_log_pipeline_logs_collected_total[5m])", "events/s")],
         12, {}),
        ("timeseries", "Alert Rate", "short", [("rate(ironpost_log_pipeline_alerts_sent_total[5m])", "alerts/s")], 12,
         {}),
    ]),
    ("Actions", [
        ("timeseries", "Isolation Actions", "short",
         [("rate(ironpost_container_guard_isolations_total[5m])", "{{action}} {{result}}")], 8, {}),
        ("piechart", "CVE Distribution", "short", [("ironpost_sbom_scanner_cves_found", "{{severity}}")], 8, {}),
        ("timeseries", "eBPF Throughput", "bps", [("ironpost_ebpf_bits_per_second{protocol=\"total\"}", "total")], 8,
         {}),
    ]),
]

IRONPOST_LOG_PIPELINE = [
    ("Throughput", [
        ("timeseries", "Collection Rate", "short",
         [("rate(ironpost_log_pipeline_logs_collected_total[5m])", "collected/s")], 8, {}),
        ("timeseries", "Processing Rate", "short",
         [("rate(ironpost_log_pipeline_logs_processed_total[5m])", "processed/s")], 8, {}),
        ("timeseries", "Error Rate", "short",
         [("rate(ironpost_log_pipeline_parse_errors_total[5m])", "{{format}}")], 8, {}),
    ]),
    ("Errors and detection", [
        ("gauge", "Error Ratio", "percentunit",
         [("sum(rate(ironpost_log_pipeline_parse_errors_total[5m])) / sum(rate(ironpost_log_pipeline_logs_collected_total[5m]))",
           "error ratio")], 6, {"min": 0, "max": 1}),
        ("timeseries", "Rule Match Rate", "short",
         [("rate(ironpost_log_pipeline_rule_matches_total[5m])", "matches/s")], 9, {}),
        ("timeseries", "Alert Send Rate", "short",
         [("rate(ironpost_log_pipeline_alerts_sent_total[5m])", "alerts/s")], 9, {}),
    ]),
    ("Buffer", [
        ("timeseries", "Buffer Size", "short", [("ironpost_log_pipeline_buffer_size", "entries")], 12, {}),
        ("timeseries", "Dropped Logs", "short", [("rate(ironpost_log_pipeline_logs_dropped_total[5m])", "dropped/s")],
         12, {}),
    ]),
    ("Latency", [
        ("timeseries", "Processing Latency (p50)", "s",
         [("histogram_quantile(0.50, rate(ironpost_log_pipeline_processing_duration_seconds_bucket[5m]))", "p50")],
         8, {}),
        ("timeseries", "Processing Latency (p95)", "s",
         [("histogram_quantile(0.95, rate(ironpost_log_pipeline_processing_duration_seconds_bucket[5m]))", "p95")],
         8, {}),
        ("timeseries", "Processing Latency (p99)", "s",
         [("histogram_quantile(0.99, rate(ironpost_log_pipeline_processing_duration_seconds_bucket[5m]))", "p99")],
         8, {}),
    ]),
]

IRONPOST_SECURITY = [
    ("Vulnerabilities", [
        ("bargauge", "CVEs by Severity", "short", [("ironpost_sbom_scanner_cves_found", "{{severity}}")], 8, {}),
        ("stat", "Critical CVEs", "short", [("ironpost_sbom_scanner_cves_found{severity=\"critical\"}", "critical")],
         4, {"bg": "red"}),
        ("stat", "High CVEs", "short", [("ironpost_sbom_scanner_cves_found{severity=\"high\"}", "high")], 4,
         {"bg": "orange"}),
        ("gauge", "Scan Duration (p95)", "s",
         [("histogram_quantile(0.95, rate(ironpost_sbom_scanner_scan_duration_seconds_bucket[5m]))", "p95")], 4, {}),
        ("stat", "VulnDB Last Update", "s",
         [("time() - ironpost_sbom_scanner_vulndb_last_update_timestamp", "age")], 4,
         {"thresholds": [(None, "green"), (86400, "orange"), (7 * 86400, "red")]}),
    ]),
    ("Scans and policy", [
        ("timeseries", "Scans/Hour", "short", [("rate(ironpost_sbom_scanner_scans_completed_total[1h]) * 3600", "scans/h")],
         8, {}),
        ("timeseries", "Policy Violations", "short",
         [("rate(ironpost_container_guard_policy_violations_total[5m])", "violations/s")], 8, {}),
        ("gauge", "Isolation Success Rate", "percentunit",
         [("sum(rate(ironpost_container_guard_isolations_total{result=\"success\"}[5m])) / sum(rate(ironpost_container_guard_isolations_total[5m]))",
           "success")], 8, {"min": 0, "max": 1}),
    ]),
    ("Isolation and network", [
        ("timeseries", "Isolation Actions by Type", "short",
         [("rate(ironpost_container_guard_isolations_total[5m])", "{{action}} {{result}}")], 6, {}),
        ("timeseries", "eBPF Blocked Packets", "pps", [("rate(ironpost_ebpf_packets_blocked_total[5m])", "blocked/s")], 6,
         {}),
        ("piechart", "Protocol Distribution", "short", [("ironpost_ebpf_protocol_packets_total", "{{protocol}}")], 6, {}),
        ("timeseries", "Packets/sec by Protocol", "pps", [("ironpost_ebpf_packets_per_second", "{{protocol}}")], 6, {}),
    ]),
]


# Seed 002: its "key panels" with its example queries, verbatim, and the
# per-client traffic the catalog carries.
MASQUE = [
    ("Connections", [
        ("timeseries", "Active connections over time", "short", [("masque_vpn_active_connections", "active")], 8, {}),
        ("timeseries", "Connection Success Rate", "cps", [("rate(masque_vpn_total_connections[5m])", "connections/s")],
         8, {}),
        ("gauge", "IP Pool Utilization", "percent",
         [("(masque_vpn_ip_pool_used / masque_vpn_ip_pool_total) * 100", "used")], 8, {"min": 0, "max": 100}),
    ]),
    ("Packet processing", [
        ("timeseries", "Average Packet Processing Time", "s",
         [("rate(masque_vpn_packet_processing_duration_seconds_sum[5m]) / \n"
           "rate(masque_vpn_packet_processing_duration_seconds_count[5m])", "{{direction}}")], 12, {}),
        ("heatmap", "Packet processing latency", "s",
         [("sum by (le) (rate(masque_vpn_packet_processing_duration_seconds_bucket[5m]))", "{{le}}")], 12,
         {"heatmap": True}),
    ]),
    ("Errors", [
        ("timeseries", "Error Rate by Type", "short", [("rate(masque_vpn_errors_total[5m])", "{{error_type}}")], 12, {}),
        ("timeseries", "Packet drops by reason", "pps", [("rate(masque_vpn_packet_drops_total[5m])", "{{reason}}")], 12,
         {}),
    ]),
    ("MASQUE protocol", [
        ("timeseries", "MASQUE Request Latency (95th percentile)", "s",
         [("histogram_quantile(0.95, rate(masque_vpn_masque_request_duration_seconds_bucket[5m]))", "p95")], 8, {}),
        ("timeseries", "CONNECT-IP requests by status", "reqps",
         [("sum by (status) (rate(masque_vpn_masque_requests_total[5m]))", "{{status}}")], 8, {}),
        ("timeseries", "QUIC streams by type", "short",
         [("sum by (stream_type) (rate(masque_vpn_quic_streams_total[5m]))", "{{stream_type}}")], 8, {}),
    ]),
    ("Clients", [
        ("timeseries", "Bytes per second by client", "Bps",
         [("sum by (client_id) (rate(masque_vpn_bytes_sent_total[5m]))", "{{client_id}} sent"),
          ("sum by (client_id) (rate(masque_vpn_bytes_received_total[5m]))", "{{client_id}} received")], 12, {}),
        ("table", "Top clients by packets", "short",
         [("topk(10, sum by (client_id) (masque_vpn_packets_sent_total + masque_vpn_packets_received_total))",
           "{{client_id}}")], 6, {"instant": True}),
        ("stat", "TUN interface", "none", [("min(masque_vpn_tun_interface_status)", "tun")], 6,
         {"status": ("down", "up")}),
    ]),
]


# Seed 003 §4.2 and §4.3: the Overview and API Performance dashboards. The
# seed's queries name the metrics without the service's prefix and divide
# per-series rates (a 5xx series by itself); these use ojeomneo_ names and
# sum both sides of a ratio. The SLO and business rows use the series
# rules/ojeomneo_slo.lua and rules/ojeomneo.lua add.
OJEOMNEO_OVERVIEW = [
    ("Service", [
        ("stat", "서비스 상태", "none", [("up{job=\"ojeomneo\"}", "{{instance}}")], 4, {"status": ("DOWN", "UP")}),
        ("timeseries", "요청 처리량", "reqps", [("sum(rate(ojeomneo_http_requests_total[5m]))", "requests/s")], 6, {}),
        ("gauge", "에러율", "percentunit",
         [("sum(rate(ojeomneo_http_requests_total{status=~\"5..\"}[5m])) / sum(rate(ojeomneo_http_requests_total[5m]))",
           "5xx")], 4, {"min": 0, "max": 1}),
        ("timeseries", "P95 응답 시간", "s",
         [("histogram_quantile(0.95, sum by (le) (rate(ojeomneo_http_request_duration_seconds_bucket[5m])))", "p95")],
         6, {}),
        ("stat", "활성 연결", "short", [("ojeomneo_http_active_connections", "connections")], 4, {}),
    ]),
    ("SLO", [
        ("bargauge", "Error budget remaining", "percentunit",
         [("ojeomneo_slo_error_budget_remaining", "{{slo}}")], 12, {"min": 0, "max": 1}),
        ("timeseries", "Burn rate (1h)", "short",
         [("(sum by (slo) (increase(ojeomneo:slo_bad_events_total[1h])) / sum by (slo) "
           "(increase(ojeomneo:slo_events_total[1h]))) / on (slo) (1 - ojeomneo_slo_objective)", "{{slo}}")], 12, {}),
    ]),
    ("Business", [
        ("timeseries", "주문", "short", [("sum by (status, payment_method) (rate(ojeomneo_orders_total[5m]))",
                                         "{{status}} {{payment_method}}")], 8, {}),
        ("timeseries", "매출 (원/초)", "short", [("sum by (payment_method) (rate(ojeomneo_order_amount_total[5m]))",
                                              "{{payment_method}}")], 8, {}),
        ("stat", "활성 사용자", "short", [("ojeomneo_users_active", "users")], 4, {}),
        ("piechart", "메뉴 조회 (카테고리)", "short", [("sum by (category_id) (ojeomneo_menu_views_total)", "{{category_id}}")],
         4, {}),
    ]),
]

OJEOMNEO_API = [
    ("Endpoints", [
        ("table", "Top 10 엔드포인트 (처리량)", "reqps",
         [("topk(10, sum by (method, path) (rate(ojeomneo_http_requests_total[5m])))", "{{method}} {{path}}")], 12,
         {"instant": True}),
        ("table", "Top 10 엔드포인트 (지연)", "s",
         [("topk(10, histogram_quantile(0.95, sum by (method, path, le) "
           "(rate(ojeomneo_http_request_duration_seconds_bucket[5m]))))", "{{method}} {{path}}")], 12,
         {"instant": True}),
    ]),
    ("Distribution", [
        ("heatmap", "엔드포인트별 응답 시간 분포", "s",
         [("sum by (le) (rate(ojeomneo_http_request_duration_seconds_bucket[5m]))", "{{le}}")], 12, {"heatmap": True}),
        ("piechart", "상태 코드 분포", "short",
         [("sum by (status) (increase(ojeomneo_http_requests_total[1h]))", "{{status}}")], 12, {}),
    ]),
    ("Sizes", [
        ("timeseries", "요청/응답 크기", "bytes",
         [("sum by (path) (rate(ojeomneo_http_request_size_bytes_sum[5m])) / "
           "sum by (path) (rate(ojeomneo_http_request_size_bytes_count[5m]))", "request {{path}}"),
          ("sum by (path) (rate(ojeomneo_http_response_size_bytes_sum[5m])) / "
           "sum by (path) (rate(ojeomneo_http_response_size_bytes_count[5m]))", "response {{path}}")], 24, {}),
    ]),
]


def dashboard(groups, uid, title, description, tags):
    panels, pid, y = [], 1, 0
    for gtitle, group in groups:
        panels.append({"id": pid, "type": "row", "title": gtitle, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y, x = pid + 1, y + 1, 0
        for kind, ptitle, unit, targets, width, opts in group:
            panels.append(panel(pid, kind, ptitle, unit, targets, width, opts, x, y))
            pid, x = pid + 1, x + width
        y += 8
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "timezone": "browser",
        "schemaVersion": 38,
        "version": 1,
        "refresh": "15s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "filters", "type": "adhoc", "datasource": DS, "label": "Filters"},
        ]},
        "panels": panels,
    }


DASHBOARDS = {
    "vpn-router.json": dashboard(GROUPS, "bpfex-vpn-router", "VPN Router (bpfex)",
                                 "Seed 000's panels over rules/vpn_router.lua. Generated by tools/gen_dashboards.py.",
                                 ["bpfex", "vpn", "ebpf"]),
    "netprobe.json": dashboard(NETPROBE_GROUPS, "bpfex-netprobe", "NetProbe (bpfex)",
                               "Seed 004's panels and recommended queries over rules/netprobe.lua. "
                               "Generated by tools/gen_dashboards.py.",
                               ["bpfex", "netprobe", "ebpf"]),
    "masque-vpn.json": dashboard(MASQUE, "bpfex-masque-vpn", "masque-vpn (bpfex)",
                                 "Seed 002's key panels and example queries over rules/masque.lua. "
                                 "Generated by tools/gen_dashboards.py.", ["bpfex", "masque", "vpn"]),
    "ojeomneo/ojeomneo-overview.json": dashboard(
        OJEOMNEO_OVERVIEW, "ojeomneo-overview", "ojeomneo Overview",
        "Seed 003 §4.2 over rules/ojeomneo.lua and rules/ojeomneo_slo.lua. Generated by tools/gen_dashboards.py.",
        ["ojeomneo"]),
    "ojeomneo/ojeomneo-api-performance.json": dashboard(
        OJEOMNEO_API, "ojeomneo-api-performance", "ojeomneo API Performance",
        "Seed 003 §4.3 over rules/ojeomneo.lua. Generated by tools/gen_dashboards.py.", ["ojeomneo"]),
    "ironpost/ironpost-overview.json": dashboard(
        IRONPOST_OVERVIEW, "ironpost-overview", "Ironpost Overview",
        "Seed 001 §8.5.1 over rules/ironpost.lua and the SBOM push job. Generated by tools/gen_dashboards.py.",
        ["ironpost"]),
    "ironpost/ironpost-log-pipeline.json": dashboard(
        IRONPOST_LOG_PIPELINE, "ironpost-log-pipeline", "Ironpost Log Pipeline",
        "Seed 001 §8.5.2 over rules/ironpost.lua. Generated by tools/gen_dashboards.py.", ["ironpost"]),
    "ironpost/ironpost-security.json": dashboard(
        IRONPOST_SECURITY, "ironpost-security", "Ironpost Security",
        "Seed 001 §8.5.3 over rules/ironpost.lua and the SBOM push job. Generated by tools/gen_dashboards.py.",
        ["ironpost"]),
}


def main():
    check = sys.argv[1:] == ["--check"]
    for name, d in DASHBOARDS.items():
        out = os.path.join(OUT_DIR, name)
        text = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
        if check:
            current = open(out, encoding="utf-8").read() if os.path.exists(out) else ""
            if current != text:
                sys.exit(f"{out} is not tools/gen_dashboards.py's output; run it and commit the result")
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
