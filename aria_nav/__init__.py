"""aria_nav: a ROS 2 node graph that warns blind and visually impaired walkers of obstacles (Meta Aria glasses)."""
import os

from aria_nav import paths as _paths

# Set before any rclpy import, so every node and tool of the package talks over the same middleware and transport;
# a user's own settings win.
# The ROS 2 wheels ship Fast DDS only; a ROS installation may default to another middleware.
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Fast DDS's default shared-memory segment is smaller than a camera frame: best-effort images between processes
# were then not delivered at all (aria-nav bench transport). The shipped profile enlarges it.
if _paths.config_file("fastdds_shm.xml").exists():
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(_paths.config_file("fastdds_shm.xml")))
