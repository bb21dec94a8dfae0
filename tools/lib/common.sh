# Shared by tools/demo.sh and tools/test.sh: install what is missing (Debian 12,
# as root, idempotent) and build. Source it; it defines functions only.

BPFEX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Build and runtime packages, plus the real servers the tests run against.
BPFEX_PACKAGES=(
  g++ pkg-config meson ninja-build git python3 python3-yaml curl openssl iproute2 iputils-ping
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libdeflate-dev
  clang-16
  libluajit2-5.1-dev libre2-dev libmicrohttpd-dev libgnutls28-dev libcrypt-dev prometheus-cpp-dev libcurl4-openssl-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libsnappy-dev
  libgtest-dev libbenchmark-dev
  prometheus prometheus-pushgateway prometheus-alertmanager
)
# What only the tests need: a real browser for the status page, Debian's
# packaging tools for the package test, USDT probes for the tracing test,
# Rust and Go for the applications' clients; VictoriaMetrics and an independent
# snappy/protobuf decoder for remote write.
BPFEX_TEST_PACKAGES=(chromium debhelper lintian rustc cargo golang-go systemtap-sdt-dev
  victoria-metrics python3-snappy python3-protobuf)

# bpfex_install_deps [test]: the packages above; with "test", the tests' too.
bpfex_install_deps() {
  local missing=() wanted=("${BPFEX_PACKAGES[@]}")
  [ "${1:-}" = test ] && wanted+=("${BPFEX_TEST_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "bpfex: all ${#wanted[@]} packages present"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "bpfex: missing packages: ${missing[*]}; run as root (or sudo) to install them" >&2
    return 1
  fi
  echo "bpfex: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps the servers from pulling in desktop bits;
  # policy-rc.d stops Debian from starting them as services on install.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  local rc=$?
  [ $created_policy = 1 ] && rm -f "$policy"
  return $rc
}

# bpfex_build BUILD_DIR [meson options...]
bpfex_build() {
  local dir=$1; shift
  if [ ! -f "$BPFEX_ROOT/$dir/build.ninja" ]; then
    meson setup "$BPFEX_ROOT/$dir" "$BPFEX_ROOT" "$@" || return 1
  else
    meson configure "$BPFEX_ROOT/$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$BPFEX_ROOT/$dir"
}
