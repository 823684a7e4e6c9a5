"""aria_nav: a ROS 2 node graph that warns blind and visually impaired walkers of obstacles (Meta Aria glasses)."""
import os

# The ROS 2 wheels (machines without a ROS distro) ship Fast DDS only; a ROS install may default to another
# middleware. Set before any rclpy import so every node and tool of the package talks over the same one.
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
