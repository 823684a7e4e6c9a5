"""`aria-nav bench-describe`: the scene describer's speed and memory on this machine: model load time, time to
first token (what delays the first word the wearer hears, speech synthesis aside), whole sentence time, tokens per
second, and peak GPU memory (CUDA) or process memory. Numbers are printed (and saved as JSON), never asserted.

`--random 256m` measures SmolVLM-256M's architecture with random weights, built here into a temporary folder:
where the real weights cannot be downloaded (the GPU machine), its speed and memory are the real model's (the
prompt and image tokens are the same; only the words, and so how many tokens a sentence takes, differ)."""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from aria_nav import paths


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench-describe", help="time the vision-language describer (load, time to first token, sentence, memory)")
    parser.add_argument("--model", type=Path, default=None,
                        help="transformers model folder (default: the test build, models/smolvlm_test; real ones: "
                             "docs/guidance.md 'Scene description')")
    parser.add_argument("--random", choices=("tiny", "256m"),
                        help="instead of --model: build SmolVLM's architecture at this size with random weights "
                             "into a temporary folder and measure it")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                        help="weights' type (auto: float16 on CUDA, float32 on CPU)")
    parser.add_argument("--image", type=Path, help="image file to describe (default: a synthetic 704x704 frame, "
                                                   "the camera node's RGB size)")
    parser.add_argument("--runs", type=int, default=10, help="measured descriptions (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="descriptions discarded first (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=40, help="as the node's vlm_max_new_tokens")
    parser.add_argument("--language", default="en", choices=("en", "es"), help="prompt language")
    parser.add_argument("--json", type=Path, help="also write the report to this JSON file")
    parser.set_defaults(func=bench_describe)


def _image(path):
    import numpy as np

    if path is None:
        ramp = np.linspace(0, 255, 704, dtype=np.uint8)
        return np.stack([np.tile(ramp, (704, 1)), np.tile(ramp[:, None], (1, 704)), np.full((704, 704), 96,
                                                                                             np.uint8)], axis=-1)
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"aria-nav bench-describe: --image '{path}' is not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def bench_describe(args: argparse.Namespace) -> int:
    from aria_nav.core.describe.build import TEST_VLM_NAME

    if args.random:
        from aria_nav.core.describe.build import SIZES, build_test_vlm

        with tempfile.TemporaryDirectory(prefix="aria_nav_vlm_") as folder:
            start = time.monotonic()
            model = build_test_vlm(Path(folder), SIZES[args.random])
            print(f"built {model.name} with random weights in {time.monotonic() - start:.1f} s")
            return _measure(args, model)
    return _measure(args, args.model or paths.models_dir() / TEST_VLM_NAME)


def _measure(args: argparse.Namespace, model: Path) -> int:
    import psutil
    import torch

    from aria_nav.core.describe.vlm import DescriberError, TransformersDescriber

    image = _image(args.image)
    cuda = args.device.startswith("cuda")
    start = time.monotonic()
    try:
        describer = TransformersDescriber(model, args.device, args.dtype, args.max_new_tokens, args.language)
    except DescriberError as exc:
        print(f"aria-nav bench-describe: {exc}")
        return 2
    load_s = time.monotonic() - start
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rows = []
    for run in range(args.warmup + args.runs):
        text = describer.describe(image, lambda: False)
        if cuda:
            torch.cuda.synchronize()
        timing = describer.last_timing
        if run >= args.warmup:
            rows.append({"first_token_s": timing.first_token_s, "total_s": timing.total_s, "tokens": timing.tokens,
                         "text": text})
    first = [r["first_token_s"] for r in rows if r["first_token_s"] is not None]
    total = [r["total_s"] for r in rows]
    tokens = sum(r["tokens"] for r in rows)
    report = {
        "model": str(model), "test_model": describer.test_model, "device": args.device,
        "dtype": str(describer.model.dtype).removeprefix("torch."), "runs": len(rows),
        "parameters_m": round(sum(p.numel() for p in describer.model.parameters()) / 1e6, 1),
        "load_s": round(load_s, 2), "first_token_median_s": round(statistics.median(first), 4) if first else None,
        "first_token_max_s": round(max(first), 4) if first else None,
        "sentence_median_s": round(statistics.median(total), 4), "tokens_per_s": round(tokens / sum(total), 1),
        "gpu_peak_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "gpu_name": torch.cuda.get_device_name() if cuda else None,
        "process_rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1),
        "host": platform.node(), "cpus": psutil.cpu_count(), "last_text": rows[-1]["text"] if rows else "",
    }
    print(f"describer {Path(model).name} ({report['parameters_m']} M parameters) on {args.device} "
          f"{report['dtype']}{' [' + report['gpu_name'] + ']' if cuda else ''}: load {report['load_s']} s")
    print(f"  time to first token: median {report['first_token_median_s']} s, max {report['first_token_max_s']} s "
          f"({len(rows)} runs after {args.warmup} warm-up)")
    print(f"  whole sentence: median {report['sentence_median_s']} s, {report['tokens_per_s']} tokens/s")
    print(f"  memory: GPU peak {report['gpu_peak_mib']} MiB, process RSS {report['process_rss_mib']} MiB")
    print(f"  last answer: {report['last_text']!r}"
          + (" (test model: random weights, its words mean nothing)" if describer.test_model else ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0
