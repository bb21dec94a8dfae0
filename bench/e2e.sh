#!/usr/bin/env bash
# The whole daemon at scale against real Prometheus (issue #16; BENCHMARKS.md
# §12): for each series count, bench/e2e.py runs a build of BASE (default: the
# main before issue #16, f2a6ec2) and this tree's
# build, with the Lua re-export rule and with bpf.export, one after the other
# on the same machine. About 30 minutes on 2 cores, as root.
#   bench/e2e.sh [BASE_REV] [N ...]     (default N: 1000000 100000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib/common.sh"
bpfex_install_deps
base=${1:-f2a6ec2}; shift || true
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000000 100000)
bpfex_build build-rel --buildtype=release -Dtests=disabled -Dbenchmarks=enabled >/dev/null
basedir=$(mktemp -d /tmp/bpfex-e2e-base.XXXXXX)
trap 'git -C "$root" worktree remove --force "$basedir" >/dev/null 2>&1 || rm -rf "$basedir"' EXIT
git -C "$root" worktree add --detach "$basedir" "$base" >/dev/null
(cd "$basedir" && meson setup build --buildtype=release -Dtests=disabled -Dbenchmarks=disabled >/dev/null &&
  ninja -C build src/bpfex >/dev/null)
out="$root/bench/results/e2e.jsonl"
mkdir -p "$root/bench/results"
: > "$out"
peer="$root/build-rel/bench/e2e_peer"
for n in "${sizes[@]}"; do
  m=4; [ "$n" -lt 1000000 ] && m=2
  python3 "$root/bench/e2e.py" --bpfex "$basedir/build/src/bpfex" --peer "$peer" --series "$n" --minutes $m \
    --label "main $base" --rule lua --out "$out"
  python3 "$root/bench/e2e.py" --bpfex "$root/build-rel/src/bpfex" --peer "$peer" --series "$n" --minutes $m \
    --label "this tree, Lua loop" --rule lua --out "$out"
  python3 "$root/bench/e2e.py" --bpfex "$root/build-rel/src/bpfex" --peer "$peer" --series "$n" --minutes $m \
    --label "this tree, bpf.export" --rule export --out "$out"
done
python3 "$root/bench/e2e.py" --table "$out" | tee "$root/bench/results/e2e.md"
