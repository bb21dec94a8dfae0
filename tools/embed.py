#!/usr/bin/env python3
"""Embeds a text file in a C++ header as a raw string constant.
   embed.py INPUT OUTPUT NAME"""
import sys

src, out, name = sys.argv[1:4]
text = open(src, encoding="utf-8").read()
delim = "BPFEX_EMBED"
if ")" + delim + '"' in text:
    sys.exit(f"{src}: contains the raw-string delimiter")
with open(out, "w", encoding="utf-8") as f:
    f.write("// Generated from %s by tools/embed.py. Do not edit.\n#pragma once\n" % src)
    f.write('inline constexpr const char* %s = R"%s(%s)%s";\n' % (name, delim, text, delim))
