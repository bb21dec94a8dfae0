#!/usr/bin/env bash
# Reproduces the numbers in BENCHMARKS.md: builds a release tree and runs the
# registry micro-benchmarks and the serving/memory comparisons against
# prometheus-cpp 1.0.1 (Debian) in the same run, and BPF map reads against raw
# bpf_map_lookup_batch and bpftool. About 5 minutes on 2 cores.
#   bench/run.sh [N ...]   (default: 1000 10000 100000 1000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib/common.sh"
bpfex_install_deps
bpfex_build build-rel --buildtype=release -Dtests=disabled -Dbenchmarks=enabled >/dev/null
out="$root/bench/results"
mkdir -p "$out"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000 1000000)

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs)"
  echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "packages: $(dpkg-query -W -f='${Package} ${Version}; ' libmicrohttpd12 prometheus-cpp-dev zlib1g libbenchmark-dev g++-12 2>/dev/null)"
} | tee "$out/machine.txt"

"$root/build-rel/bench/render_bench" --benchmark_min_time=0.5 | tee "$out/render.txt"

echo "| series | encoding | body | bpfex median ms | bpfex p99 ms | prometheus-cpp median ms | prometheus-cpp p99 ms | floor median ms | prometheus-cpp / bpfex | bpfex / floor |" | tee "$out/serve.txt"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|" | tee -a "$out/serve.txt"
for n in "${sizes[@]}"; do
  scrapes=30; [ "$n" -ge 1000000 ] && scrapes=10
  "$root/build-rel/bench/serve_compare" serve "$n" $scrapes | tee -a "$out/serve.txt"
done

echo "| series | encoding | text render ms | text body | text serve median ms | protobuf render ms | protobuf body | protobuf serve median ms |" | tee "$out/protobuf.txt"
echo "|---:|---|---:|---:|---:|---:|---:|---:|" | tee -a "$out/protobuf.txt"
for n in "${sizes[@]}"; do
  [ "$n" -ge 100000 ] || continue
  "$root/build-rel/bench/serve_compare" proto "$n" 10 | tee -a "$out/protobuf.txt"
done

echo "| server | series | RSS empty | RSS populated | RSS after 3 ticks/scrapes | bytes/series | peak bytes/series |" | tee "$out/memory.txt"
echo "|---|---:|---:|---:|---:|---:|---:|" | tee -a "$out/memory.txt"
for n in "${sizes[@]}"; do
  [ "$n" -ge 100000 ] || continue
  "$root/build-rel/bench/serve_compare" mem bpfex "$n" | tee -a "$out/memory.txt"
  "$root/build-rel/bench/serve_compare" mem promcpp "$n" | tee -a "$out/memory.txt"
done

"$root/build-rel/bench/rule_bench" 10000 100000 1000000 | tee "$out/rules.txt"

if [ "$(id -u)" = 0 ]; then
  "$root/build-rel/bench/map_read_bench" 10000 100000 1000000 | tee "$out/map_read.txt"
  "$root/build-rel/bench/prog_cost" | tee "$out/prog_cost.txt"
  "$root/build-rel/bench/region_bench" | tee "$out/region.txt"
  # Tracing metrics per event (issue #31): the kernel's run-time accounting through bpfex.
  "$root/bench/trace_cost.py" "$root/build-rel/src/bpfex" "$root/build-rel/bench/trace_cost.bpf.o" \
    "$root/build-rel/tests/trace_witness" | tee "$out/trace_cost.txt"
else
  echo "map_read_bench, prog_cost, region_bench: SKIPPED (BPF maps and BPF_PROG_TEST_RUN need root)" | tee "$out/map_read.txt"
fi

# Range functions (issue #19): bpfex's tick-resolution history against the
# real Prometheus evaluating the same rate() over the same shape.
"$root/build-rel/bench/history_bench" 10000 100000 | tee "$out/history.txt"
python3 "$root/bench/promql_peer.py" 10000 100000 | tee -a "$out/history.txt"
