"""The describe node's parameter table."""
from __future__ import annotations

import re

from aria_nav.core.describe.summary import TABLES
from aria_nav.core.describe.vlm import DTYPES
from aria_nav.ros.params import Param

PARAMS = [
    Param("language", "en", "Language of the description (use the speech node's).", choices=tuple(TABLES)),
    Param("max_distance_m", 8.0, "Obstacles farther than this are not described, metres.", min=0.5, max=100.0),
    Param("max_per_direction", 2, "Most obstacles named ahead, on the left and on the right.", min=1, max=10),
    Param("obstacles_max_age_s", 1.0, "Obstacle sets older than this (since they arrived) are not described; with "
          "none newer, the wearer hears that obstacle detection is not running, seconds.", min=0.1, max=60.0),
    Param("vlm_model", "", "Vision-language model folder (transformers; SmolVLM class); empty: the obstacle summary "
          "only."),
    Param("vlm_device", "cpu", "Where the model runs: cpu, cuda or cuda:N.",
          check=lambda v: None if re.fullmatch(r"cpu|cuda(:\d+)?", v) else f"'{v}' is not cpu, cuda or cuda:N"),
    Param("vlm_dtype", "auto", "Model weights' type (auto: float16 on CUDA, float32 on CPU).", choices=DTYPES),
    Param("vlm_budget_s", 3.0, "Longest wait for the model's sentence; slower, the summary is said alone, seconds.",
          min=0.001, max=60.0),
    Param("vlm_max_new_tokens", 40, "Most tokens the model generates.", min=1, max=200),
    Param("vlm_max_words", 25, "Most words of the model's sentence that are said.", min=1, max=60),
    Param("image_max_age_s", 1.0, "The model describes an RGB image only if it arrived less than this ago, s.",
          min=0.05, max=60.0),
]
