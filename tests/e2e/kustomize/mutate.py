#!/usr/bin/env python3
"""Mutates the kustomizations and manifests under a directory in place, for tests/e2e/kustomize.sh:
lines dropped, duplicated or swapped, values replaced by other YAML types, indentation broken,
paths pointed elsewhere. The build must then succeed or fail with a rule id, never crash.

Usage: mutate.py DIR SEED"""
import os
import random
import sys

root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
VALUES = ["~", "[]", "{}", "1", "-1", "true", "\"\"", "[1, [2, {a: b}]]", "{x: [1]}", "../../..", "/etc/passwd",
          "..", ".", "*", "'(a|a)*b'", "\"$(X)\"", "0x1F", "no", "&a [*a]", "!!binary aGk=", "'x: y'"]
files = []
for d, _, names in os.walk(root):
    for n in names:
        if n.endswith((".yaml", ".yml", ".env", ".properties")):
            files.append(os.path.join(d, n))
for path in rng.sample(files, min(len(files), rng.randint(1, 3))):
    with open(path) as f:
        lines = f.read().split("\n")
    for _ in range(rng.randint(1, 4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.random()
        if op < 0.2:
            del lines[i]
        elif op < 0.35:
            lines.insert(i, lines[i])
        elif op < 0.45:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op < 0.55:
            lines[i] = " " + lines[i]
        elif ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = key + ": " + rng.choice(VALUES)
        else:
            lines[i] = lines[i] + rng.choice(VALUES)
    with open(path, "w") as f:
        f.write("\n".join(lines))
