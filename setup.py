"""ament_python package: `colcon build` in a ROS 2 workspace, or `pip install -e .` in the project's venv."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "aria_nav"
NODES = {
    "camera": "aria_nav.nodes.camera:main",
    "detector": "aria_nav.nodes.detector:main",
    "depth": "aria_nav.nodes.depth:main",
    "fusion": "aria_nav.nodes.fusion:main",
    "speech": "aria_nav.nodes.speech:main",
    "describe": "aria_nav.nodes.describe:main",
    "composed": "aria_nav.nodes.composed:main",  # several nodes in one process (aria_nav.graph.COMPOSED)
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["data/sample/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="aria_nav developers",
    maintainer_email="aria-nav@example.org",
    description="Assistive navigation for blind and visually impaired people with Meta Aria glasses (ROS 2).",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in NODES.items()]
        + ["aria-nav = aria_nav.cli:main"],
    },
)
