#!/usr/bin/env bash
# NetProbe's server options (seed 004) in bpfex's config, with curl against a
# real daemon: /health's fields, CORS (headers and preflight, before basic
# auth asks), gzip off, the header size cap, the read timeout; and each bad
# value refused with its field named.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"

port=$(free_port)
origin=https://grafana.example.com
cat > bpfex.yaml <<YML
listen: 127.0.0.1:$port
tick_interval: 1s
http:
  cors_origin: $origin
  gzip: false
  max_header_bytes: 8192
  read_timeout: 2s
  write_timeout: 5s
  health_stale_after: 10s
YML
bg bpfex "$BPFEX" run -c bpfex.yaml
base=http://127.0.0.1:$port
wait_for 10 curl -sf "$base/readyz"

# /health: the seed's fields, and numbers that agree with the daemon.
sleep 1.2
curl -s -D health.h "$base/health" -o health.json
grep -q "^HTTP/1.1 200" health.h || fail "/health: $(cat health.h health.json)"
python3 - "$port" health.json <<'PY' || fail "/health: $(cat health.json)"
import json, re, sys, datetime
port, d = int(sys.argv[1]), json.load(open(sys.argv[2]))
assert set(d) == {"status", "timestamp", "server"}, d
assert d["status"] == "ok", d
rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
assert rfc3339.match(d["timestamp"]), d
s = d["server"]
assert set(s) == {"running", "port", "requests", "metrics", "collections", "last_collection"}, s
assert s["running"] is True and s["port"] == port, s
assert s["requests"] >= 1 and s["collections"] >= 2 and s["metrics"] > 10, s
assert rfc3339.match(s["last_collection"]), s
ts = lambda x: datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%SZ")
assert 0 <= (ts(d["timestamp"]) - ts(s["last_collection"])).total_seconds() <= 2, d
PY
pass "/health: status, timestamp and server{running, port, requests, metrics, collections, last_collection}"

# CORS: the origin on every response; a preflight answered.
curl -s -D cors.h -o /dev/null -H "Origin: $origin" "$base/metrics"
grep -qi "^Access-Control-Allow-Origin: $origin" cors.h || fail "no CORS header on /metrics: $(cat cors.h)"
grep -qi "^Vary: .*Origin" cors.h || fail "a specific origin without Vary: Origin: $(cat cors.h)"
curl -s -D pre.h -o /dev/null -X OPTIONS -H "Origin: $origin" -H "Access-Control-Request-Method: GET" "$base/metrics"
grep -q "^HTTP/1.1 204" pre.h || fail "preflight: $(cat pre.h)"
grep -qi "^Access-Control-Allow-Methods: GET, HEAD, OPTIONS" pre.h || fail "preflight methods: $(cat pre.h)"
grep -qi "^Access-Control-Max-Age: 600" pre.h || fail "preflight max age: $(cat pre.h)"
pass "CORS: Access-Control-Allow-Origin on responses, preflight 204"

# gzip off: identity whatever the client accepts.
curl -s -D gz.h -o gz.body -H "Accept-Encoding: gzip" "$base/metrics"
! grep -qi "^Content-Encoding: gzip" gz.h || fail "gzip served with http.gzip: false"
grep -q "^bpfex_ticks_total" gz.body || fail "the identity body is not the exposition"
pass "http.gzip: false serves identity to a client that accepts gzip"

# Header size: 6 KiB passes, 16 KiB is refused (431), the daemon serves on.
small=$(head -c 6000 /dev/zero | tr '\0' a)
big=$(head -c 16000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Pad: $small" "$base/healthz")
[ "$code" = 200 ] || fail "a 6 KB header under an 8 KiB cap: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Pad: $big" "$base/healthz")
[ "$code" = 431 ] || fail "a 16 KB header over an 8 KiB cap: $code"
curl -sf "$base/healthz" >/dev/null || fail "not serving after an oversized header"
pass "http.max_header_bytes: over the cap is 431"

# Read timeout: a client that connects and says nothing is closed after 2 s.
python3 - "$port" <<'PY' || fail "read timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
t0 = time.monotonic()
assert s.recv(1) == b"", "the server sent something"
took = time.monotonic() - t0
assert 1.5 <= took <= 4.5, f"closed after {took:.1f} s, not ~2 s"
PY
pass "http.read_timeout: a silent connection closes after it"

# CORS preflight is answered before basic auth asks (browsers send none);
# everything else still needs credentials.
hash=$(python3 -W ignore -c "import crypt; print(crypt.crypt('pw', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
printf 'basic_auth_users:\n  u: %s\n' "$hash" > web.yml
port2=$(free_port)
bg bpfex2 "$BPFEX" run -c bpfex.yaml --listen 127.0.0.1:$port2 --web.config.file web.yml
wait_for 10 curl -sf -u u:pw "http://127.0.0.1:$port2/readyz"
code=$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS -H "Origin: $origin" -H "Access-Control-Request-Method: GET" "http://127.0.0.1:$port2/metrics")
[ "$code" = 204 ] || fail "a preflight under basic auth: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $origin" "http://127.0.0.1:$port2/metrics")
[ "$code" = 401 ] || fail "a GET without credentials under basic auth: $code"
pass "a preflight needs no credentials; the request after it does"

# Bad values name their field.
check_bad() {  # check_bad YAML_LINE EXPECTED_SUBSTRING
  printf 'http:\n  %s\n' "$1" > bad.yaml
  local out rc=0
  out=$("$BPFEX" check -c bad.yaml 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "accepted: $1"
  grep -qF -- "$2" <<<"$out" || fail "for '$1' expected '$2', got: $out"
}
check_bad "cors_origin: grafana.example.com" 'http.cors_origin: "grafana.example.com" is not "*" or an origin'
check_bad "cors_origin: https://a.example/path/" 'http.cors_origin'
check_bad "max_header_bytes: 100" 'http.max_header_bytes'
check_bad "gzip: sometimes" 'http.gzip'
check_bad "write_timeout: 0s" 'http.write_timeout'
check_bad "health_stale_after: 2s" 'http.health_stale_after: 2s must be longer than tick_interval (5s)'
pass "bad values are refused with the field named"
