#!/usr/bin/env bash
# The README's second command: install what is missing, build with warnings as
# errors, run every test suite (unit, integration against the real Prometheus,
# privileged on real veth pairs). CI runs exactly this (.ci/run).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$BPFEX_ROOT"

bpfex_install_deps test
bpfex_build build-test -Dwerror=true -Dtests=enabled -Dbenchmarks=enabled --buildtype=debugoptimized

# meson test runs every suite; the privileged suite prints SKIPPED (and exits
# 77) only where it cannot run, which on a CI machine as root it can.
meson test -C build-test --print-errorlogs --num-processes 2 "$@"

# The ASan+UBSan lane (GUIDE.md §3.12): the unit suite (fuzz corpora
# included), and the adversaries against the sanitized daemon: every hostile
# rule, TLS and auth, slow clients. The debug build runs ~5x slower, so the
# hostile corpus scales its clocks (SIGTERM's 2 s stays as it is).
if [ $# -eq 0 ]; then
  bpfex_build build-asan -Dwerror=true -Dtests=enabled -Dbenchmarks=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 BPFEX_TEST_SLOWDOWN=4
  meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit
  meson test -C build-asan --print-errorlogs --num-processes 1 hostile_rules web slow_clients
fi
