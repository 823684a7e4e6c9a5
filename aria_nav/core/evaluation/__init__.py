"""Evaluations the project owns (no ROS): scripted scenes with ground truth through the real core, printing the
numbers its targets are judged on."""
