"""YOLO detection (ROS-free): letterbox, post-processing, class names, backends, the detector, test models."""
