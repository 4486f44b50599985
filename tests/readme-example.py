#!/usr/bin/env python3
"""The README shows the seed's example in C; tests/seed_example.c compiles and runs it.
This test fails when the two drift apart: the README's hedge_position() must be the file's."""
import re
import sys

readme, source = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
pattern = re.compile(r"static void hedge_position\(.*?\n}\n", re.S)
in_readme, in_source = pattern.search(readme), pattern.search(source)
if not in_readme or not in_source:
    sys.exit("hedge_position() not found in %s" % ("README.md" if not in_readme else "seed_example.c"))
if in_readme.group(0) != in_source.group(0):
    sys.exit("README.md's hedge_position() differs from tests/seed_example.c: copy it again")
print("README example matches tests/seed_example.c")
