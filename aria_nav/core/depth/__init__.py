"""Depth-Anything-V2 depth (ROS-free): test-model build, pre/post-processing and meters, geometry, benchmark."""
