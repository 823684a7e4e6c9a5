"""`colcon build` of the package into a temporary workspace, as the README's colcon section does, and the installed
package's models folder: the per-user data folder (or $ARIA_NAV_MODELS), shown by the launch arguments, and a
missing model names the command that creates it. Skipped where colcon is not installed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aria_nav import graph

ROOT = Path(__file__).resolve().parents[1]
COLCON = shutil.which("colcon", path=str(Path(sys.executable).parent)) or shutil.which("colcon")
SOURCES = ("setup.py", "setup.cfg", "package.xml", "resource", "launch", "config", "aria_nav", "aria_nav_msgs")
MSGS = "aria_nav_msgs"


def colcon_env() -> dict:
    """The shell the README's build runs in. On the PyPI path the virtual environment's prefix (the rosidl and ament
    wheels, PyPI's cmake and ninja, tf2_msgs and vision_msgs from set-up) stands in for a distribution's sourced
    setup.bash, as tools/build_interfaces.sh uses it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(filter(None, [env.get("AMENT_PREFIX_PATH"), sys.prefix]))
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The README's colcon section as written: the repository in src/aria_nav, both packages built with its base
    paths (aria_nav_msgs with ament_cmake, aria_nav with ament_python)."""
    if COLCON is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    base = tmp_path_factory.mktemp("ros2_ws")
    package = base / "src" / graph.PACKAGE
    package.mkdir(parents=True)
    for item in SOURCES:
        if (ROOT / item).is_dir():
            shutil.copytree(ROOT / item, package / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / item, package / item)
    result = subprocess.run([COLCON, "build", "--base-paths", f"src/{graph.PACKAGE}", f"src/{graph.PACKAGE}/{MSGS}",
                             "--packages-up-to", graph.PACKAGE], cwd=base, env=colcon_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "install"


def installed_env(install: Path, **extra):
    """What `source install/setup.bash` gives a shell, for the two packages: their site-packages and ament prefixes."""
    sites = [str(next((install / name / "lib").glob("python3*/site-packages"))) for name in (graph.PACKAGE, MSGS)]
    env = {k: v for k, v in os.environ.items() if k not in ("ARIA_NAV_MODELS", "PYTHONPATH")}
    env.update(PYTHONPATH=os.pathsep.join(sites), AMENT_PREFIX_PATH=os.pathsep.join(
        [str(install / graph.PACKAGE), str(install / MSGS), env.get("AMENT_PREFIX_PATH", sys.prefix)]), **extra)
    return env


def run_installed(install: Path, executable: str, *args, **env):
    return subprocess.run([str(install / graph.PACKAGE / "lib" / graph.PACKAGE / executable), *args],
                          env=installed_env(install, **env), capture_output=True, text=True, timeout=120)


def test_colcon_finds_both_packages_with_the_readme_base_paths(tmp_path):
    """The repository root is the aria_nav package, so colcon's crawl does not descend into it: the README names
    aria_nav_msgs' folder as a second base path. The PyPI path's stand-ins for tf2_msgs and vision_msgs
    (tools/interfaces) are never found: a distribution's own packages are used."""
    if COLCON is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    clone = tmp_path / "src" / graph.PACKAGE
    shutil.copytree(ROOT, clone, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "models", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([COLCON, "--log-base", os.devnull, "list", "--names-only", "--base-paths",
                             f"src/{graph.PACKAGE}", f"src/{graph.PACKAGE}/aria_nav_msgs"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.split()) == ["aria_nav", "aria_nav_msgs"]


def test_colcon_installs_what_ros2_tools_expect(workspace):
    prefix = workspace / graph.PACKAGE
    for path in ("share/aria_nav/package.xml", "share/aria_nav/launch/nav.launch.py", "share/aria_nav/config/nav.yaml",
                 "share/ament_index/resource_index/packages/aria_nav"):
        assert (prefix / path).is_file(), path
    for spec in graph.NODES:
        if spec.is_aria_nav:
            assert os.access(prefix / "lib" / graph.PACKAGE / spec.executable, os.X_OK), spec.executable
    # The messages come from the workspace's own build, not from the virtual environment's.
    result = run_installed(workspace, "aria-nav", "--help")  # any installed executable: its interpreter and path
    probe = subprocess.run([sys.executable, "-c", "import aria_nav_msgs.msg as m; print(m.__file__)"],
                           env=installed_env(workspace), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and probe.returncode == 0, result.stderr + probe.stderr
    assert probe.stdout.strip().startswith(str(workspace / MSGS)), probe.stdout
    assert (workspace / MSGS / "share" / MSGS / "msg" / "ObstacleArray.msg").is_file()


def test_installed_package_uses_the_per_user_models_folder(workspace, tmp_path):
    data = tmp_path / "data"
    result = run_installed(workspace, "aria-nav", "launch", "--help", XDG_DATA_HOME=str(data))
    assert result.returncode == 0, result.stderr
    models = data / "aria_nav" / "models"
    assert f"yolo_model (default: {models / 'yolo11n_640.onnx'})" in result.stdout
    assert f"models folder: {models} (per-user data folder; set $ARIA_NAV_MODELS to change)" in result.stdout
    assert str(ROOT) not in result.stdout, "the installed package does not point into the source tree"
    listing = run_installed(workspace, "aria-nav", "models", "list", XDG_DATA_HOME=str(data))
    assert f"no model files in {models} (run: aria-nav models build-test)" in listing.stdout


def test_models_location_follows_aria_nav_models(workspace, tmp_path):
    result = run_installed(workspace, "aria-nav", "launch", "--dry-run", ARIA_NAV_MODELS=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"model:=\"{tmp_path / 'yolo11n_640.onnx'}\"" in result.stdout


def test_a_missing_model_names_the_command_that_creates_it(workspace, tmp_path):
    result = run_installed(workspace, "detector", XDG_DATA_HOME=str(tmp_path))
    assert result.returncode == 2
    model = tmp_path / "aria_nav" / "models" / "yolo11n_640.onnx"
    assert result.stderr.strip() == (
        f"aria_nav detector: parameter 'model': model file '{model}' does not exist: create it with "
        f"`aria-nav models build-test` (test models) or `aria-nav models get NAME` (trained weights; see README "
        f"'Real models')")
