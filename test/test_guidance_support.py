"""Shared by the fusion and speech tests: a synthetic scene (detections and depth of objects at given bearings and
distances), an isolated DDS domain, node processes started as `ros2 run` would, a params file per node.
(No tests here.)"""
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import yaml

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections

BIN = Path(sys.executable).parent
INTR = PinholeIntrinsics(width=640, height=480, fx=300.0, fy=300.0, cx=319.5, cy=239.5)
NAMES = ["person", "chair", "car", "bottle", "potted plant"]
PERSON, CHAIR, CAR, BOTTLE, PLANT = range(5)
BACKGROUND_M = 12.0


def render(objects):
    """Detections and a depth image for objects given as (class_id, bearing_deg, distance_m)."""
    depth = np.full((INTR.height, INTR.width), BACKGROUND_M, np.float32)
    boxes, classes = [], []
    for class_id, bearing, distance in objects:
        u = INTR.cx + INTR.fx * math.tan(math.radians(bearing))
        half_w, half_h = 40.0, 100.0
        box = [u - half_w, INTR.cy - half_h, u + half_w, INTR.cy + half_h]
        r1, r2 = int(box[1]) + 10, int(box[3]) - 10
        c1, c2 = max(0, int(box[0]) + 10), min(INTR.width, int(box[2]) - 10)
        # A surface `distance` away along the floor in every column (a level camera): z = range x cos(bearing).
        columns = np.arange(c1, c2, dtype=np.float32)
        z = distance * np.cos(np.arctan2(columns - INTR.cx, INTR.fx))
        depth[r1:r2, c1:c2] = np.minimum(depth[r1:r2, c1:c2], z[None, :])
        boxes.append(box)
        classes.append(class_id)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), classes), depth


def write_params(path: Path, node_name: str, params: Dict) -> Path:
    path.write_text(yaml.safe_dump({node_name: {"ros__parameters": params}}))
    return path


def node_argv(executable: str, node_name: str, params_file: Optional[Path]) -> List[str]:
    """The command line of an aria_nav node from this environment, renamed, with its parameters file."""
    argv = [str(BIN / executable), "--ros-args", "-r", f"__node:={node_name}"]
    return argv + ["--params-file", str(params_file)] if params_file is not None else argv


def start_node(executable: str, node_name: str, params_file: Optional[Path], log_path: Path, domain: int,
               extra_args: List[str] = ()) -> subprocess.Popen:
    """The node on ROS domain `domain` (the test's ros_domain or module_ros_domain), its output in `log_path`."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:  # the child keeps its own handle
        return subprocess.Popen(node_argv(executable, node_name, params_file) + list(extra_args), stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def stop_node(process: subprocess.Popen, timeout: float = 10.0, signum: int = signal.SIGINT) -> int:
    """Send `signum` (SIGINT: what Ctrl-C and launch send) and wait; the nodes exit 0 on it. Killed if it does not
    exit in time."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
