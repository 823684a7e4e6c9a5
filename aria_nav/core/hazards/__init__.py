"""Hazards without a class, from metric depth: the walking corridor model (corridor.py), its ground fit
(ground.py), hazards followed over frames (tracker.py) and the evaluation on the scripted hazard scene
(evaluation.py). ROS-free."""
