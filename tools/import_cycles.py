"""Import cycles among the modules of stream, models and producers (every import, local ones too).

Prints each strongly connected component of the import graph (grimp, as import-linter builds
it) with more than one module, then ``cycles: N``; exits 1 when there is one. Run from the
repository root::

    .venv/bin/python tools/import_cycles.py
"""

from __future__ import annotations

import sys

import grimp

PACKAGES = ("stream", "models", "producers")


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main() -> int:
    """Build the graph, print the cycles; 1 when any."""
    sys.path.insert(0, ".")
    built = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = set(built.modules)
    graph = {m: set(built.find_modules_directly_imported_by(m)) & modules for m in sorted(modules)}
    cycles = components(graph)
    for component in cycles:
        print(len(component), " ".join(component))
    print(f"cycles: {len(cycles)} among {len(modules)} modules")
    return 1 if cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())
