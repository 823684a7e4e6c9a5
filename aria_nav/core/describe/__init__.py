"""Scene description without ROS: the obstacle summary ("Ahead, a person at two meters. Clear on your right."), an
optional vision-language model with a time budget, and the test model's build. docs/guidance.md "Scene
description"."""
