"""launch/nav.launch.py: a thin translation of aria_nav.graph into launch_ros actions.

launch/launch_ros have no PyPI wheels, so generate_launch_description() runs only where a ROS 2 distribution
provides them; the static checks run everywhere."""
import ast
import importlib.util
from pathlib import Path

import pytest

from aria_nav import graph

LAUNCH_FILE = Path(__file__).resolve().parents[1] / "launch" / "nav.launch.py"


def test_launch_file_has_no_node_list_or_topic_names_of_its_own():
    tree = ast.parse(LAUNCH_FILE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"launch", "launch_ros", "aria_nav"}
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    node_names = {spec.name for spec in graph.NODES} | {spec.executable for spec in graph.NODES}
    assert not [s for s in strings if s.startswith("/")], "topic names belong in aria_nav.topics / aria_nav.graph"
    assert not node_names & set(strings), "node names belong in aria_nav.graph"


def _load_launch_module():
    # (find_spec("launch") would find this repository's launch/ folder as a namespace package.)
    pytest.importorskip("launch.actions", reason="launch is not installed (it comes with a ROS 2 distribution, "
                                                 "it has no PyPI wheel)")
    pytest.importorskip("launch_ros.actions", reason="launch_ros is not installed (it comes with a ROS 2 "
                                                     "distribution, it has no PyPI wheel)")
    spec = importlib.util.spec_from_file_location("nav_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_launch_description_mirrors_the_graph():
    module = _load_launch_module()
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import Node

    description = module.generate_launch_description()
    declared = [entity for entity in description.entities if isinstance(entity, DeclareLaunchArgument)]
    assert [arg.name for arg in declared] == [arg.name for arg in graph.launch_arguments()]
    for action, arg in zip(declared, graph.launch_arguments()):
        assert list(action.choices or []) == list(arg.choices)
    nodes = [entity for entity in description.entities if isinstance(entity, Node)]
    composed_modes = [mode for mode in graph.COMPOSED_MODES if mode != "false"]
    assert len(nodes) == len(graph.NODES) + len(composed_modes)  # one composed process per composed mode
    for action, spec in zip(nodes, graph.NODES):
        assert (action.condition is None) == (spec.enabled_by is None and not spec.composed_in
                                              and not spec.enabled_in), spec.name
    assert all(action.condition is not None for action in nodes[len(graph.NODES):])
