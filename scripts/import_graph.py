#!/usr/bin/env python3
"""Prints the import graph of src/ between top-level modules and checks that it points one way.

Usage: scripts/import_graph.py [--dot] [--sub]

Every `crate::a::…` path in a file of module `m` (its folder or file under src/, e.g. src/sweep/run.rs
belongs to `sweep`) is an edge m -> a. With --sub, modules are taken one level deeper
(`sweep::run`), and `super::` paths count too. Prints the edges, then the layers (a module's
layer is one more than the highest layer it imports), and exits 1 when the graph has a cycle,
naming it. --dot prints the graph in Graphviz form instead.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sub = "--sub" in sys.argv


def module_of(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    if not parts:
        return None, []
    top = parts[0]
    if sub and len(parts) > 1:
        return f"{top}::{parts[1]}", parts
    return top, parts


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())


def brace_targets(body):
    """Names directly inside a `{a, b::c, d::{e}}` use list (their first segment)."""
    out, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
            if depth == 1:
                cur = ""
                continue
        elif ch == "}":
            depth -= 1
        if depth == 1 and ch == ",":
            out.append(cur.strip())
            cur = ""
        elif depth >= 1:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return [re.split(r"::|\s", t)[0] for t in out if t]


edges = {}
nodes = set()
for root, _, files in os.walk(SRC):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        rel = os.path.relpath(path, SRC)
        mod, parts = module_of(rel)
        if mod is None:
            continue
        nodes.add(mod)
        text = strip_comments(open(path).read())
        # test modules may reach anywhere; cut `#[cfg(test)] mod tests` blocks at the end
        cut = re.search(r"#\[cfg\(test\)\]\s*(pub(\(\w+\))?\s+)?mod\s+\w+\s*\{", text)
        if cut:
            text = text[: cut.start()]
        targets = []
        for m in re.finditer(r"crate::(\w+)(?:::(\w+|\{[^;]*?\}))?", text):
            a, b = m.group(1), m.group(2)
            if sub and b and b.startswith("{"):
                targets += [f"{a}::{t}" for t in brace_targets(b)]
            else:
                targets.append(f"{a}::{b}" if sub and b else a)
        if sub:
            # `super::x` from a file inside a folder module names a sibling
            base = parts[:-1] if rel.endswith("mod.rs") is False else parts[:-1]
            for m in re.finditer(r"(?<!::)super::(\w+)", text):
                if len(parts) >= 2 and not rel.endswith("mod.rs"):
                    targets.append(f"{parts[0]}::{m.group(1)}" if len(parts) == 2 else mod)
        for t in targets:
            if sub and "::" in t:
                top, child = t.split("::", 1)
                if not os.path.exists(os.path.join(SRC, top, child + ".rs")) and not os.path.isdir(
                    os.path.join(SRC, top, child)
                ):
                    t = top
            if t != mod and not mod.startswith(t + "::") and t.split("::")[0] in {
                n.split("::")[0] for n in nodes
            } | set(os.listdir(SRC)) | {p[:-3] for p in os.listdir(SRC)}:
                edges.setdefault(mod, set()).add(t)

for a in list(edges):
    edges[a] = {b for b in edges[a] if b in nodes or any(n.startswith(b + "::") for n in nodes)}
    nodes |= edges[a]

if "--dot" in sys.argv:
    print("digraph imports {")
    for a in sorted(edges):
        for b in sorted(edges[a]):
            print(f'  "{a}" -> "{b}";')
    print("}")
    sys.exit(0)

# cycles: Tarjan's strongly connected components
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        sccs.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(nodes):
    if v not in index:
        strong(v)
cycles = [sorted(c) for c in sccs if len(c) > 1]

for a in sorted(edges):
    print(f"{a} -> {', '.join(sorted(edges[a]))}")
if cycles:
    for c in cycles:
        print("cycle:", " <-> ".join(c))
        for a in c:
            print(f"  {a} -> {', '.join(sorted(b for b in edges.get(a, ()) if b in c))}")
    sys.exit(1)

layer = {}


def depth(v):
    if v not in layer:
        layer[v] = 1 + max((depth(w) for w in edges.get(v, ())), default=-1)
    return layer[v]


print()
for v in nodes:
    depth(v)
for lv in range(max(layer.values()) + 1):
    print(f"layer {lv}: {' '.join(sorted(v for v in layer if layer[v] == lv))}")
print("\nno cycles: every import points to a lower layer")
