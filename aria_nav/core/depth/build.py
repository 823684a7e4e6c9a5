"""Build Depth-Anything-V2-Small test models offline: the real architecture (transformers), random weights.

No weights can be downloaded here, so the test model has the exact layer structure of Depth-Anything-V2-Small
with weights drawn from a fixed seed. It exercises the real pre-processing, inference and post-processing code,
not depth perception. The ONNX file has a fixed input shape (1x3xSxS) and carries what the depth node needs in
its metadata (METADATA_* keys below), so nothing has to be configured by hand for it.

The same seed and configuration always give the same weights, so tests rebuild the PyTorch model with
`build_torch_model` and compare it with the exported file. `export_depth_onnx` exports trained checkpoints the
same way (docs/depth.md, "Real models").
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Optional

from aria_nav.core.onnx_export import OPSET, export_onnx

PATCH_SIZE = 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SEED = 0
DEFAULT_METRIC_MAX_DEPTH = 20  # meters, Depth-Anything-V2 metric indoor models (outdoor: 80); an int in transformers
RECIPE_VERSION = 1  # bump when the export itself changes, so existing test models are rebuilt
INPUT_NAME = "pixel_values"
OUTPUT_NAME = "predicted_depth"

# ONNX metadata_props keys read by aria_nav.core.depth.model.
METADATA_MODE = "depth_mode"  # relative | metric
METADATA_MAX_DEPTH = "max_depth"  # metric models: largest depth the head can output, meters
METADATA_MEAN = "mean"  # comma-separated RGB means of the [0, 1] image
METADATA_STD = "std"
METADATA_INPUT_SIZE = "input_size"  # HxW
METADATA_NAME = "model_name"
METADATA_RECIPE = "aria_nav_recipe"  # hash of everything that determines the file: rebuild when it changes


def depth_model_config(mode: str = "relative", max_depth: int = DEFAULT_METRIC_MAX_DEPTH) -> Dict:
    """Keyword arguments of transformers.DepthAnythingConfig for Depth-Anything-V2-Small."""
    if mode not in ("relative", "metric"):
        raise ValueError(f"depth mode '{mode}' is not relative or metric")
    return {
        "backbone_config": {
            "model_type": "dinov2", "image_size": 518, "patch_size": PATCH_SIZE, "hidden_size": 384,
            "num_hidden_layers": 12, "num_attention_heads": 6, "mlp_ratio": 4, "layerscale_value": 1.0,
            "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False,
        },
        "patch_size": PATCH_SIZE,
        "reassemble_hidden_size": 384,
        "reassemble_factors": [4, 2, 1, 0.5],
        "neck_hidden_sizes": [48, 96, 192, 384],
        "fusion_hidden_size": 64,
        "head_hidden_size": 32,
        "depth_estimation_type": mode,
        # The relative head ignores max_depth; transformers' default (1) keeps its output unscaled.
        "max_depth": max_depth if mode == "metric" else 1,
    }


def build_torch_model(mode: str = "relative", max_depth: int = DEFAULT_METRIC_MAX_DEPTH,
                      seed: int = DEFAULT_SEED):
    """The random-weight Depth-Anything-V2-Small PyTorch model (eval mode), identical for identical arguments."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    kwargs = depth_model_config(mode, max_depth)
    backbone = dict(kwargs.pop("backbone_config"))
    backbone.pop("model_type")
    config = DepthAnythingConfig(backbone_config=Dinov2Config(**backbone), **kwargs)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config)
    return model.eval()


def depth_model_filename(size: int = 518, mode: str = "relative") -> str:
    return f"depth_anything_v2_small_{'metric_' if mode == 'metric' else ''}{size}.onnx"


def _recipe(size: int, mode: str, max_depth: int, seed: int) -> str:
    import torch
    import transformers

    description = {"config": depth_model_config(mode, max_depth), "size": size, "seed": seed, "opset": OPSET,
                   "version": RECIPE_VERSION,
                   "torch": torch.__version__, "transformers": transformers.__version__}
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _existing_recipe(path: Path) -> Optional[str]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - unreadable or truncated file: rebuild it
        return None
    return {p.key: p.value for p in model.metadata_props}.get(METADATA_RECIPE)


def _check_size(size: int) -> None:
    if size <= 0 or size % PATCH_SIZE:
        raise ValueError(f"input size {size} is not a positive multiple of the patch size {PATCH_SIZE}")


def export_depth_onnx(model, path: Path, size: int = 518, name: str = "",
                      extra_metadata: Optional[Dict[str, str]] = None) -> Path:
    """Export a transformers DepthAnythingForDepthEstimation `model` (random or trained weights) to `path` as ONNX
    with a fixed 1x3x<size>x<size> input and the metadata the depth node reads (mode, max depth, normalisation,
    input size, name). The file appears only when complete (written beside it, then renamed)."""
    _check_size(size)
    import torch

    class PredictedDepth(torch.nn.Module):
        """Returns only the depth tensor (1, H, W), the one output the depth node reads."""

        def __init__(self, wrapped):
            super().__init__()
            self.wrapped = wrapped

        def forward(self, pixel_values):
            return self.wrapped(pixel_values=pixel_values, return_dict=False)[0]

    config = model.config
    mode = config.depth_estimation_type
    metadata = {
        METADATA_MODE: mode,
        METADATA_MEAN: ",".join(str(v) for v in IMAGENET_MEAN),
        METADATA_STD: ",".join(str(v) for v in IMAGENET_STD),
        METADATA_INPUT_SIZE: f"{size}x{size}",
        METADATA_NAME: name or getattr(config, "name_or_path", "") or f"Depth-Anything {mode}",
    }
    if mode == "metric":
        metadata[METADATA_MAX_DEPTH] = str(float(config.max_depth))
    metadata.update(extra_metadata or {})
    # The input has the weights' precision: a half model exports an fp16 model (input and output float16).
    return export_onnx(PredictedDepth(model.eval()), path, size, next(model.parameters()).dtype, INPUT_NAME,
                       OUTPUT_NAME, metadata)


def build_test_depth(models_dir: Path, size: int = 518, mode: str = "relative",
                     max_depth: int = DEFAULT_METRIC_MAX_DEPTH, seed: int = DEFAULT_SEED) -> Path:
    """Export the random-weight model as `models_dir/depth_anything_v2_small[_metric]_<size>.onnx` with a fixed
    1x3x<size>x<size> input; skipped when a file built from the same recipe is already there."""
    _check_size(size)
    path = Path(models_dir) / depth_model_filename(size, mode)
    recipe = _recipe(size, mode, max_depth, seed)
    if path.exists() and _existing_recipe(path) == recipe:
        return path
    return export_depth_onnx(build_torch_model(mode, max_depth, seed), path, size,
                             name=f"Depth-Anything-V2-Small {mode} (random weights, seed {seed}: for tests only)",
                             extra_metadata={METADATA_RECIPE: recipe})


def fp16_depth_filename(size: int = 518, mode: str = "relative") -> str:
    return depth_model_filename(size, mode).replace(".onnx", "_fp16.onnx")


def build_fp16_depth(models_dir: Path, size: int = 518, mode: str = "relative",
                     max_depth: int = DEFAULT_METRIC_MAX_DEPTH, seed: int = DEFAULT_SEED) -> Path:
    """The test model of build_test_depth() in half precision, exported from torch (input and output float16):
    `models_dir/depth_anything_v2_small[_metric]_<size>_fp16.onnx`; skipped when up to date. (Converting the fp32
    ONNX file afterwards, as onnxconverter-common does, breaks this model: it mixes float and float16 inputs of a
    Conv.)"""
    _check_size(size)
    path = Path(models_dir) / fp16_depth_filename(size, mode)
    recipe = _recipe(size, mode, max_depth, seed) + "-fp16-fused"
    if path.exists() and _existing_recipe(path) == recipe:
        return path
    model = build_torch_model(mode, max_depth, seed).half()
    partial = path.with_name(path.stem + ".unfused.onnx")
    export_depth_onnx(model, partial, size,
                      name=f"Depth-Anything-V2-Small {mode} fp16 (random weights, seed {seed}: for tests only)",
                      extra_metadata={METADATA_RECIPE: recipe})
    backbone = model.config.backbone_config
    return fuse_transformer_ops(partial, path, backbone.num_attention_heads, backbone.hidden_size)


def fuse_transformer_ops(source: Path, path: Path, num_heads: int, hidden_size: int) -> Path:
    """`source` with ONNX Runtime's transformer fusions (its LayerNorms, GELUs and bias additions as single
    kernels; the attention of this export is not fused) as `path`, metadata kept; `source` is removed. Measured
    on an H200 (fp16, CUDA graph): Depth-Anything-V2-Small 518 2.60 -> 2.47 ms, 2.28 with NHWC convolutions. The
    file appears only when complete (written beside it, then renamed)."""
    from onnxruntime.transformers import optimizer

    try:
        model = optimizer.optimize_model(str(source), model_type="vit", num_heads=num_heads, hidden_size=hidden_size,
                                         opt_level=0)
        partial = path.with_name(path.name + ".partial")
        model.save_model_to_file(str(partial))
        partial.replace(path)
    finally:  # the unfused export is an intermediate: never left beside the models, also when fusing fails
        source.unlink(missing_ok=True)
    return path
