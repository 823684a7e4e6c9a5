#!/usr/bin/env bash
# Makes the project's virtual environment (ROS 2 Kilted wheels + Python dependencies) and the Debian tools
# the graph uses at run time, then builds the ROS interface packages the wheels lack (tools/build_interfaces.sh).
# Idempotent: a stamp keyed by the dependency files skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ARIA_NAV_VENV:-.venv}
python=${PYTHON:-python3}

missing_debs=()
command -v espeak-ng >/dev/null || missing_debs+=(espeak-ng)
command -v c++ >/dev/null || missing_debs+=(g++)  # builds the ROS interface packages
if [ ${#missing_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing_debs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debs[@]}" >/dev/null
  else
    echo "setup: WARNING: missing ${missing_debs[*]}; install with: sudo apt-get install ${missing_debs[*]}" >&2
  fi
fi

stamp="$venv/.installed-$(cat requirements.txt requirements-ros.txt setup.py setup.cfg | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: Python 3.11+ is required ($python is $("$python" --version 2>&1))" >&2; exit 1; }
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  echo "setup: installing Python dependencies into $venv (first run downloads a few GB)"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r requirements.txt
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  rm -f "$venv"/.installed-*
  touch "$stamp"
  echo "setup: Python dependencies installed"
fi
bash tools/build_interfaces.sh "$venv"
