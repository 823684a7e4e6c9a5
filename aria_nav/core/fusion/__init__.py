"""Obstacle fusion without ROS: pairing detections with depth by stamp, distance inside a box, geometry (bearing,
direction, clock position), tracking across frames, walking/standing from the IMU, and the guidance policy that
decides what is worth saying. FusionSession (session.py) holds them all, one call per input; the fusion node
wires it to topics; unit tests drive them directly."""
