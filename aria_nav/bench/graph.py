"""The whole graph, as deployed (nodes as separate processes over DDS), measured from the source image stamps.

The camera replays a recording at a fixed input rate for a fixed time. A collector node in this process records,
for every output message, its arrival time minus the stamp of the camera frame it came from (each stage carries the
source header unchanged), and which source frames each stage answered. Per-node CPU and memory come from the
processes themselves (psutil), GPU memory from nvidia-smi where there is one. The floor is the same models and
backends in a bare inference loop in this process; graph overhead = end-to-end minus floor. Where the overhead goes:
each node reports on /diagnostics, from the same source stamp, when a frame was sent upstream, arrived in its
process, was taken by its executor, started, and when its results were published (hop_* keys, HOP_MILESTONES); the
report keeps the last values and prints them per node.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from aria_nav import paths, topics
from aria_nav.core.sample.script import FRAME_RATE_HZ as SAMPLE_FRAME_RATE_HZ
from aria_nav.core.stage_stats import HOP_PREFIX

# Output stages and the input stream each one answers.
STAGES = {
    "detections": (topics.DETECTIONS, "rgb"),
    "depth": (topics.DEPTH_IMAGE, "rgb"),
    "obstacles": (topics.OBSTACLES, "rgb"),
    "speech_request": (topics.SPEECH_REQUEST, "rgb"),
    "slam_left_detections": (topics.SLAM_LEFT_DETECTIONS, "slam_left"),
    "slam_right_detections": (topics.SLAM_RIGHT_DETECTIONS, "slam_right"),
}
# CameraInfo is published with every frame under the same header: the small message that tells which source frames
# exist, without subscribing to the images themselves.
INPUTS = {"rgb": topics.RGB_INFO, "slam_left": topics.SLAM_LEFT_INFO, "slam_right": topics.SLAM_RIGHT_INFO}
# Stages fed by every RGB frame (speech requests are sparse by design; SLAM detection skips frames by design).
EVERY_FRAME_STAGES = ("detections", "depth", "obstacles")
DEFAULT_RGB_SIZE = 704  # the camera node's default published RGB size
# /diagnostics keys every node's entry in the report keeps, besides the hop_* milestones.
NODE_KEYS = ("rate_hz", "dropped", "processed", "errors", "backend", "provider", "gpu_resident", "latency_ms_p50",
             "latency_ms_p95", "preprocess_ms_p50", "inference_ms_p50", "postprocess_ms_p50")


@dataclass
class BenchConfig:
    rate_hz: float = 30.0
    duration_s: float = 20.0
    warmup_s: float = 8.0  # after the first RGB output: model warm-up, discovery, first CUDA kernels
    device: str = "cpu"
    arguments: Dict[str, str] = field(default_factory=dict)  # extra launch arguments (models, source, slam, ...)
    rgb_size: int = 0  # camera's published RGB size (0: the camera node's default)
    node_parameters: Dict[str, Dict[str, object]] = field(default_factory=dict)  # {node: {param: value}}


def _percentiles(values: Sequence[float]) -> Dict[str, float]:
    if not len(values):
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values, float), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def _spread(values: Sequence[float]) -> Dict[str, float]:
    """Percentiles plus the spread of a floor: min, p5, max, standard deviation and the number of frames."""
    array = np.asarray(values, float)
    return {**_percentiles(array), "min": float(array.min()), "p5": float(np.percentile(array, 5)),
            "max": float(array.max()), "std": float(array.std()), "frames": int(array.size)}


class Collector:
    """Subscribes to every stage's output and the cameras' CameraInfo; records arrival - source stamp."""

    def __init__(self, node):
        from aria_nav_msgs.msg import ObstacleArray
        from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        from aria_nav.ros.qos import reliable_qos, result_qos, sensor_qos

        self._node = node
        self._lock = threading.Lock()
        self.recording = False
        self.inputs: Dict[str, set] = defaultdict(set)
        self.latency_ms: Dict[str, List[float]] = defaultdict(list)
        self.answered: Dict[str, set] = defaultdict(set)
        self.diagnostics: Dict[str, Dict[str, str]] = {}
        self.first_output = threading.Event()
        types = {topics.DEPTH_IMAGE: Image, topics.SPEECH_REQUEST: SpeechRequestMsg, topics.OBSTACLES: ObstacleArray}
        for stage, (topic, _stream) in STAGES.items():
            msg_type = types.get(topic, Detection2DArray)
            qos = reliable_qos(50) if msg_type is SpeechRequestMsg else result_qos()
            node.create_subscription(msg_type, topic, self._on_output(stage), qos)
        for stream, topic in INPUTS.items():
            node.create_subscription(CameraInfo, topic, self._on_input(stream), sensor_qos(depth=10))
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))

    def _now_ns(self) -> int:
        return self._node.get_clock().now().nanoseconds

    def _on_input(self, stream: str):
        def callback(msg) -> None:
            if self.recording:
                with self._lock:
                    self.inputs[stream].add(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        return callback

    def _on_output(self, stage: str):
        def callback(msg) -> None:
            now = self._now_ns()
            if hasattr(msg, "header"):
                if stage == "obstacles" and msg.header.frame_id != topics.RGB_FRAME:
                    return  # fusion also publishes one obstacle set per SLAM-camera frame
                stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            else:  # speech request: the source image stamp is its `stamp`
                stamp = msg.stamp.sec * 10**9 + msg.stamp.nanosec
            self.first_output.set()
            if self.recording:
                with self._lock:
                    self.latency_ms[stage].append((now - stamp) / 1e6)
                    self.answered[stage].add(stamp)
        return callback

    def _on_diagnostics(self, msg) -> None:
        with self._lock:
            for status in msg.status:
                self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}


def _gpu_memory_by_pid() -> Dict[int, float]:
    """MiB of GPU memory per process id, from nvidia-smi; empty without a GPU."""
    if shutil.which("nvidia-smi") is None:
        return {}
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, timeout=10).stdout
    usage = {}
    for line in out.strip().splitlines():
        pid, mib = (part.strip() for part in line.split(","))
        usage[int(pid)] = float(mib)
    return usage


class ProcessSampler:
    """CPU % and resident memory of each node process, sampled once a second while measuring."""

    def __init__(self, pids: Dict[str, int]):
        import psutil

        self._processes = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        for process in self._processes.values():
            process.cpu_percent(None)
        self.rss_mib: Dict[str, List[float]] = defaultdict(list)
        self.gpu_mib: Dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for name, process in self._processes.items():
                try:
                    self.rss_mib[name].append(process.memory_info().rss / 2**20)
                except Exception:  # noqa: BLE001 - a node that exited is reported by the runner
                    continue
        gpu = _gpu_memory_by_pid()
        self.gpu_mib = {name: gpu[p.pid] for name, p in self._processes.items() if p.pid in gpu}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Dict[str, Dict[str, float]]:
        cpu = {}
        for name, process in self._processes.items():
            try:
                cpu[name] = process.cpu_percent(None)
            except Exception:  # noqa: BLE001
                cpu[name] = float("nan")
        self._stop.set()
        self._thread.join()
        return {name: {"cpu_percent": cpu.get(name, float("nan")),
                       "rss_mib_max": max(self.rss_mib[name]) if self.rss_mib[name] else float("nan"),
                       "gpu_mib": self.gpu_mib.get(name, 0.0)} for name in self._processes}


def run_graph(config: BenchConfig, log=print) -> dict:
    """Start the graph, measure it for config.duration_s after warm-up, stop it; returns the report."""
    from aria_nav.ros.camera_params import IMU_RATE
    from aria_nav.ros.spinning import BackgroundNode
    from aria_nav.runner import Runner

    wav_dir = tempfile.mkdtemp(prefix="aria_nav_bench_")
    arguments = {"device": config.device, "rviz": "false", **config.arguments}
    overrides = {"camera": {"pacing": "fixed", "rate_hz": float(config.rate_hz), "loop": True},
                 "speech": {"output": "wav", "wav_dir": wav_dir}}
    if arguments.get("source", "sample") == "sample":
        # The sample was recorded at 10 Hz: played at rate_hz, its device time runs rate_hz / 10 times faster. The
        # IMU rate is one of device time: scaled so that fusion gets the camera's default per second, as from glasses.
        overrides["camera"]["imu_rate_hz"] = min(IMU_RATE.max, IMU_RATE.default * SAMPLE_FRAME_RATE_HZ / config.rate_hz)
    if config.rgb_size:
        overrides["camera"].update(rgb_width=config.rgb_size, rgb_height=config.rgb_size)
    for node_name, parameters in config.node_parameters.items():
        overrides.setdefault(node_name, {}).update(parameters)
    lines: List[str] = []
    runner = Runner(arguments, overrides=overrides,
                    output=lambda source, line: lines.append(f"[{source}] {line}"))
    bench = BackgroundNode("aria_nav_bench")
    collector = Collector(bench.node)
    try:
        runner.start()
        if not collector.first_output.wait(180):
            raise RuntimeError("no output from the graph within 180 s; node output:\n" + "\n".join(lines[-40:]))
        time.sleep(config.warmup_s)
        states = runner.states()
        failed = [name for name, state in states.items() if state.returncode not in (None, 0)]
        if failed:
            raise RuntimeError(f"node(s) {', '.join(failed)} failed; node output:\n" + "\n".join(lines[-40:]))
        pids = {name: state.pid for name, state in states.items()}
        sampler = ProcessSampler(pids)
        sampler.start()
        collector.recording = True
        time.sleep(config.duration_s)
        collector.recording = False
        time.sleep(1.0)  # let the outputs of the last recorded inputs arrive
        processes = sampler.stop()
        diagnostics = dict(collector.diagnostics)
    finally:
        runner.stop()
        bench.close()
        shutil.rmtree(wav_dir, ignore_errors=True)
    return _report(config, collector, processes, diagnostics)


def _report(config: BenchConfig, collector: Collector, processes: dict, diagnostics: dict) -> dict:
    stages = {}
    for stage, (_topic, stream) in STAGES.items():
        inputs = collector.inputs[stream]
        answered = collector.answered[stage] & inputs
        stages[stage] = {"latency_ms": _percentiles(collector.latency_ms[stage]),
                         "outputs": len(collector.latency_ms[stage]), "inputs": len(inputs),
                         "answered_inputs": len(answered),
                         "dropped_percent": 100.0 * (1 - len(answered) / len(inputs)) if inputs else float("nan"),
                         "throughput_hz": len(collector.latency_ms[stage]) / config.duration_s}
    nodes = {}
    for name, status in diagnostics.items():
        short = name.split("/", 1)[-1]
        nodes[short] = {key: value for key, value in status.items()
                        if key in NODE_KEYS or key.startswith(HOP_PREFIX)}
    return {"config": {"rate_hz": config.rate_hz, "duration_s": config.duration_s, "device": config.device,
                       "arguments": config.arguments, "rgb_size": config.rgb_size,
                       "node_parameters": config.node_parameters},
            "stages": stages, "nodes": nodes, "processes": processes}


FLOOR_FRAMES = 500


def _floor_inference(config: BenchConfig, node: str, model: str):
    """The InferenceConfig `node` runs with in the graph: its model, device and GPU-path parameters."""
    from aria_nav.core.inference.interface import InferenceConfig

    parameters = config.node_parameters.get(node, {})
    providers = ["cuda", "cpu"] if config.device.startswith("cuda") else ["cpu"]
    return InferenceConfig(str(parameters.get("model", model)), device=config.device, providers=providers,
                           gpu_resident=bool(parameters.get("gpu_resident", True)),
                           cuda_graph=bool(parameters.get("cuda_graph", True)))


def measure_floor(config: BenchConfig, frames: int = FLOOR_FRAMES, log=print) -> dict:
    """The detector and depth models alone, in a bare loop on this machine, fed frames of the published size, with
    the backends and parameters the graph's nodes use; percentiles and spread over `frames` frames."""
    from aria_nav import graph
    from aria_nav.core.depth.processing import open_depth_estimator
    from aria_nav.core.detection.backends import open_detection_runner
    from aria_nav.core.detection.detector import YoloDetector
    from aria_nav.core.sources.base import Frame, resize_frame
    from aria_nav.core.sources.bag import BagSource

    values = graph.resolve_arguments({"device": config.device, **config.arguments})
    size = config.rgb_size or DEFAULT_RGB_SIZE
    source = BagSource(paths.sample_dir(), streams=("rgb",))
    frames_rgb = [item for item in source.items() if isinstance(item, Frame)][:10]
    source.close()
    images = [resize_frame(frame, size, size).image for frame in frames_rgb]
    detector = YoloDetector(open_detection_runner(_floor_inference(config, "detector", values["yolo_model"])))
    depth = open_depth_estimator(_floor_inference(config, "depth", values["depth_model"]))
    depth_parameters = config.node_parameters.get("depth", {})
    depth_hw = (int(depth_parameters["output_height"]), int(depth_parameters["output_width"])) \
        if depth_parameters.get("output_width") else None
    pool = int(depth_parameters.get("min_pool", 1))
    backends = {"detections": detector.describe(), "depth": depth.runner.describe()}
    times: Dict[str, List[float]] = defaultdict(list)
    for i in range(frames + 10):
        image = images[i % len(images)]
        start = time.perf_counter()
        detector.detect(image)
        detected = time.perf_counter()
        depth.estimate(image, depth_hw, pool)
        done = time.perf_counter()
        if i >= 10:
            times["detections"].append((detected - start) * 1e3)
            times["depth"].append((done - detected) * 1e3)
    depth.close()
    detector.runner.close()
    floor = {stage: _spread(values_ms) for stage, values_ms in times.items()}
    # Detection and depth run concurrently in the graph: the obstacle floor is the slower of the two per frame.
    floor["obstacles"] = _spread(np.maximum(times["detections"], times["depth"]))
    floor["backends"] = backends
    return floor


def format_floor(floor: dict) -> str:
    lines = [f"{'floor (bare loop)':<14} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'min':>6} {'p5':>6} {'max':>6} "
             f"{'std':>5} {'frames':>6}"]
    for stage in ("detections", "depth", "obstacles"):
        f = floor[stage]
        lines.append(f"{stage:<14} {f['p50']:>7.2f} {f['p95']:>7.2f} {f['p99']:>7.2f} {f['min']:>6.2f} {f['p5']:>6.2f} "
                     f"{f['max']:>6.2f} {f['std']:>5.2f} {f['frames']:>6}")
    lines += [f"  {stage}: {text}" for stage, text in floor["backends"].items()]
    return "\n".join(lines)


def format_report(report: dict, floor: Optional[dict] = None) -> str:
    cfg = report["config"]
    lines = [f"graph at {cfg['rate_hz']:g} Hz input for {cfg['duration_s']:g} s, device {cfg['device']}, "
             f"published RGB size {cfg['rgb_size'] or 'default'}"
             + (f", composed:={cfg['arguments']['composed']}" if "composed" in cfg.get("arguments", {}) else "")
             + "".join(f", {node}.{k}={v}" for node, params in cfg.get("node_parameters", {}).items()
                       for k, v in params.items()),
             f"{'stage (from camera stamp)':<26} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'out/s':>7} "
             f"{'dropped':>8} {'floor p50':>9} {'overhead p50':>12}"]
    for stage, row in report["stages"].items():
        lat = row["latency_ms"]
        floor_p50 = floor[stage]["p50"] if floor and stage in floor else float("nan")
        lines.append(f"{stage:<26} {lat['p50']:>8.1f} {lat['p95']:>8.1f} {lat['p99']:>8.1f} "
                     f"{row['throughput_hz']:>7.1f} {row['dropped_percent']:>7.1f}% {floor_p50:>9.1f} "
                     f"{lat['p50'] - floor_p50:>12.1f}")
    lines.append(f"{'process':<22} {'CPU %':>7} {'RSS MiB':>8} {'GPU MiB':>8}  diagnostics")
    for name, proc in report["processes"].items():
        lines.append(f"{name:<22} {proc['cpu_percent']:>7.0f} {proc['rss_mib_max']:>8.0f} {proc['gpu_mib']:>8.0f}"
                     f"  {_diagnostics_text(report['nodes'].get(name, {}))}")
    # The members of a composed process (aria_nav.graph.COMPOSED) report under their own node names.
    for name in sorted(set(report["nodes"]) - set(report["processes"])):
        lines.append(f"  {name:<20} {'':>7} {'':>8} {'':>8}  {_diagnostics_text(report['nodes'][name])}")
    return "\n".join(lines + hop_lines(report))


def node_hops(diag: dict) -> List[tuple]:
    """[(milestone, p50 ms, p95 ms)] of one node's diagnostics, in the order the node reports them."""
    hops = []
    for key, value in diag.items():
        if key.startswith(HOP_PREFIX) and key.endswith("_ms_p50"):
            milestone = key[len(HOP_PREFIX):-len("_ms_p50")]
            hops.append((milestone, float(value), float(diag.get(f"{HOP_PREFIX}{milestone}_ms_p95", "nan"))))
    return hops


def hop_lines(report: dict) -> List[str]:
    """Where the time goes, per node: each milestone's p50 (p95) ms from the camera stamp, and in brackets the
    step from the milestone before it of the same input (a prefix such as depth_ names one of fusion's inputs; an
    unprefixed milestone after prefixed ones counts from the latest of them: fusion's pairing and processing)."""
    lines = []
    for name, diag in report["nodes"].items():
        hops = node_hops(diag)
        if not hops:
            continue
        parts, last = [], {}
        for milestone, p50, p95 in hops:
            stream = milestone.rpartition("_")[0]
            before = last.get(stream, max(last.values()) if last and not stream else None)
            step = f" [+{p50 - before:.1f}]" if before is not None else ""
            last[stream] = p50
            parts.append(f"{milestone} {p50:.1f} ({p95:.1f}){step}")
        inference = [f"{k.split('_')[0]} {diag[k]}" for k in ("preprocess_ms_p50", "inference_ms_p50",
                                                              "postprocess_ms_p50") if k in diag]
        lines.append(f"  {name}: " + ", ".join(parts) + (f"; model stages p50 ms: {', '.join(inference)}"
                                                          if inference else ""))
    if lines:
        lines.insert(0, "where the time goes, p50 (p95) ms from the camera stamp, [+ms since the milestone before]:")
    return lines


def _diagnostics_text(diag: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in diag.items()
                     if k in ("rate_hz", "dropped", "backend", "provider", "gpu_resident"))


def sweep(config: BenchConfig, rates: Sequence[float], max_drop_percent: float = 1.0, log=print) -> dict:
    """The highest input rate at which every RGB-path stage answers all but max_drop_percent of the frames."""
    results = []
    best = None
    for rate in rates:
        report = run_graph(BenchConfig(**{**config.__dict__, "rate_hz": rate}), log=log)
        worst = max(report["stages"][s]["dropped_percent"] for s in EVERY_FRAME_STAGES)
        results.append({"rate_hz": rate, "worst_drop_percent": worst,
                        "obstacles_p95_ms": report["stages"]["obstacles"]["latency_ms"]["p95"]})
        log(f"sweep: {rate:g} Hz -> worst RGB-path drop {worst:.1f}%, obstacles p95 "
            f"{results[-1]['obstacles_p95_ms']:.1f} ms")
        if worst <= max_drop_percent:
            best = rate
        else:
            break
    return {"max_sustained_rate_hz": best, "steps": results}


README_START = "<!-- bench table: generated by `aria-nav bench table` from the JSON below; do not edit -->"
README_END = "<!-- end of bench table -->"
TABLE_ROWS = (("detections", "detections"), ("depth", "depth"), ("obstacles", "**obstacles** (fusion)"),
              ("speech_request", "speech request"), ("slam_left_detections", "SLAM left detections"),
              ("slam_right_detections", "SLAM right detections"))


def markdown_table(report: dict, source: str = "") -> str:
    """The README's table of one graph report: latency per stage from the camera stamp, frames answered, the
    floor with its spread, the overhead, and the memory per process."""
    floor = report.get("floor", {})
    cfg = report["config"]
    settings = ", ".join(f"{node}.{k}={v}" for node, params in cfg.get("node_parameters", {}).items()
                         for k, v in params.items())
    lines = [f"Input {cfg['rate_hz']:g} Hz for {cfg['duration_s']:g} s, device {cfg['device']}"
             + (f", {settings}" if settings else "") + (f" ({source})" if source else "") + ":", "",
             "| camera -> | p50 ms | p95 ms | p99 ms | frames answered | floor p50 (p5-p95, n) | overhead p50 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for stage, label in TABLE_ROWS:
        row = report["stages"].get(stage)
        if row is None or not row["outputs"]:
            continue
        lat = row["latency_ms"]
        answered = "(sparse by design)" if stage == "speech_request" else f"{100 - row['dropped_percent']:.1f}%"
        floor_text, overhead = "", ""
        if stage in floor:
            f = floor[stage]
            floor_text = f"{f['p50']:.1f} ({f.get('p5', float('nan')):.1f}-{f['p95']:.1f}, {f.get('frames', '?')})"
            overhead = f"{lat['p50'] - f['p50']:.1f}"
        lines.append(f"| {label} | {lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | {answered} | "
                     f"{floor_text} | {overhead} |")
    lines += ["", "| process | CPU % | RSS MiB | GPU MiB |", "| --- | --- | --- | --- |"]
    for name, proc in report["processes"].items():
        lines.append(f"| {name} | {proc['cpu_percent']:.0f} | {proc['rss_mib_max']:.0f} | {proc['gpu_mib']:.0f} |")
    return "\n".join(lines)


def replace_readme_table(readme: str, table: str) -> str:
    """`readme` with the text between README_START and README_END replaced by `table`."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no bench table markers ({README_START!r} ... {README_END!r})")
    return readme[:start + len(README_START)] + "\n" + table + "\n" + readme[end:]
