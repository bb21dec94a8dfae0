#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (clang, ASan+UBSan), each for
# SECONDS (default 60), growing its corpus in tests/fuzz/corpus/<target>.
# A crash leaves its input in tests/fuzz/crashes/; fix it, then add the input
# to the target's corpus so `meson test` replays it from then on. Before
# committing a grown corpus, minimize it: build-fuzz/tests/fuzz_T -merge=1 NEW OLD.
#   tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$BPFEX_ROOT"
secs=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(exposition negotiation config web_config instrument alert_template layout)
bpfex_install_deps
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Dtests=enabled -Dbenchmarks=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized
fi
ninja -C build-fuzz $(printf 'tests/fuzz_%s ' "${targets[@]}")
mkdir -p tests/fuzz/crashes
for t in "${targets[@]}"; do
  echo "== fuzz_$t for ${secs}s"
  seeds=()
  case $t in
    instrument) seeds=(rules rules/jobs tests/hostile tests/lua docs/examples) ;;
    config) seeds=(deploy/demo deploy/systemd deploy/compose) ;;
  esac
  # The first directory is the corpus libFuzzer grows; the rest only seed it.
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    build-fuzz/tests/fuzz_$t -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=tests/fuzz/crashes/$t- tests/fuzz/corpus/$t "${seeds[@]}"
done
