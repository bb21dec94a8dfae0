#!/usr/bin/env bash
# TLS, basic auth and headers from an exporter-toolkit web config, against
# curl and the real Prometheus (https + basic_auth + tls_config): every
# endpoint is guarded, 401 for no, wrong and unknown credentials, certificate
# rotation without a restart, a broken edit keeps the last good config,
# client certificates (mTLS), and the reload endpoint's safe default.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIPPED: openssl is not installed (tools/test.sh installs it)"; exit 77; }
command -v prometheus >/dev/null || { echo "SKIPPED: prometheus is not installed (tools/test.sh installs it)"; exit 77; }
cd "$WORK"

# A CA, a server certificate for 127.0.0.1, a client certificate from the CA
# and one from a CA the server does not trust.
cert() {  # cert NAME CN CA [SAN]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=%s\n' "${4:-DNS:$2}" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
}
for ca in ca rogue; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca.key -out $ca.crt -days 2 \
    -subj "/CN=bpfex test $ca" 2>/dev/null
done
cert server 127.0.0.1 ca IP:127.0.0.1
cert server2 127.0.0.1 ca IP:127.0.0.1
cert client prometheus ca DNS:prometheus
cert intruder prometheus rogue DNS:prometheus
# bcrypt by libxcrypt through Python: a hash bpfex did not make.
hash=$(python3 -W ignore -c "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
cat > web.yml <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  min_version: TLS12
basic_auth_users:
  prom: $hash
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
YML

# Strict parsing: an unknown key names the file and line.
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  bogus: 1\n' > bad.yml
if "$BPFEX" check --web.config.file bad.yml 2> check.err; then fail "an unknown key was accepted"; fi
grep -q "bad.yml:4: tls_server_config.bogus: unknown setting" check.err || fail "unknown key error: $(cat check.err)"
printf 'basic_auth_users:\n  prom: plaintext\n' > bad2.yml
if "$BPFEX" check --web.config.file bad2.yml 2> check.err; then fail "a plaintext password was accepted"; fi
grep -q "bad2.yml:2: basic_auth_users.prom: not a bcrypt hash" check.err || fail "hash error: $(cat check.err)"
pass "web config parsing is strict and names file:line"

# The reload endpoint: off by default; on a routable address only with auth.
if "$BPFEX" check --listen 0.0.0.0:9479 --web.enable-lifecycle 2> check.err; then fail "unauthenticated reload on 0.0.0.0 accepted"; fi
grep -q "http.enable_reload" check.err || fail "reload refusal does not name the setting: $(cat check.err)"
"$BPFEX" check --listen 0.0.0.0:9479 --web.enable-lifecycle --web.config.file web.yml || fail "reload with auth refused"
pass "POST /-/reload: off by default, refused on a routable address without auth"

P=$(free_port)
bg bpfex "$BPFEX" run --listen 127.0.0.1:$P --web.config.file web.yml --web.enable-lifecycle --tick-interval 1s
U=https://127.0.0.1:$P
wait_for 10 curl -sf --cacert ca.crt -u prom:s3cret $U/readyz
code() { curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt "$@"; }
for path in / /metrics /healthz /readyz /rules /api/v1/alerts /api/v1/rules /no-such-page; do
  [ "$(code $U$path)" = 401 ] || fail "$path without credentials: $(code $U$path)"
  [ "$(code -u prom:wrong $U$path)" = 401 ] || fail "$path with a wrong password"
  [ "$(code -u mallory:s3cret $U$path)" = 401 ] || fail "$path with an unknown user"
done
[ "$(code -X POST $U/-/reload)" = 401 ] || fail "POST /-/reload without credentials"
[ "$(code -u prom:s3cret -X POST $U/-/reload)" = 200 ] || fail "POST /-/reload with credentials"
curl -s -D hdr -o /dev/null --cacert ca.crt $U/metrics
grep -qi '^WWW-Authenticate: Basic' hdr || fail "401 without WWW-Authenticate: Basic"
curl -s -D hdr -o body --cacert ca.crt -u prom:s3cret $U/metrics
grep -q ' 200' hdr || fail "good credentials refused"
grep -qi '^X-Frame-Options: deny' hdr && grep -qi '^X-Content-Type-Options: nosniff' hdr || fail "configured headers missing"
grep -q '^bpfex_build_info' body || fail "metrics body"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P/metrics || true)" != 200 ] || fail "plain HTTP answered on a TLS port"
[ "$(code --tls-max 1.1 -u prom:s3cret $U/metrics || true)" != 200 ] || fail "TLS 1.1 accepted with min_version TLS12"
pass "every endpoint: 401 without, with wrong and with unknown credentials; 200 with; headers; TLS only, 1.2+"

# Real Prometheus over https with basic_auth and tls_config: up == 1; a job
# with a wrong password: up == 0.
PP=$(free_port)
cat > prometheus.yml <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: bpfex
    scheme: https
    basic_auth: {username: prom, password: s3cret}
    tls_config: {ca_file: $WORK/ca.crt}
    static_configs: [{targets: ['127.0.0.1:$P']}]
  - job_name: wrong_password
    scheme: https
    basic_auth: {username: prom, password: guess}
    tls_config: {ca_file: $WORK/ca.crt}
    static_configs: [{targets: ['127.0.0.1:$P']}]
YML
bg prometheus prometheus --config.file=prometheus.yml --storage.tsdb.path=tsdb --web.listen-address=127.0.0.1:$PP
wait_for 30 curl -sf http://127.0.0.1:$PP/-/ready
query() {
  curl -sf --get --data-urlencode "query=$1" http://127.0.0.1:$PP/api/v1/query |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
up_ok() { [ "$(query 'up{job="bpfex"}')" = 1 ] && [ "$(query 'up{job="wrong_password"}')" = 0 ]; }
wait_for 30 up_ok || fail "Prometheus over https: up{job=bpfex}=$(query 'up{job="bpfex"}') up{job=wrong_password}=$(query 'up{job="wrong_password"}')"
refused() { v=$(query 'bpfex_http_refused_total{job="bpfex",reason="auth"}'); [ -n "$v" ] && [ "${v%.*}" -ge 2 ]; }
wait_for 10 refused || fail "refused requests are not counted in bpfex_http_refused_total{reason=auth}"
pass "real Prometheus scrapes over https with basic_auth: up 1; a wrong password: up 0, counted"

# Rotation: new certificate files are served without a restart.
serial() { echo | openssl s_client -connect 127.0.0.1:$P -CAfile ca.crt 2>/dev/null | openssl x509 -noout -serial; }
old=$(serial)
[ "$old" = "$(openssl x509 -in server.crt -noout -serial)" ] || fail "served certificate is not server.crt"
cp server2.key server.key.new && cp server2.crt server.crt.new && mv server.key.new server.key && mv server.crt.new server.crt
rotated() { [ "$(serial)" = "$(openssl x509 -in server2.crt -noout -serial)" ]; }
wait_for 10 rotated || fail "the rotated certificate is not served"
[ "$(code -u prom:s3cret $U/metrics)" = 200 ] || fail "scrape after rotation"
pass "a rotated certificate is served without a restart"

# A broken edit: the last good config stays in force, and it shows.
cp web.yml web.good
printf 'tls_server_config: [\n' > web.yml
sleep 1.5
[ "$(code -u prom:s3cret $U/metrics)" = 200 ] || fail "a broken web config took the server down"
[ "$(code $U/metrics)" = 401 ] || fail "a broken web config dropped auth"
bad_seen() { curl -s --cacert ca.crt -u prom:s3cret $U/metrics | grep -q '^bpfex_http_web_config_last_reload_successful 0'; }
wait_for 5 bad_seen || fail "bpfex_http_web_config_last_reload_successful is not 0 after a broken edit"
# A new password takes effect without a restart.
hash2=$(python3 -W ignore -c "import crypt; print(crypt.crypt('n3w', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
sed "s#prom: .*#prom: $hash2#" web.good > web.yml
newpw() { [ "$(code -u prom:n3w $U/metrics)" = 200 ] && [ "$(code -u prom:s3cret $U/metrics)" = 401 ]; }
wait_for 10 newpw || fail "a changed password did not take effect"
pass "a broken edit keeps the last good config (counted); a new password applies without a restart"
kill "${_pids[0]}"

# mTLS: RequireAndVerifyClientCert with the CA; a client certificate from
# another CA, or none, is refused.
cat > mtls.yml <<YML
tls_server_config:
  cert_file: server2.crt
  key_file: server2.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  client_allowed_sans: [prometheus]
YML
P2=$(free_port)
bg bpfex2 "$BPFEX" run --listen 127.0.0.1:$P2 --web.config.file mtls.yml --tick-interval 1s
M=https://127.0.0.1:$P2
wait_for 10 curl -sf --cacert ca.crt --cert client.crt --key client.key $M/readyz
[ "$(code --cert client.crt --key client.key $M/metrics)" = 200 ] || fail "trusted client certificate refused"
[ "$(code $M/metrics || true)" != 200 ] || fail "no client certificate accepted"
[ "$(code --cert intruder.crt --key intruder.key $M/metrics || true)" != 200 ] || fail "an untrusted client certificate accepted"
pass "mTLS: trusted client certificate 200; none or untrusted refused"
