#!/usr/bin/env bash
# Builds the interface packages that the PyPI ROS 2 wheels lack (tools/interfaces: tf2_msgs, vision_msgs) and the
# project's own (aria_nav_msgs) into the virtual environment's prefix, where rclpy finds them without any
# environment variable. Called by tools/setup.sh; idempotent: a package is rebuilt only when its sources change.
# On a ROS 2 distribution none of this runs: the distribution has tf2_msgs and vision_msgs, colcon builds
# aria_nav_msgs (README "Install on a ROS 2 distribution").
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(cd "${1:-.venv}" && pwd -P)
python="$venv/bin/python"

compiler=$(command -v c++ || command -v g++ || true)
if [ -z "$compiler" ]; then
  echo "setup: no C/C++ compiler to build the ROS interface packages: sudo apt-get install g++" >&2
  exit 1
fi

# The wheels' CMake exports name the include folders of the machine that built them; point them at this Python's.
python_include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
numpy_include=$("$python" -c 'import numpy; print(numpy.get_include())')
for export in "$venv"/share/*/cmake/export_*__rosidl_generator_pyExport.cmake; do
  grep -q '/opt/python/' "$export" || continue
  sed -i -E "s|INTERFACE_INCLUDE_DIRECTORIES \"[^\"]*\"|INTERFACE_INCLUDE_DIRECTORIES \"$python_include;$numpy_include\"|" "$export"
done

export PATH="$venv/bin:$PATH"  # PyPI's cmake and ninja
build_root="$venv/build/interfaces"
mkdir -p "$build_root"
for package in tools/interfaces/tf2_msgs tools/interfaces/vision_msgs aria_nav_msgs; do
  name=$(basename "$package")
  stamp="$venv/share/$name/.aria_nav-built-$(cat "$package"/package.xml "$package"/CMakeLists.txt "$package"/msg/*.msg | sha1sum | cut -c1-12)"
  [ -f "$stamp" ] && continue
  echo "setup: building the interface package $name into $venv"
  start=$(date +%s)
  rm -rf "$build_root/$name"
  if ! cmake -S "$package" -B "$build_root/$name" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$python" \
        -DCMAKE_CXX_COMPILER="$compiler" >"$build_root.$name.log" 2>&1 \
     || ! cmake --build "$build_root/$name" >>"$build_root.$name.log" 2>&1 \
     || ! cmake --install "$build_root/$name" >>"$build_root.$name.log" 2>&1; then
    tail -n 30 "$build_root.$name.log" >&2
    echo "setup: building $name failed (log: $build_root.$name.log)" >&2
    exit 1
  fi
  rm -f "$venv/share/$name"/.aria_nav-built-*
  touch "$stamp"
  echo "setup: $name built in $(( $(date +%s) - start )) s"
done
"$python" -c 'from tf2_msgs.msg import TFMessage; from vision_msgs.msg import Detection2DArray
from aria_nav_msgs.msg import ObstacleArray' || {
  echo "setup: the interface packages built into $venv do not import" >&2; exit 1; }
