"""The package's import graph: no cycles, and the layers the design names (docs/design.md).

Read from the source with ast (nothing is imported), so a lazy import inside a function counts like any other where
the test says so: a cycle through a lazy import still ties two modules together.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aria_nav"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, module_level_only: bool) -> Set[str]:
    """The aria_nav modules (or external top-level packages) that `path` imports."""
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in (tree.body if module_level_only else ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), each a set of modules in a cycle."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    cycles: List[List[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def _graph(module_level_only: bool) -> Dict[str, Set[str]]:
    return {name: {m for m in _imports(path, module_level_only) if m in MODULES} for name, path in MODULES.items()}


def test_no_import_cycle_at_module_level():
    assert _cycles(_graph(module_level_only=True)) == []


def test_no_import_cycle_even_through_lazy_imports():
    assert _cycles(_graph(module_level_only=False)) == []


def test_the_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_inference_backends_import_the_interface_never_the_registry():
    backends = ["onnx_runtime", "tensorrt", "ultralytics", "io_binding", "cuda", "engine_cache"]
    for backend in backends:
        imported = _imports(MODULES[f"aria_nav.core.inference.{backend}"], module_level_only=False)
        assert "aria_nav.core.inference.registry" not in imported, backend
    interface = _imports(MODULES["aria_nav.core.inference.interface"], module_level_only=False)
    assert not {m for m in interface if m.startswith("aria_nav.core.inference.")}


def test_the_core_and_the_launcher_never_import_rclpy():
    """The ROS-free layers (docs/design.md): aria_nav/core, the launcher and the graph description."""
    ros_free = [name for name in MODULES if name.startswith("aria_nav.core")] + ["aria_nav.runner", "aria_nav.graph"]
    offenders = {name: sorted(m for m in _imports(MODULES[name], module_level_only=False)
                              if m.split(".")[0] == "rclpy" or m.startswith(("aria_nav.ros", "aria_nav.nodes")))
                 for name in ros_free}
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith("aria_nav.core.inference")))
def test_each_inference_module_imports_alone(module):
    """In a fresh interpreter, so that no earlier import hides an order the module depends on."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_command_line_registers_its_commands_without_rclpy():
    """`aria-nav models ...` or `aria-nav eval ...` must not pay for rclpy: the commands that need it import their
    tools inside the function that runs them."""
    code = "import sys; from aria_nav import cli; cli.build_parser(); print('rclpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
