"""Inference shared by detection and depth: the interface (interface.py), one module per backend (onnx_runtime,
tensorrt, ultralytics), the registry that opens a model with its backend (registry.py), and their plumbing (cuda,
io_binding, engine_cache). Backends import the interface only; nothing here imports the registry back."""
