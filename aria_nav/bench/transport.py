"""What moving one image between two processes over DDS costs, per image size and Fast DDS transport profile.

A publisher process sends Image messages stamped with the host clock at a fixed rate; a subscriber process in
another process records, for each message, receive time minus stamp (one hop: conversion, serialisation,
transport, deserialisation, callback), and from rclpy's MessageInfo the hop's three steps: stamp -> the publisher's
DDS write (conversion, serialisation), write -> received by Fast DDS in the subscriber (transport), received -> the
callback (executor wake-up, take out of Fast DDS, deserialisation). Both run the same profile, as the graph's nodes
would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from aria_nav import paths

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
STEPS = ("write", "transport", "take")  # the hop's parts (module doc)


def profiles() -> Dict[str, Path]:
    """Fast DDS configurations compared: the library default and the project's shared-memory profile."""
    return {"default": paths.config_file("fastdds_builtin.xml"), "shm-64MB": paths.config_file("fastdds_shm.xml")}


def _role_env(profile: Path) -> Dict[str, str]:
    return {**os.environ, PROFILE_ENV: str(profile)}


def measure(width: int, height: int, profile: Path, count: int = 100, rate_hz: float = 30.0,
            topic: str = "/aria_nav_bench/transport") -> dict:
    """One publisher and one subscriber process; returns latency percentiles and delivery counts."""
    env = _role_env(profile)
    cmd = [sys.executable, "-m", "aria_nav.bench.transport_roles"]
    sub = subprocess.Popen(cmd + ["sub", topic, str(count)], env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let discovery happen before the first message
    pub = subprocess.run(cmd + ["pub", topic, str(count), str(rate_hz), str(width), str(height)], env=env,
                         stdout=subprocess.PIPE, text=True, timeout=120)
    out, _ = sub.communicate(timeout=60)
    received = json.loads(out)
    latencies = np.array(received["latencies_ms"], float)
    steps = np.array(received["steps_ms"], float).reshape(-1, 3)
    publish_ms = np.array(json.loads(pub.stdout)["publish_ms"], float)
    result = {"width": width, "height": height, "megabytes": width * height * 3 / 1e6, "sent": count,
              "received": int(latencies.size), "publish_call_ms_p50": float(np.median(publish_ms))}
    if latencies.size:
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        result.update(latency_ms_p50=float(p50), latency_ms_p95=float(p95), latency_ms_p99=float(p99))
    if len(steps):
        for name, values in zip(STEPS, steps.T):
            result[f"{name}_ms_p50"] = float(np.median(values))
    return result


def run(sizes: List[tuple], count: int, rate_hz: float) -> List[dict]:
    rows = []
    for name, profile in profiles().items():
        for width, height in sizes:
            row = measure(width, height, profile, count=count, rate_hz=rate_hz)
            row["profile"] = name
            rows.append(row)
    return rows


def format_table(rows: List[dict]) -> str:
    lines = [f"{'profile':<10} {'image':>11} {'MB':>6} {'recv':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
             f"{'publish() ms':>12} {'write/transport/take p50 ms':>27}"]
    for r in rows:
        lines.append(f"{r['profile']:<10} {r['width']:>5}x{r['height']:<5} {r['megabytes']:>6.2f} "
                     f"{r['received']:>4}/{r['sent']:<3} {r.get('latency_ms_p50', float('nan')):>8.2f} "
                     f"{r.get('latency_ms_p95', float('nan')):>8.2f} {r.get('latency_ms_p99', float('nan')):>8.2f} "
                     f"{r['publish_call_ms_p50']:>12.2f} "
                     + "/".join(f"{r.get(f'{s}_ms_p50', float('nan')):.2f}" for s in STEPS).rjust(27))
    return "\n".join(lines)
