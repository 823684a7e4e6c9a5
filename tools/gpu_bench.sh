#!/usr/bin/env bash
# Benchmarks on the lent GPU machine (H100, Python 3.12 with torch + CUDA 13, no network), as recorded in the
# README. Usage, from the repository root there:
#   tools/gpu_bench.sh setup   install carried wheels (.whl: ROS 2 wheels, ultralytics, rosbags, ... for cp312;
#                              /root/parts: onnxruntime-gpu 1.31.1 in parts, see ../shared/GPU.md), build models
#   tools/gpu_bench.sh models  per-backend model benchmarks (detection and depth)
#   tools/gpu_bench.sh graph   the whole graph at 30 Hz on CUDA, floor included, and the transport benchmark
#   tools/gpu_bench.sh sweep   the highest input rate the graph sustains with <= 1% drops
#   tools/gpu_bench.sh graph518  both, with depth published at the model's 518x518
# Results go to $OUT (or ./bench-out).
set -euo pipefail
out=${OUT:-bench-out}; mkdir -p "$out"
py=python3

gpu_env() {
  # onnxruntime-gpu lives in /root/site, ahead of the image's CPU-only onnxruntime; CUDA libraries from nvidia-*.
  export PYTHONPATH=/root/site PYTHONUNBUFFERED=1
  LD_LIBRARY_PATH=$($py -c "import nvidia,os;print(':'.join(os.path.join(p,d,'lib') for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p,d,'lib'))))")
  export LD_LIBRARY_PATH
}

case ${1:-} in
  setup)
    $py -m pip install -q --no-index --no-deps --no-compile .whl/*.whl
    cat /root/parts/part* > /root/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
    $py -m pip install -q --no-index --no-deps --target /root/site /root/onnxruntime_gpu-*.whl
    $py -m pip install -q --no-index --no-deps --no-build-isolation .
    gpu_env
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
    $py -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__)" | tee -a "$out/gpu.txt"
    aria-nav models build-test | tee "$out/models.txt"
    ;;
  models)
    gpu_env
    aria-nav bench-model --device cuda --frames 200 --json "$out/detection.json" 2>&1 | tee "$out/detection.txt"
    aria-nav bench-model --depth --device cuda --frames 200 --json "$out/depth.json" 2>&1 | tee "$out/depth.txt"
    ;;
  graph)
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 --json "$out/graph30.json" \
      2>&1 | tee "$out/graph30.txt"
    aria-nav bench transport --count 100 --json "$out/transport.json" 2>&1 | tee "$out/transport.txt"
    ;;
  graph518)
    # Depth published at the network's 518x518 (fusion scales boxes to it): no resize, half the bytes per hop.
    gpu_env
    aria-nav bench graph --device cuda --rate 30 --duration 20 --set depth.output_width=518 \
      --set depth.output_height=518 --json "$out/graph30_depth518.json" 2>&1 | tee "$out/graph30_depth518.txt"
    aria-nav bench graph --device cuda --duration 10 --warmup 5 --sweep 30 40 50 60 75 90 --no-floor \
      --set depth.output_width=518 --set depth.output_height=518 --json "$out/sweep_depth518.json" \
      2>&1 | tee "$out/sweep_depth518.txt"
    ;;
  sweep)
    gpu_env
    aria-nav bench graph --device cuda --duration 10 --warmup 5 --sweep 30 60 90 120 150 \
      --json "$out/sweep.json" 2>&1 | tee "$out/sweep.txt"
    ;;
  *) echo "usage: $0 setup|models|graph|sweep|graph518" >&2; exit 2 ;;
esac
