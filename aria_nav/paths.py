"""Where the project's files are, from a source checkout or an installed package (colcon or pip)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "aria_nav"
PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_DIR.parent


def share_dir() -> Path:
    """share/aria_nav of an installed package, or the source checkout (which has the same launch/ and config/)."""
    if (_SOURCE_ROOT / "package.xml").exists():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - ament index absent or package not registered
        import sys

        return Path(sys.prefix) / "share" / PACKAGE


def config_file(name: str = "nav.yaml") -> Path:
    return share_dir() / "config" / name


def models_dir() -> Path:
    """The one models folder of the nodes, the launchers and `aria-nav models`: $ARIA_NAV_MODELS if set, else
    models/ of a source checkout, else (pip or colcon install) the per-user data folder
    $XDG_DATA_HOME/aria_nav/models (default ~/.local/share/aria_nav/models)."""
    if os.environ.get("ARIA_NAV_MODELS"):
        return Path(os.environ["ARIA_NAV_MODELS"]).expanduser()
    if (_SOURCE_ROOT / "package.xml").exists():
        return _SOURCE_ROOT / "models"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / PACKAGE / "models"


def models_dir_origin() -> str:
    """models_dir() and why it is that folder, for --show-args and error messages."""
    if os.environ.get("ARIA_NAV_MODELS"):
        return f"{models_dir()} ($ARIA_NAV_MODELS)"
    if (_SOURCE_ROOT / "package.xml").exists():
        return f"{models_dir()} (the source checkout's; set $ARIA_NAV_MODELS to change)"
    return f"{models_dir()} (per-user data folder; set $ARIA_NAV_MODELS to change)"


MISSING_MODEL_HINT = "create it with `aria-nav models build-test` (test models) or `aria-nav models get NAME` " \
                     "(trained weights; see README 'Real models')"


def sample_dir() -> Path:
    """The project's own sample recording, shipped inside the Python package."""
    return PACKAGE_DIR / "data" / "sample"


def shared_aria_dir() -> Path:
    """../shared/data/aria beside the checkout: real Aria recordings (absent in a user's clone)."""
    return Path(os.environ.get("ARIA_NAV_SHARED_DATA", _SOURCE_ROOT.parent / "shared" / "data" / "aria"))
