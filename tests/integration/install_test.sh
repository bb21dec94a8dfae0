#!/usr/bin/env bash
# `meson install` places everything a host needs, at the paths the installed
# configuration and unit name: the binary, the unit and its system user, the
# default configuration (NetProbe on every interface) and the site's rules
# directory, the bundled rules and jobs, dashboards, examples, docs, a man
# page and a bash completion generated from the CLI's own help. The installed
# default passes `bpfex check`, the man page renders and documents every
# subcommand, and the completion completes them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${MESON_BUILD_ROOT:?MESON_BUILD_ROOT: the build directory}"
dest="$WORK/root"
meson install -C "$MESON_BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log"; fail "meson install"; }
prefix=$(meson introspect "$MESON_BUILD_ROOT" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
sysconf=$(meson introspect "$MESON_BUILD_ROOT" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "sysconfdir"))')
case "$sysconf" in /*) ;; *) sysconf="$prefix/$sysconf" ;; esac
root="$dest$prefix"
for f in bin/bpfex lib/sysusers.d/bpfex.conf \
         share/bpfex/rules/netprobe.lua share/bpfex/rules/vpn_router.lua share/bpfex/rules/jobs/idp_sync.lua \
         share/bpfex/grafana/dashboards/netprobe.json share/bpfex/grafana/dashboards/vpn-router.json \
         share/bpfex/grafana/provisioning/dashboards share/bpfex/examples/vpn-router.yaml share/bpfex/packages/vpn-router.yaml \
         share/bpfex/examples/prometheus/alerts.yml share/doc/bpfex/README.md share/doc/bpfex/lua-api.md \
         share/man/man1/bpfex.1 share/bash-completion/completions/bpfex; do
  [ -e "$root/$f" ] || fail "not installed: $prefix/$f"
done
[ -f "$dest$sysconf/bpfex/bpfex.yaml" ] && [ -d "$dest$sysconf/bpfex/rules" ] ||
  fail "no default configuration or rules directory under $sysconf/bpfex"
pass "installed: binary, unit, system user, default config and rules dir, rules, jobs, dashboards, examples, docs, man page, completion"

# The unit and the config name the installed paths, nothing else.
unit=$(find "$dest" -name bpfex.service -path '*systemd/system*' | head -1)
[ -n "$unit" ] || fail "no installed unit"
grep -q "^ExecStart=$prefix/bin/bpfex run --config $sysconf/bpfex/bpfex.yaml$" "$unit" ||
  fail "the unit does not start the installed binary with the installed config: $(grep ExecStart "$unit")"
! grep -q "@[a-z]*@" "$unit" "$dest$sysconf/bpfex/bpfex.yaml" || fail "an unsubstituted @var@"
grep -q "$prefix/share/bpfex/rules/netprobe.lua" "$dest$sysconf/bpfex/bpfex.yaml" || fail "the config does not name the installed rules"
# The installed default checks, read where it was installed (its paths under the destdir).
sed "s#$prefix/share#$root/share#g; s#$sysconf#$dest$sysconf#g" "$dest$sysconf/bpfex/bpfex.yaml" > "$WORK/default.yaml"
"$root/bin/bpfex" check --config "$WORK/default.yaml" >/dev/null || fail "bpfex check of the installed default"
pass "the unit and the default config name the installed paths; the default passes bpfex check"

# The installed unit: systemd-analyze verify (with the destdir's binary and
# man page), and its exposure printed and held at or below 2.0.
sed "s#$prefix/bin/bpfex#$root/bin/bpfex#" "$unit" > "$WORK/bpfex.service"
MANPATH="$root/share/man" systemd-analyze verify "$WORK/bpfex.service" >"$WORK/verify.txt" 2>&1 ||
  { cat "$WORK/verify.txt"; fail "systemd-analyze verify"; }
[ ! -s "$WORK/verify.txt" ] || { cat "$WORK/verify.txt"; fail "systemd-analyze verify complained"; }
systemd-analyze security --offline=true --threshold=20 "$WORK/bpfex.service" >"$WORK/security.txt" 2>&1 ||
  { tail -3 "$WORK/security.txt"; fail "the installed unit's exposure is over 2.0"; }
pass "the installed unit verifies; $(grep -o 'Overall exposure level for bpfex.service: [0-9.]*' "$WORK/security.txt")"

# The man page renders and covers every subcommand the binary has.
man -l "$root/share/man/man1/bpfex.1" >"$WORK/man.txt" 2>/dev/null || groff -man -Tutf8 "$root/share/man/man1/bpfex.1" >"$WORK/man.txt"
for c in $("$root/bin/bpfex" --help | sed -n '/^Subcommands:/,$p' | awk 'NR>1 && NF {print $1}'); do
  grep -q "bpfex $c" "$WORK/man.txt" || fail "the man page lacks bpfex $c"
done
grep -q -- "--web.config.file" "$WORK/man.txt" || fail "the man page lacks run's options"
# The completion completes subcommands and options.
out=$(bash -c "source '$root/share/bash-completion/completions/bpfex'; COMP_WORDS=(bpfex ch); COMP_CWORD=1; _bpfex; echo \${COMPREPLY[*]}")
[ "$out" = check ] || fail "completing 'bpfex ch': '$out'"
out=$(bash -c "source '$root/share/bash-completion/completions/bpfex'; COMP_WORDS=(bpfex check --for); COMP_CWORD=2; _bpfex; echo \${COMPREPLY[*]}")
[ "$out" = --format ] || fail "completing 'bpfex check --for': '$out'"
pass "the man page and the completion cover the CLI as the binary describes it"
