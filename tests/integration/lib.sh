# Helpers for the integration tests. Source it after setting -euo pipefail.
# Every server started here listens on 127.0.0.1 and is killed on exit.

: "${BPFEX:?BPFEX must point at the bpfex binary}"
WORK=$(mktemp -d /tmp/bpfex-it.XXXXXX)
_pids=()
_cleanup() {
  local rc=$?
  for p in "${_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -30 "$f"; }; done
  fi
  rm -rf "$WORK"
}
trap _cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# bg NAME CMD...: start CMD in the background, logging to $WORK/NAME.log.
bg() { local name=$1; shift; "$@" >"$WORK/$name.log" 2>&1 & _pids+=($!); }

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge $deadline ] && { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
