#!/usr/bin/env python3
"""Structure figures for notes: the largest files, the longest functions
(universal-ctags), and the strcmp dispatch chains left.

Usage: tests/structure.py [ROOT]

A dispatch chain is three or more if/else-if tests of one variable against
string literals, each within 40 lines of the last. Not part of the suite.
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
# A dispatch chain: three or more if/else-if tests of one variable against
# string literals with strcmp.
pat = re.compile(r'strcmp\((\w+(?:->\w+)?), "')
chains = 0
where = []
for s in srcs:
    if not s.endswith(".c"):
        continue
    run_var, run_n, start = None, 0, 0
    for i, ln in enumerate(open(s), 1):
        m = pat.search(ln)
        if m and ("if (" in ln or ln.strip().startswith(("||", "strcmp", "else"))):
            v = m.group(1)
            if v == run_var and i - last <= 40:
                run_n += 1
            else:
                if run_n >= 3:
                    chains += 1; where.append(f"{os.path.relpath(s, root)}:{start} ({run_var}, {run_n})")
                run_var, run_n, start = v, 1, i
            last = i
    if run_n >= 3:
        chains += 1; where.append(f"{os.path.relpath(s, root)}:{start} ({run_var}, {run_n})")
print(f"strcmp dispatch chains (3+ tests of one variable): {chains}")
for w in where:
    print("  " + w)
