"""The graph run on a recording in lock-step, for regression replay (and the graph sessions the demo and the graph
tests share): session.py (Runner + a watching rclpy node), feed.py (frames published as the camera node would),
outputs.py (the graph's answers, by source stamp), run.py (the lock-step replay itself)."""
