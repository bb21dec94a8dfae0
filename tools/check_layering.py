#!/usr/bin/env python3
"""Checks GUIDE.md §2's layering on #include lines: each module under src/
may include only the modules listed for it. Exit 1 with file:line for every
include that crosses a layer. Run by `meson test` (suite lint)."""
import pathlib
import re
import sys

ALLOWED = {
    "base": {"base"},
    "metrics": {"base", "metrics"},
    "bpf": {"base", "bpf"},
    "export": {"base", "metrics", "export"},
    "lua": {"base", "bpf", "metrics", "lua"},
    "engine": {"base", "bpf", "metrics", "lua", "engine"},
    "daemon": {"base", "bpf", "metrics", "lua", "engine", "export", "daemon"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    errors = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in {".h", ".cc", ".c"}:
            continue
        module = path.relative_to(src).parts[0]
        if module not in ALLOWED:
            errors.append(f"{path}: module '{module}' has no layering rule in tools/check_layering.py")
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) in ALLOWED and m.group(1) not in ALLOWED[module]:
                errors.append(f"{path}:{n}: {module} may not include {m.group(1)}/ (GUIDE.md §2)")
    for e in errors:
        print(e)
    print(f"layering: {'OK' if not errors else f'{len(errors)} violation(s)'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
