"""The import contracts of issue 19: services import nothing from each other,
the gateway imports no service, common imports neither (`.importlinter`,
checked by import-linter's `lint-imports`), and no import cycle among the
project's modules (import-linter has no cycle contract: found here from its
grimp graph)."""
import os
import subprocess
import sys

import pytest

try:
    import grimp
except ImportError:  # pragma: no cover - a venv without the dev requirement
    raise ImportError("tests/unit/test_import_contracts.py needs import-linter==2.17 "
                      "(with grimp) in the venv: pip install import-linter==2.17") from None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("common", "services", "gateway", "deploy", "bench", "examples")


def lint_imports():
    binary = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    command = [binary] if os.path.exists(binary) else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run(
        command + ["--config", os.path.join(ROOT, ".importlinter"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


def test_the_import_contracts_are_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def cycles(graph):
    """Every import cycle of `graph` (grimp), as sorted lists of modules:
    the strongly connected components with more than one module (or a module
    importing itself). Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.find_modules_directly_imported_by(node):
                        found.append(sorted(component))
    return sorted(found)


def project_graph():
    sys.path.insert(0, ROOT)
    present = [p for p in PACKAGES if os.path.exists(os.path.join(ROOT, p, "__init__.py"))]
    return grimp.build_graph(*present, cache_dir=None)


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z", "b"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    graph.add_import(importer="b", imported="a.z")
    assert cycles(graph) == [["a.x", "a.y"]]


def test_no_import_cycles_among_the_project_modules():
    found = cycles(project_graph())
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("contract, importer, imported", [
    ("independence", "services.residents.subscription", "services.declarations.relay"),
    ("gateway", "gateway.app", "services.residents.roster"),
    ("common", "common.db", "services.auth.store"),
])
def test_lint_imports_fails_on_a_broken_contract(tmp_path, contract, importer, imported):
    """A positive control: the same configuration over a copy of the tree
    with one forbidden import added is reported broken."""
    import shutil

    copy = tmp_path / "tree"
    for package in ("common", "services", "gateway"):
        shutil.copytree(os.path.join(ROOT, package), copy / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "var"))
    shutil.copy(os.path.join(ROOT, ".importlinter"), copy / ".importlinter")
    path = copy / (importer.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\nimport {imported}  # noqa\n")
    binary = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([binary, "--no-cache"], cwd=copy, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(copy)})
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
