#!/usr/bin/env python3
"""Prints the import graph between the top-level modules of src/ and checks that it points one way.

Usage: scripts/import_graph.py [--dot]

Every `crate::a…` path in a file of module `m` (its file or folder under src/: src/app/run.rs
belongs to `app`) is an edge m -> a; test modules (`#[cfg(test)] mod …` to the end of a file)
may reach anywhere and are left out. Prints the edges, then the layers (a module's layer is one
more than the highest layer it imports), and exits 1 when the graph has a cycle, naming it.
--dot prints the graph in Graphviz form instead.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*(pub(\(\w+\))?\s+)?mod\s+\w+\s*\{")


def module_of(rel):
    """The top-level module of the file at `rel` (relative to src/), None for lib.rs/main.rs."""
    first = rel.split(os.sep)[0]
    name = first[:-3] if first.endswith(".rs") else first
    return None if name in ("lib", "main") else name


def code_of(path):
    """The file's text without comments and without its test module."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())
    cut = TEST_MODULE.search(text)
    return text[: cut.start()] if cut else text


modules = set()
files = []
for root, _, names in os.walk(SRC):
    for f in names:
        if f.endswith(".rs"):
            rel = os.path.relpath(os.path.join(root, f), SRC)
            mod = module_of(rel)
            if mod:
                modules.add(mod)
                files.append((mod, os.path.join(root, f)))

edges = {m: set() for m in modules}
for mod, path in files:
    for target in re.findall(r"crate::(\w+)", code_of(path)):
        if target in modules and target != mod:
            edges[mod].add(target)

if "--dot" in sys.argv:
    print("digraph imports {")
    for a in sorted(edges):
        for b in sorted(edges[a]):
            print(f'  "{a}" -> "{b}";')
    print("}")
    sys.exit(0)

for a in sorted(edges):
    print(f"{a} -> {', '.join(sorted(edges[a])) or '(nothing)'}")

# Cycles: Tarjan's strongly connected components.
index, low, stack, on_stack, components = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        components.append(sorted(component))


for v in sorted(modules):
    if v not in index:
        visit(v)
cycles = [c for c in components if len(c) > 1]
if cycles:
    for c in cycles:
        print("\ncycle: " + " <-> ".join(c))
        for a in c:
            print(f"  {a} -> {', '.join(sorted(b for b in edges[a] if b in c))}")
    sys.exit(1)

layer = {}


def depth(v):
    if v not in layer:
        layer[v] = 1 + max((depth(w) for w in edges[v]), default=-1)
    return layer[v]


for v in modules:
    depth(v)
print()
for level in range(max(layer.values()) + 1):
    print(f"layer {level}: {' '.join(sorted(v for v in layer if layer[v] == level))}")
print("\nno cycles: every import points to a lower layer")
