"""Packaging: package.xml is honest about what the code imports, and a colcon-style (ament_python) install puts
every file where ROS 2 tools look for it."""
import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aria_nav import graph

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_XML = ROOT / "package.xml"
RUNTIME_DEPENDS = ("depend", "exec_depend")


def _imported_modules(files):
    """Top-level names of the absolute imports in `files` (lazy imports inside functions included)."""
    modules = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def _is_ros_package(module, distributions):
    """A module that a ROS package provides: its distribution registers it in the ament index."""
    marker = f"share/ament_index/resource_index/packages/{module}"
    for dist_name in distributions.get(module, []):
        files = importlib.metadata.distribution(dist_name).files or []
        if any(str(f).replace("\\", "/").endswith(marker) for f in files):
            return True
    return False


def test_package_xml_is_format_3_ament_python_and_matches_setup():
    root = ET.parse(PACKAGE_XML).getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == graph.PACKAGE
    assert root.findtext("version") == importlib.metadata.version(graph.PACKAGE)
    for required in ("description", "maintainer", "license"):
        assert (root.findtext(required) or "").strip(), f"package.xml has no <{required}>"
    assert root.find("maintainer").get("email")
    assert root.findtext("export/build_type") == "ament_python"
    entries = [element.text for element in root if element.tag.endswith("depend")]
    assert len(entries) == len(set(entries)), "a dependency is listed twice"


def test_every_ros_package_the_code_imports_is_a_runtime_dependency():
    declared = {element.text for tag in RUNTIME_DEPENDS for element in ET.parse(PACKAGE_XML).getroot().iter(tag)}
    code = _imported_modules((ROOT / "aria_nav").rglob("*.py"))
    distributions = importlib.metadata.packages_distributions()
    ros_packages = {module for module in code if _is_ros_package(module, distributions)}
    # Launch files run only under a ROS installation: everything they import but aria_nav is a ROS package
    # (launch and launch_ros have no wheels, so they cannot be recognised by their distribution here).
    ros_packages |= _imported_modules(ROOT.glob("launch/*.launch.py")) - {graph.PACKAGE}
    assert {"rclpy", "launch", "launch_ros"} <= ros_packages  # the check sees what it is meant to see
    missing = sorted(ros_packages - declared)
    assert not missing, f"imported but not a <depend>/<exec_depend> in package.xml: {missing}"


@pytest.fixture(scope="module")
def colcon_style_install(tmp_path_factory):
    """`setup.py build ... install --single-version-externally-managed` into a fresh prefix, as colcon's
    ament_python build does (setup.cfg sends the scripts to lib/aria_nav); from a copy of the sources so the
    working tree gets no build/ or egg-info."""
    base = tmp_path_factory.mktemp("colcon")
    source = base / "src"
    source.mkdir()
    for item in ("setup.py", "setup.cfg", "package.xml", "resource", "launch", "config", "aria_nav"):
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy2
        copy(ROOT / item, source / item, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / item).is_dir() else {}))
    prefix = base / "install"
    result = subprocess.run(
        [sys.executable, "setup.py", "build", "--build-base", str(base / "build"), "egg_info", "--egg-base",
         str(base / "build"), "install", "--prefix", str(prefix), "--single-version-externally-managed",
         "--record", str(base / "record.txt")],
        cwd=source, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return prefix


def test_install_layout_is_what_ros2_tools_expect(colcon_style_install):
    prefix = colcon_style_install
    share = prefix / "share" / graph.PACKAGE
    for path in (share / "package.xml", share / "launch" / "nav.launch.py", share / "config" / "nav.yaml",
                 prefix / "share" / "ament_index" / "resource_index" / "packages" / graph.PACKAGE):
        assert path.is_file(), f"not installed: {path.relative_to(prefix)}"
    for executable in sorted({spec.executable for spec in graph.NODES if spec.is_aria_nav}
                             | {graph.COMPOSED.executable, "aria-nav"}):
        script = prefix / "lib" / graph.PACKAGE / executable
        assert script.is_file() and os.access(script, os.X_OK), f"`ros2 run {graph.PACKAGE} {executable}` " \
                                                                  f"would not find {script}"
    site = next(prefix.glob("lib/python3*/site-packages"))
    sources = [path.relative_to(ROOT) for path in (ROOT / graph.PACKAGE).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    assert Path(graph.PACKAGE, "graph.py") in sources
    missing = [str(path) for path in sources if not (site / path).is_file()]
    assert not missing, f"package files not installed (package_data in setup.py?): {missing}"


def test_installed_runner_finds_the_installed_nodes_and_config(colcon_style_install):
    """The installed `aria-nav launch` (as after `source install/setup.bash`) resolves share/ and lib/ of the
    install prefix through the ament index, not the source tree."""
    prefix = colcon_style_install
    site = next(prefix.glob("lib/python3*/site-packages"))
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix), PYTHONPATH=str(site))
    result = subprocess.run([str(prefix / "lib" / graph.PACKAGE / "aria-nav"), "launch", "--dry-run", "rviz:=true",
                             "describe:=true"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    installed_config = prefix / "share" / graph.PACKAGE / "config" / "nav.yaml"
    for spec in graph.enabled_nodes(graph.resolve_arguments({"rviz": "true", "describe": "true"})):
        if spec.is_aria_nav:
            assert lines[spec.name].startswith(str(prefix / "lib" / graph.PACKAGE / spec.executable) + " ")
            assert f"--params-file {installed_config} " in lines[spec.name]
    if shutil.which("rviz2") is None:
        assert lines["rviz"] == "not installed here"
