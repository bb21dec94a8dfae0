#!/usr/bin/env python3
"""check_catalog.py [--ignore-labels a,b] CATALOG EXPOSITION...: every family
of the catalog is in the expositions (text 0.0.4; several are read as one, e.g.
a daemon's and a Pushgateway's) with its type and exactly its label names, and
has at least one sample. --ignore-labels drops labels a scrape target adds
(a Pushgateway's job and instance) before comparing. Prints what differs;
exit 1 if anything does."""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')


def main(catalog_path, text_paths, ignore=()):
    types, labels = {}, {}
    lines = [line for p in text_paths for line in open(p, encoding="utf-8")]
    for line in lines:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        name = m.group(1)
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in types and name not in types:
                name = name[: -len(suffix)]
        names = frozenset(n for n in LABEL.findall(m.group(3) or "") if n not in ("quantile", "le") and n not in ignore)
        labels.setdefault(name, set()).add(names)
    bad = 0
    n = 0
    for line in open(catalog_path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        n += 1
        name, kind, want = line.split()
        want = frozenset() if want == "-" else frozenset(want.split(","))
        if name not in types:
            print(f"missing: {name} ({kind})")
            bad += 1
            continue
        if types[name] != kind:
            print(f"type: {name} is {types[name]}, the catalog says {kind}")
            bad += 1
        seen = labels.get(name, set())
        if not seen:
            print(f"no samples: {name}")
            bad += 1
        for s in seen:
            if s != want:
                print(f"labels: {name} has {{{','.join(sorted(s))}}}, the catalog says {{{','.join(sorted(want))}}}")
                bad += 1
                break
    print(f"{bad} difference(s) from the catalog's {n} families" if bad else f"all {n} catalog families match")
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    ignore = ()
    if len(args) >= 2 and args[0] == "--ignore-labels":
        ignore = tuple(args[1].split(","))
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    sys.exit(main(args[0], args[1:], ignore))
