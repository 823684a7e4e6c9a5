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
    """models/ of the checkout, or $ARIA_NAV_MODELS (an installed package has no writable models folder)."""
    return Path(os.environ.get("ARIA_NAV_MODELS", _SOURCE_ROOT / "models"))


def sample_dir() -> Path:
    """The project's own sample recording, shipped inside the Python package."""
    return PACKAGE_DIR / "data" / "sample"


def shared_aria_dir() -> Path:
    """../shared/data/aria beside the checkout: real Aria recordings (absent in a user's clone)."""
    return Path(os.environ.get("ARIA_NAV_SHARED_DATA", _SOURCE_ROOT.parent / "shared" / "data" / "aria"))
