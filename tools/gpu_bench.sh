#!/usr/bin/env bash
# Benchmarks on the lent GPU machine (H200/H100, Python 3.12 with torch + CUDA 13, no network), as recorded in the
# README. Usage, from the repository root there:
#   tools/gpu_bench.sh setup   install carried wheels (/root/whl and .whl: ROS 2 wheels, ultralytics, rosbags,
#                              ament_cmake and rosidl generators, ... for cp312; /root/py: pure-Python packages that
#                              PyPI has only as source (empy) and their dependencies; /root/parts: onnxruntime-gpu
#                              1.31.1 in parts, see ../shared/GPU.md, or its files as ortx.* parts of one tar.xz), the
#                              project and its interface packages (tools/build_interfaces.sh), and build the fp32 and
#                              fp16 models into $ARIA_NAV_MODELS (/root/models)
#   tools/gpu_bench.sh floors  the models alone (bare loop, 500 frames): host path, GPU-resident without and with
#                              CUDA graphs, fp16
#   tools/gpu_bench.sh graphs  the whole graph at 30 Hz, every frame of every camera: before (host path, fp32, SLAM
#                              every 3rd frame) and after (GPU-resident, CUDA graphs, fp16, SLAM every frame)
#   tools/gpu_bench.sh graphs-pool  "after" with fusion's depth min-pooled to 259x259
#   tools/gpu_bench.sh diagnose  "after" (pooled) without the SLAM detectors (what they cost the RGB path), and
#                              with RGB published at 640x640 (the camera -> detector/depth hop)
#   tools/gpu_bench.sh sweep   the highest input rate the "after" (pooled) graph sustains with <= 1% drops
#   tools/gpu_bench.sh transport  one image hop per size
#   tools/gpu_bench.sh composed [MODES]  "after" (pooled) with the nodes as separate processes and composed
#                              (composed:=true: detector, depth, fusion in one process; with_camera: the camera too);
#                              MODES: which of false true with_camera (default all three)
#   tools/gpu_bench.sh fusion-rgb  "after" (pooled) with fusion.publish_annotated=false: fusion then does not
#                              subscribe to the RGB images (the camera sends each frame to two processes, not three)
#   tools/gpu_bench.sh slam-shared  "after" (pooled) with slam_detector:=shared (both SLAM cameras in one process,
#                              one CUDA context: three GPU processes instead of four), at 30 Hz and in the sweep
#   tools/gpu_bench.sh mps     "after" (pooled; with the floor), slam_detector:=shared and the sweep, each with an
#                              NVIDIA MPS control daemon started for the run and stopped after it (the GPU's compute
#                              mode is not changed): the inference processes' kernels then share the GPU instead of
#                              taking turns in time slices (its first run is the README's table)
# Every graph run also prints where the time goes per node (hop milestones from the camera stamp).
# Results go to $OUT (or ./bench-out); docs/bench/ keeps them, `aria-nav bench table` makes the README table.
# Getting the parts there (64 MiB a call, the working tree's ~10 MB included; the machine goes back after 30 s idle,
# so make the calls back to back): one call per wheel folder (.whl/a with .whl/py, .whl/b, .whl/c: ~30-54 MB each),
# each moving its wheels to /root/whl (.whl/py to /root/py), one per onnxruntime part (.ort/x0 ... .ort/x3), each
# moving it to /root/parts; then
# `tools/gpu_bench.sh setup && tools/gpu_bench.sh graphs-pool && tools/gpu_bench.sh slam-shared` and, in a second
# call (10 minutes a call), `tools/gpu_bench.sh sweep`.
set -euo pipefail
out=${OUT:-bench-out}; mkdir -p "$out"
py=python3
export ARIA_NAV_MODELS=${ARIA_NAV_MODELS:-/root/models}
m=$ARIA_NAV_MODELS

gpu_env() {
  # onnxruntime-gpu lives in /root/site, ahead of the image's CPU-only onnxruntime; CUDA libraries from nvidia-*.
  export PYTHONPATH=/root/site PYTHONUNBUFFERED=1
  LD_LIBRARY_PATH=$($py -c "import nvidia,os;print(':'.join(os.path.join(p,d,'lib') for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p,d,'lib'))))")
  export LD_LIBRARY_PATH
}

# Depth at the network's 518x518 (fusion scales boxes to it): no resize, half the bytes of the depth hop.
DEPTH518=(--set depth.output_width=518 --set depth.output_height=518)
BEFORE=("${DEPTH518[@]}" --set detector.gpu_resident=false --set depth.gpu_resident=false
        --set slam_detector_left.gpu_resident=false --set slam_detector_right.gpu_resident=false
        --set slam_detector_left.gpu_frame_skip=0 --set slam_detector_right.gpu_frame_skip=0)
# Fusion's depth min-pooled to 259x259 (docs/bench/depth_size.txt): a quarter of the bytes of the depth hop.
POOL2=(--set depth.min_pool=2)
FP16=(yolo_model:=$m/yolo11n_640_fp16.onnx slam_yolo_model:=$m/yolo11n_256_fp16.onnx
      depth_model:=$m/depth_anything_v2_small_518_fp16.onnx)

case ${1:-} in
  setup)
    mkdir -p /root/whl; cp .whl/*.whl .whl/*/*.whl /root/whl/ 2>/dev/null || true
    $py -m pip install -q --no-index --no-deps --no-compile /root/whl/*.whl
    if [ -d /root/py ]; then cp -r /root/py/. "$($py -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; fi
    if ls /root/parts/ortx.* >/dev/null 2>&1; then
      # The wheel's files, unpacked (TensorRT provider left out) and xz-compressed: 204 MB in 4 parts, not 256 in 6.
      mkdir -p /root/site; cat /root/parts/ortx.* | xz -dc -T0 | tar -xf - -C /root/site
    else
      cat /root/parts/part* > /root/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
      $py -m pip install -q --no-index --no-deps --target /root/site /root/onnxruntime_gpu-*.whl
    fi
    $py -m pip install -q --no-index --no-deps --no-build-isolation .
    tools/build_interfaces.sh "$($py -c 'import sys; print(sys.prefix)')"  # aria_nav_msgs, vision_msgs, tf2_msgs
    gpu_env
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
    $py -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__)" | tee -a "$out/gpu.txt"
    $py - <<'PY' 2>&1 | tee "$out/models.txt"
import os, time
from pathlib import Path
from aria_nav.core.depth.build import build_fp16_depth, build_test_depth
from aria_nav.core.detection.build import build_fp16_yolo
folder = Path(os.environ["ARIA_NAV_MODELS"]); start = time.monotonic()
for path in build_fp16_yolo(folder) + [build_test_depth(folder), build_fp16_depth(folder)]:
    print(f"models: {path} ({path.stat().st_size / 1e6:.1f} MB)")
print(f"models: built in {time.monotonic() - start:.0f} s")
PY
    ;;
  floors)
    gpu_env
    b=(aria-nav bench graph --device cuda --floor-only "${DEPTH518[@]}")
    "${b[@]}" --set detector.gpu_resident=false --set depth.gpu_resident=false --json "$out/floor_host_fp32.json" \
      2>&1 | tee "$out/floor_host_fp32.txt"
    "${b[@]}" --set detector.cuda_graph=false --set depth.cuda_graph=false --json "$out/floor_bound_fp32.json" \
      2>&1 | tee "$out/floor_bound_fp32.txt"
    "${b[@]}" --json "$out/floor_graph_fp32.json" 2>&1 | tee "$out/floor_graph_fp32.txt"
    "${b[@]}" "${FP16[@]}" --json "$out/floor_graph_fp16.json" 2>&1 | tee "$out/floor_graph_fp16.txt"
    ;;
  graphs)
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 "${BEFORE[@]}" --json "$out/graph30_before.json" \
      2>&1 | tee "$out/graph30_before.txt"
    aria-nav bench graph --device cuda --rate 30 --duration 20 "${DEPTH518[@]}" "${FP16[@]}" \
      --json "$out/graph30_after.json" 2>&1 | tee "$out/graph30_after.txt"
    ;;
  graphs-pool)
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
      --json "$out/graph30_after_pool2.json" 2>&1 | tee "$out/graph30_after_pool2.txt"
    ;;
  diagnose)
    # Does the GPU work of the SLAM detectors (other processes on the same GPU) slow the RGB path?
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 --no-floor "${DEPTH518[@]}" "${POOL2[@]}" \
      "${FP16[@]}" slam:=false --json "$out/graph30_after_pool2_noslam.json" 2>&1 | tee "$out/graph30_after_pool2_noslam.txt"
    # The camera -> detector/depth hop with RGB published at YOLO's 640x640 instead of 704x704 (-17% bytes).
    aria-nav bench graph --device cuda --rate 30 --duration 20 --no-floor --rgb-size 640 "${DEPTH518[@]}" \
      "${POOL2[@]}" "${FP16[@]}" --json "$out/graph30_after_pool2_rgb640.json" 2>&1 | tee "$out/graph30_after_pool2_rgb640.txt"
    ;;
  sweep)
    gpu_env
    aria-nav bench graph --device cuda --duration 10 --warmup 5 --sweep 60 90 120 150 "${DEPTH518[@]}" "${POOL2[@]}" \
      "${FP16[@]}" --json "$out/sweep_after.json" 2>&1 | tee "$out/sweep_after.txt"
    ;;
  transport)
    gpu_env
    aria-nav bench transport --count 100 --json "$out/transport.json" 2>&1 | tee "$out/transport.txt"
    ;;
  composed)
    gpu_env
    shift
    for mode in ${*:-false true with_camera}; do
      aria-nav bench graph --device cuda --rate 30 --duration 20 "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
        composed:=$mode --json "$out/graph30_composed_$mode.json" 2>&1 | tee "$out/graph30_composed_$mode.txt"
    done
    ;;
  fusion-rgb)
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
      --set fusion.publish_annotated=false --json "$out/graph30_after_pool2_fusion_no_rgb.json" 2>&1 \
      | tee "$out/graph30_after_pool2_fusion_no_rgb.txt"
    ;;
  slam-shared)
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 --no-floor "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
      slam_detector:=shared --json "$out/graph30_after_pool2_slam_shared.json" 2>&1 \
      | tee "$out/graph30_after_pool2_slam_shared.txt"
    aria-nav bench graph --device cuda --duration 10 --warmup 5 --sweep 120 150 "${DEPTH518[@]}" "${POOL2[@]}" \
      "${FP16[@]}" slam_detector:=shared --json "$out/sweep_after_slam_shared.json" 2>&1 \
      | tee "$out/sweep_after_slam_shared.txt"
    ;;
  mps)
    gpu_env
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/aria_nav_mps CUDA_MPS_LOG_DIRECTORY=/tmp/aria_nav_mps_log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d
    trap 'echo quit | nvidia-cuda-mps-control' EXIT
    aria-nav bench graph --device cuda --rate 30 --duration 20 "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
      --json "$out/graph30_after_pool2_mps.json" 2>&1 | tee "$out/graph30_after_pool2_mps.txt"
    aria-nav bench graph --device cuda --rate 30 --duration 20 --no-floor "${DEPTH518[@]}" "${POOL2[@]}" "${FP16[@]}" \
      slam_detector:=shared --json "$out/graph30_after_pool2_mps_slam_shared.json" 2>&1 \
      | tee "$out/graph30_after_pool2_mps_slam_shared.txt"
    aria-nav bench graph --device cuda --duration 10 --warmup 5 --sweep 120 150 "${DEPTH518[@]}" "${POOL2[@]}" \
      "${FP16[@]}" --json "$out/sweep_after_mps.json" 2>&1 | tee "$out/sweep_after_mps.txt"
    ;;
  *) echo "usage: $0 setup|floors|graphs|graphs-pool|diagnose|sweep|transport|composed [MODES]|fusion-rgb|slam-shared|mps" >&2
     exit 2 ;;
esac
