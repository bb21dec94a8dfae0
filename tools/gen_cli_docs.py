#!/usr/bin/env python3
"""The man page and the bash completion, from the built binary's own --help
(CLI11's text), so neither can drift from the CLI.

  gen_cli_docs.py BPFEX MAN_OUT BASH_OUT
"""
import re
import subprocess
import sys


def help_text(bpfex, *args):
    return subprocess.run([bpfex, *args, "--help"], capture_output=True, text=True, check=True).stdout


def parse(text):
    """(description, usage, [(kind, flags, arg, help)]) from CLI11's help."""
    lines = text.splitlines()
    desc = lines[0].strip() if lines else ""
    usage = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("Usage:")), "")
    items, section = [], None
    for l in lines:
        if re.match(r"^(Options|Positionals|Subcommands):$", l):
            section = l[:-1]
            continue
        m = re.match(r"^  (\S.*?)(?:\s{2,}(.*))?$", l)
        if section and m:
            spec, helptext = m.group(1), (m.group(2) or "").strip()
            if section == "Options":
                parts = spec.split(" ", 1)
                items.append(("option", parts[0].split(","), parts[1] if len(parts) > 1 else "", helptext))
            elif section == "Positionals":
                parts = spec.split(" ", 1)
                items.append(("positional", [parts[0]], parts[1] if len(parts) > 1 else "", helptext))
            else:
                items.append(("subcommand", [spec], "", helptext))
        elif section and l.startswith("    ") and items:  # a wrapped help line
            k, f, a, h = items[-1]
            items[-1] = (k, f, a, (h + " " + l.strip()).strip())
    return desc, usage, items


def roff(s):
    return s.replace("\\", "\\e").replace("-", "\\-").replace("'", "\\(aq")


def man(bpfex, top, subs):
    out = ['.TH BPFEX 1 "" "bpfex" "User Commands"',
           ".SH NAME", "bpfex \\- " + roff(top[0].split(":", 1)[-1].strip()),
           ".SH SYNOPSIS", ".B bpfex", ".I command", "[\\fIoptions\\fR]",
           ".SH DESCRIPTION",
           roff("bpfex loads eBPF programs, reads eBPF maps (its own and other daemons' pinned maps) and runs "
                "Lua rules over them: derived metrics, relabelling and alerts evaluated inside the daemon. "
                "It serves /metrics to Prometheus and pushes short-lived jobs to a Pushgateway."),
           ".SH COMMANDS"]
    for name, (desc, usage, items) in subs.items():
        out += [".SS " + roff("bpfex " + name), roff(desc) + ".", ".PP", "Usage: " + roff(re.sub(r"^\S+", "bpfex", usage))]
        for kind, flags, arg, h in items:
            if kind == "option" and flags == ["-h", "--help"]:
                continue
            out += [".TP", "\\fB" + roff(", ".join(flags)) + "\\fR" + (" \\fI" + roff(arg) + "\\fR" if arg else ""),
                    roff(h)]
    out += [".SH FILES",
            ".TP", "\\fI/etc/bpfex/bpfex.yaml\\fR", roff("the configuration the systemd unit starts with (docs/configuration.md)"),
            ".TP", "\\fI/etc/bpfex/rules/\\fR", roff("the site's own rules"),
            ".TP", "\\fI/usr/share/bpfex/rules/\\fR", roff("the bundled rule sets (NetProbe, the VPN router) and push jobs"),
            ".TP", "\\fI/usr/share/bpfex/grafana/\\fR", roff("dashboards and provisioning"),
            ".SH SIGNALS",
            roff("SIGHUP reloads the configuration's rules; the last good set keeps serving if the new one is broken. "
                 "SIGTERM and SIGINT stop the daemon."),
            ".SH SEE ALSO", "\\fBprometheus\\fR(1), \\fBbpftool\\fR(8); /usr/share/doc/bpfex/"]
    return "\n".join(out) + "\n"


def bash(top, subs):
    names = " ".join(subs)
    cases = []
    for name, (_, _, items) in subs.items():
        opts = " ".join(f for kind, flags, _, _ in items if kind == "option" for f in flags)
        files = " ".join(f for kind, flags, arg, _ in items if kind == "option" and arg for f in flags)
        cases.append(f"""    {name})
      case "$prev" in
        {"|".join(files.split()) or "__none__"}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
      esac
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{opts}" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
      ;;""")
    return f"""# bash completion for bpfex, generated from its --help (tools/gen_cli_docs.py)
_bpfex() {{
  local cur prev cmd
  cur=${{COMP_WORDS[COMP_CWORD]}}
  prev=${{COMP_WORDS[COMP_CWORD-1]}}
  cmd=${{COMP_WORDS[1]}}
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "{names} --help" -- "$cur"))
    return
  fi
  case "$cmd" in
{chr(10).join(cases)}
  esac
}}
complete -F _bpfex bpfex
"""


def main():
    bpfex, man_out, bash_out = sys.argv[1:4]
    top = parse(help_text(bpfex))
    subs = {flags[0]: parse(help_text(bpfex, flags[0])) for kind, flags, _, _ in top[2] if kind == "subcommand"}
    if not subs:
        sys.exit("no subcommands in bpfex --help")
    open(man_out, "w").write(man(bpfex, top, subs))
    open(bash_out, "w").write(bash(top, subs))


if __name__ == "__main__":
    main()
