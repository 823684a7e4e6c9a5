"""Obstacle fusion without ROS: pairing detections with depth by stamp, distance inside a box, geometry (bearing,
direction, clock position), tracking across frames, walking/standing from the IMU, and the guidance policy that
decides what is worth saying. The fusion node wires these to topics; unit tests drive them directly."""
