#!/usr/bin/env bash
# The Debian package, built from the repository with Debian's own tools
# (dpkg-buildpackage, debhelper's meson build system), checked by lintian,
# then installed and purged on this machine:
#   - the configuration is a conffile; the unit is enabled the Debian way;
#   - installing creates the system user and the state directory;
#   - purging removes what the package created (config, state, its pins).
# Slow (a release build); suite "package".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for t in dpkg-buildpackage dh lintian; do
  command -v $t >/dev/null || fail "$t is not installed (tools/test.sh installs debhelper and lintian)"
done
if dpkg-query -W -f='${Status}' bpfex 2>/dev/null | grep -q installed; then
  fail "a bpfex package is installed already; this test installs and purges its own"
fi

# The committed tree (what a clean clone has), built out of the source dir.
# BPFEX_DEB: a package built before (to rerun the checks without the build).
if [ -n "${BPFEX_DEB:-}" ]; then
  deb=$BPFEX_DEB
else
  src="$WORK/src/bpfex-0.1.0"
  mkdir -p "$src"
  git -C "$ROOT" archive --format=tar HEAD | tar xf - -C "$src"
  (cd "$src" && dpkg-buildpackage -b -us -uc -j2 >"$WORK/build.log" 2>&1) || { tail -40 "$WORK/build.log"; fail "dpkg-buildpackage"; }
  deb=$(ls "$WORK"/src/bpfex_*.deb)
  [ -z "${BPFEX_KEEP_DEB:-}" ] || cp "$deb" "$BPFEX_KEEP_DEB"
fi
pass "dpkg-buildpackage: $(basename "$deb") ($(du -h "$deb" | cut -f1))"

lintian --fail-on error,warning --suppress-tags-from-file "$ROOT/debian/lintian-accepted" "$deb" >"$WORK/lintian.log" 2>&1 ||
  { cat "$WORK/lintian.log"; fail "lintian"; }
info=$(grep -c '^[IPX]: ' "$WORK/lintian.log" || true)
pass "lintian: no error or warning ($info informational or pedantic tags)"

dpkg-deb --ctrl-tarfile "$deb" | tar xf - -C "$WORK" ./conffiles ./postinst ./postrm
grep -qx /etc/bpfex/bpfex.yaml "$WORK/conffiles" || fail "/etc/bpfex/bpfex.yaml is not a conffile: $(cat "$WORK/conffiles")"
grep -q "deb-systemd-helper .*enable.*bpfex.service\|deb-systemd-helper enable 'bpfex.service'" "$WORK/postinst" ||
  grep -q "deb-systemd-helper.*bpfex.service" "$WORK/postinst" || fail "the unit is not enabled by the postinst"
dpkg-deb -c "$deb" >"$WORK/contents.txt"
grep -q " ./lib/systemd/system/bpfex.service$" "$WORK/contents.txt" || fail "the unit is not in /lib/systemd/system"
pass "conffile /etc/bpfex/bpfex.yaml; the unit in /lib/systemd/system, enabled by deb-systemd-helper"

cleanup_pkg() {
  dpkg --purge bpfex >/dev/null 2>&1 || true
  getent passwd bpfex >/dev/null && userdel bpfex 2>/dev/null
  if [ -z "${group_before:-}" ]; then groupdel bpfex-regions 2>/dev/null || true; fi
  true
}
trap 'cleanup_pkg; _cleanup' EXIT
user_before=$(getent passwd bpfex || true)
group_before=$(getent group bpfex-regions || true)
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "dpkg -i"; }
getent passwd bpfex >/dev/null || fail "no system user bpfex after install"
/usr/bin/bpfex check --config /etc/bpfex/bpfex.yaml >/dev/null || fail "the installed default does not pass bpfex check"
pass "installed: the system user, the default config passes bpfex check"

# The unit's ExecStart, exactly, with the default configuration: in a network
# namespace of its own (so "every interface" is that namespace's) with a
# bpffs of its own.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/bpfex.service)
ns=bpfexdeb
ip netns del $ns 2>/dev/null || true
ip netns add $ns
trap 'ip netns del $ns 2>/dev/null; cleanup_pkg; _cleanup' EXIT
ip -n $ns link set lo up
ip -n $ns link add d0 type veth peer name d1
ip -n $ns link set d0 up && ip -n $ns link set d1 up
unshare --mount --propagation private sh -c "mount -t bpf bpf /sys/fs/bpf && exec nsenter --net=/var/run/netns/$ns $exec_start" \
  >"$WORK/daemon.log" 2>&1 &
daemon=$!
_pids+=($daemon)
in_ns() { nsenter --net=/var/run/netns/$ns "$@"; }
wait_for 20 in_ns curl -sf http://127.0.0.1:9479/readyz || { cat "$WORK/daemon.log"; fail "$exec_start did not become ready"; }
sleep 6  # a tick
in_ns curl -sf http://127.0.0.1:9479/metrics >"$WORK/metrics.txt"
grep -q '^bpfex_bpf_interface_attachments{object="traffic"} [1-9]' "$WORK/metrics.txt" ||
  { grep bpfex_bpf "$WORK/metrics.txt"; cat "$WORK/daemon.log"; fail "the default config attached to nothing"; }
grep -q '^netprobe_up 1' "$WORK/metrics.txt" || fail "no NetProbe series from the default config"
kill -TERM $daemon && wait $daemon || fail "the daemon did not stop cleanly on SIGTERM"
pass "the unit's ExecStart ($exec_start) serves NetProbe on every interface with the default config"

echo "# local edit" >> /etc/bpfex/bpfex.yaml

# Reinstalling (an upgrade to the same version) keeps the local edit.
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb" >>"$WORK/install.log" 2>&1 || fail "dpkg -i again"
grep -q "^# local edit$" /etc/bpfex/bpfex.yaml || fail "an upgrade lost the local edit of the conffile"
pass "an upgrade keeps local edits of /etc/bpfex/bpfex.yaml"

mkdir -p /var/lib/bpfex
dpkg --purge bpfex >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg --purge"; }
for p in /etc/bpfex /var/lib/bpfex /usr/bin/bpfex /lib/systemd/system/bpfex.service; do
  [ ! -e "$p" ] || fail "$p is left after purge"
done
[ -n "$user_before" ] || userdel bpfex 2>/dev/null || true
# The system user and group stay after a purge, as Debian leaves them; the
# test removes what it made, so the next run starts from the same machine.
[ -n "$group_before" ] || groupdel bpfex-regions 2>/dev/null || true
pass "purge removes the config, the state directory and everything installed"
