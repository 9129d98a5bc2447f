#!/usr/bin/env python3
"""Fails when a file includes a header from a layer it may not use.

Usage: tests/check-layers.py [ROOT]

Each quoted include names its folder ("base/alloc.h", "agentd/client.h").
The table below is the dependency picture of docs/design.md, "Layers": a
layer may use itself and the layers it lists, nothing above. System headers
(<...>) are not checked. Prints one line per bad include and exits 1.
"""
import os
import re
import sys

# folder of the including file -> what its includes may name.  An entry
# ending in ".h" allows that one header, not its whole layer.
LAYERS = {
    "nnsim/base": ["base"],
    "nnsim/data": ["base", "data"],
    "nnsim/nn": ["base", "data", "nn"],
    "nnsim/dist": ["base", "data", "nn", "dist", "agentd/agent.h"],
    "nnsim/cli": ["base", "data", "nn", "dist", "cli", "agentd"],
    "agentd": ["base", "agentd"],
    "agents": ["base", "data", "nn", "dist", "agentd/agent.h"],
    # Tests and benchmarks may use every layer, and their own folder.
    "tests/unit": ["base", "data", "nn", "dist", "cli", "agentd", "agents",
                   "."],
    "tests/bench": ["base", "data", "nn", "dist", "agentd", "."],
    "tests/fuzz": ["base", "data", "nn", "agentd", "."],
}
KNOWN = {"base", "data", "nn", "dist", "cli", "agentd", "agents"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def allowed(rules, header):
    if "/" not in header:
        return "." in rules
    top = header.split("/", 1)[0]
    if top not in KNOWN or ".." in header.split("/"):
        return False
    return top in rules or header in rules


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = 0
    seen = 0
    for folder, rules in sorted(LAYERS.items()):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            print(f"check-layers: {folder}: no such folder", file=sys.stderr)
            return 1
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            seen += 1
            file = os.path.join(folder, name)
            with open(os.path.join(root, file), errors="replace") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m is None or allowed(rules, m.group(1)):
                        continue
                    may = ", ".join(r for r in rules if r != ".")
                    print(f"{file}:{n}: includes \"{m.group(1)}\": "
                          f"{folder} may include only from {may}"
                          f" (naming the folder)")
                    bad += 1
    # A folder of sources that no rule covers would escape the check.
    for top in ("nnsim", "agentd", "agents"):
        for d, _, files in os.walk(os.path.join(root, top)):
            rel = os.path.relpath(d, root)
            if rel not in LAYERS and any(f.endswith((".c", ".h"))
                                         for f in files):
                print(f"{rel}: sources in a folder with no layer rule "
                      f"(add it to tests/check-layers.py)")
                bad += 1
    if bad:
        print(f"check-layers: {bad} bad include(s)")
        return 1
    print(f"check-layers: {seen} files, every include within its layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
