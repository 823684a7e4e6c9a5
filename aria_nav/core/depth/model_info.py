"""What a depth model file says about itself (ONNX metadata_props written by build.py, or by whoever exported
it): depth mode, normalisation, metric range. Models without metadata get Depth-Anything-V2's ImageNet
normalisation and must be given their mode by the depth_mode parameter."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from aria_nav.core.depth import build
from aria_nav.core.inference.interface import ModelError


@dataclass(frozen=True)
class DepthModelInfo:
    mode: Optional[str] = None  # relative | metric; None: the file does not say
    max_depth: Optional[float] = None  # metric models: the largest depth the head can output, meters
    mean: Tuple[float, ...] = build.IMAGENET_MEAN
    std: Tuple[float, ...] = build.IMAGENET_STD
    name: Optional[str] = None

    @classmethod
    def from_metadata(cls, metadata: Dict[str, str], source: str) -> "DepthModelInfo":
        mode = metadata.get(build.METADATA_MODE)
        if mode is not None and mode not in ("relative", "metric"):
            raise ModelError(f"model '{source}': metadata {build.METADATA_MODE}='{mode}' is not relative or metric")
        max_depth = _numbers(metadata, build.METADATA_MAX_DEPTH, 1, source, positive=True)
        return cls(mode=mode, max_depth=max_depth[0] if max_depth else None,
                   mean=_numbers(metadata, build.METADATA_MEAN, 3, source, positive=False) or build.IMAGENET_MEAN,
                   std=_numbers(metadata, build.METADATA_STD, 3, source, positive=True) or build.IMAGENET_STD,
                   name=metadata.get(build.METADATA_NAME))


def _numbers(metadata: Dict[str, str], key: str, count: int, source: str,
             positive: bool) -> Optional[Tuple[float, ...]]:
    """The comma-separated numbers under `key`, None when absent; a ModelError when malformed."""
    if key not in metadata:
        return None
    text = metadata[key]
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) and (v > 0 if positive else v >= 0) for v in values):
        raise ModelError(f"model '{source}': metadata {key}='{text}' is not {count} "
                         f"{'positive' if positive else 'non-negative'} number(s) separated by commas")
    return values
