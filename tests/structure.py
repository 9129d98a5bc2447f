#!/usr/bin/env python3
"""Structure figures for notes: the largest files, the longest functions
(universal-ctags), and the strcmp dispatch chains left.

Usage: tests/structure.py [ROOT]

A dispatch chain is an if and two or more else-ifs that test one variable
against string literals with strcmp. Not part of the suite.
"""
import os, re, subprocess, sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
srcs = []
for top in ("agentd", "agents", "nnsim"):
    for d, _, fs in os.walk(os.path.join(root, top)):
        srcs += [os.path.join(d, f) for f in fs if f.endswith((".c", ".h"))]
srcs.sort()
lines = {s: sum(1 for _ in open(s)) for s in srcs}
print("five largest files:")
for s in sorted(srcs, key=lambda s: -lines[s])[:5]:
    print(f"  {lines[s]:5d} {os.path.relpath(s, root)}")
out = subprocess.run(["ctags", "-x", "--c-kinds=f", "--fields=+ne", "-o", "-",
                      "--_xformat=%N %F %n %e"] + [s for s in srcs if s.endswith(".c")],
                     capture_output=True, text=True).stdout
funcs = []
for ln in out.splitlines():
    name, f, a, b = ln.split()
    funcs.append((int(b) - int(a) + 1, name, os.path.relpath(f, root)))
funcs.sort(reverse=True)
print("ten longest functions:")
for n, name, f in funcs[:10]:
    print(f"  {n:5d} {name} ({f})")
print(f"functions over 150 lines: {sum(1 for f in funcs if f[0] > 150)}")
# A dispatch chain: an if and two or more else-ifs testing one variable
# against string literals with strcmp.
first = re.compile(r'(?<!else )if \(strcmp\((\w+(?:->\w+)?), "')
more = re.compile(r'else if \(strcmp\((\w+(?:->\w+)?), "')
chains = 0
where = []
for s_ in srcs:
    if not s_.endswith(".c"):
        continue
    var, n, start = None, 0, 0
    for i, ln in enumerate(open(s_), 1):
        m = more.search(ln)
        if m and m.group(1) == var:
            n += 1
            continue
        m = first.search(ln)
        if m:
            if n >= 3:
                chains += 1
                where.append(f"{os.path.relpath(s_, root)}:{start} ({var}, {n})")
            var, n, start = m.group(1), 1, i
    if n >= 3:
        chains += 1
        where.append(f"{os.path.relpath(s_, root)}:{start} ({var}, {n})")
print(f"strcmp dispatch chains (if and 2+ else-ifs on one variable): {chains}")
for w in where:
    print("  " + w)
