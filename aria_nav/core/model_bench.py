"""What the detection and depth model benchmarks share: which backends to try for a model file, p50/p95 per
stage, and the printed table (one row per model and backend, printed as it comes)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np

STAGES = ("preprocess", "inference", "postprocess", "total")
BACKENDS_BY_EXTENSION = {".onnx": ("onnxruntime", "tensorrt"), ".pt": ("ultralytics",),
                         ".engine": ("tensorrt",), ".plan": ("tensorrt",)}


def backends_for(model: str) -> Sequence[str]:
    return BACKENDS_BY_EXTENSION.get(Path(model).suffix.lower(), ("auto",))


def add_stage_percentiles(row: Dict, times_ms: Sequence[Sequence[float]]) -> None:
    """row['<stage>_ms_p50'] and '_p95' from one (preprocess, inference, postprocess, total) tuple per frame."""
    table = np.asarray(times_ms, np.float64).reshape(-1, len(STAGES))
    for column, stage in enumerate(STAGES):
        p50, p95 = np.percentile(table[:, column], [50, 95])
        row[f"{stage}_ms_p50"], row[f"{stage}_ms_p95"] = float(p50), float(p95)


@dataclass(frozen=True)
class StageTable:
    """The printed table; the last numeric column is the benchmark's own (mean detections, valid depth)."""

    model_width: int
    decimals: int  # of the times in ms
    last_title: str
    last_key: str
    last_format: str

    def header(self) -> str:
        return (f"{'model':<{self.model_width}} {'backend':<12} {'input':>7} {'pre p50/p95':>13} "
                f"{'infer p50/p95':>17} {'post p50/p95':>13} {'total p50':>9} {'fps':>6} {self.last_title:>5}  "
                f"provider")

    def format(self, row: Dict) -> str:
        lead = f"{row['model']:<{self.model_width}} {row['backend']:<12}"
        if "skipped" in row:
            return f"{lead} skipped: {row['skipped']}"
        times = " ".join(f"{row[f'{stage}_ms_p50']:>{width}.{self.decimals}f}/"
                         f"{row[f'{stage}_ms_p95']:<{width}.{self.decimals}f}"
                         for stage, width in (("preprocess", 6), ("inference", 8), ("postprocess", 6)))
        return (f"{lead} {row['input']:>7} {times} {row['total_ms_p50']:>9.{self.decimals}f} {row['fps']:>6.1f} "
                f"{row[self.last_key]:>5{self.last_format}}  {row['provider']}")

    def run(self, models: Sequence[str], bench_one: Callable[[str, str], Dict]) -> List[Dict]:
        """bench_one(model, backend) for every model and each backend to try for it, printed as they come."""
        print(self.header(), flush=True)
        rows = []
        for model in models:
            for backend in backends_for(model):
                rows.append(bench_one(model, backend))
                print(self.format(rows[-1]), flush=True)
        return rows
