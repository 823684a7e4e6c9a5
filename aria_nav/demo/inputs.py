"""What the demo runs on, checked before any node starts (ROS-free): the input opened with the camera node's own
frame sources (so a bad file is one line naming it), its RGB frame count for the progress bar, whether it is the
project's sample recording (which has ground truth), and which models carry random weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

from aria_nav import paths, topics
from aria_nav.core.sources import open_source
from aria_nav.core.sources.base import RGB, FrameSource

# --perception: truth (the sample's ground truth in place of the detectors and depth), model, or auto (truth on
# the sample, else model); demo.run picks.
PERCEPTION_MODES = ("auto", "truth", "model")


@dataclass(frozen=True)
class DemoInput:
    kind: str
    path: str
    description: str
    rgb_frames: Optional[int]  # None: unknown or endless (webcam, live glasses)
    is_sample: bool


def _rgb_frame_count(source: FrameSource) -> Optional[int]:
    from aria_nav.core.bag import BagReader
    from aria_nav.core.sources.bag import COMPRESSED_SUFFIX, BagSource
    from aria_nav.core.sources.video import VideoFileSource
    from aria_nav.core.sources.vrs import VrsSource

    if isinstance(source, VrsSource):
        return source.frame_counts()[RGB]
    if isinstance(source, BagSource):
        with BagReader(source.path) as reader:
            return sum(reader.topics[t].count for t in (topics.RGB_IMAGE, topics.RGB_IMAGE + COMPRESSED_SUFFIX)
                       if t in reader.topics)
    if isinstance(source, VideoFileSource):
        import cv2

        capture = cv2.VideoCapture(str(source.path))
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        return count if count > 0 else None
    return None


def open_demo_input(kind: str, path: str) -> DemoInput:
    """Raises SourceError naming the file and the problem. Live sources are not opened here (that would take the
    device from the camera node)."""
    if kind in ("webcam", "live"):
        return DemoInput(kind, path, f"{kind} {path or '(default)'}", None, False)
    source = open_source(kind, path, [RGB])
    try:
        frames = _rgb_frame_count(source)
    finally:
        source.close()
    is_sample = kind == "sample" or (kind == "bag" and (not path or Path(path).resolve() == paths.sample_dir()))
    description = "the sample recording (aria_nav/data/sample)" if is_sample else source.description
    return DemoInput(kind, path, description, frames, is_sample)


def random_weight_models(model_paths: Iterable[Path]) -> List[str]:
    """File names of the ONNX models among `model_paths` that the project built itself with random weights
    (aria-nav models build-test marks them in their metadata)."""
    import onnx

    from aria_nav.core.depth.build import METADATA_RECIPE
    from aria_nav.core.detection.build import RECIPE_KEY

    found = []
    for path in model_paths:
        if path.suffix != ".onnx" or not path.is_file():
            continue
        try:
            keys = {p.key for p in onnx.load(str(path), load_external_data=False).metadata_props}
        except Exception:  # noqa: BLE001 - unreadable here; the node reports it when it loads the model
            continue
        if keys & {METADATA_RECIPE, RECIPE_KEY}:
            found.append(path.name)
    return found
