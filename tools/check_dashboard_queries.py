#!/usr/bin/env python3
"""check_dashboard_queries.py PROMETHEUS_URL DASHBOARD.json...: every panel
query of the dashboards, run as an instant query against a real Prometheus,
must parse and return data (a non-empty result). Prints each failure; exit 1
if any."""
import json
import sys
import urllib.parse
import urllib.request


def queries(path):
    d = json.load(open(path, encoding="utf-8"))
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title", "?"), t["expr"]


def main(url, paths):
    bad = n = 0
    for path in paths:
        for title, expr in queries(path):
            n += 1
            q = urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as r:
                    ans = json.load(r)
            except Exception as e:  # an HTTP 400 is a query that does not parse
                body = getattr(e, "read", lambda: b"")().decode(errors="replace")
                print(f"FAIL {title}: {expr}\n     {e} {body}")
                bad += 1
                continue
            result = ans.get("data", {}).get("result", [])
            if ans.get("status") != "success" or not result:
                print(f"FAIL {title}: {expr}\n     no data: {json.dumps(ans)[:300]}")
                bad += 1
    print(f"{n - bad} of {n} panel queries returned data")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1].rstrip("/"), sys.argv[2:]))
