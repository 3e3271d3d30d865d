#!/usr/bin/env bash
# Generates hamst3r_ros's ROS 2 message packages with cmake and installs them into the
# project's venv (default .venv; override with VENV=/path), so that `import hamst3r_msgs.msg`
# works there without a ROS install.
#
#   hamst3r_msgs             always (our own interfaces)
#   third_party_msgs/<pkg>   tf2_msgs, people_msgs, hri_msgs: only when `import <pkg>` fails,
#                            so a real ROS install is never shadowed
#
# Idempotent: a package is rebuilt only when its sources, this script or the Python
# interpreter changed (a stamp in <venv>/share/<pkg>/ records what was built). Build trees
# live in build/interfaces/ (gitignored). Under a sourced ROS 2 install the venv is put in
# front of its prefixes and the include-path fix below finds nothing to drop.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${VENV:-$here/.venv}" && pwd)"
PY="$VENV/bin/python"
BUILD="$here/build/interfaces"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
log() { printf '[interfaces] %s\n' "$*"; }

[ -x "$PY" ] || { echo "build_interfaces.sh: no Python at $PY (expected a venv made by scripts/setup.sh; set VENV=...)" >&2; exit 2; }
command -v cmake >/dev/null || { echo "build_interfaces.sh: cmake not found (apt-get install cmake g++ make)" >&2; exit 2; }
"$PY" -c 'import rosidl_generator_py, catkin_pkg' 2>/dev/null || {
  echo "build_interfaces.sh: $PY lacks the ROS 2 interface generators (pip install -r requirements.txt)" >&2; exit 2; }

mkdir -p "$BUILD"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"

# The PyPI wheels export CMake targets whose INTERFACE_INCLUDE_DIRECTORIES name paths of the
# machine that built them (/opt/python/cp311-cp311/include/...); CMake refuses to generate
# with non-existent include paths. This file is injected with CMAKE_PROJECT_INCLUDE and, at
# the end of the package's top-level CMakeLists.txt (after ament_package()), drops only the
# include directories that do not exist. With a real ROS install every path exists: no-op.
fix="$BUILD/drop_missing_include_dirs.cmake"
cat > "$fix.tmp" <<'CMAKE'
function(_hamst3r_drop_missing_include_dirs)
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_dirs ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_kept "")
    foreach(_d IN LISTS _dirs)
      if(_d MATCHES "^\\$<" OR EXISTS "${_d}")
        list(APPEND _kept "${_d}")
      endif()
    endforeach()
    if(NOT "${_kept}" STREQUAL "${_dirs}")
      set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
    endif()
  endforeach()
endfunction()
if(CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _hamst3r_drop_missing_include_dirs)
endif()
CMAKE
cmp -s "$fix.tmp" "$fix" 2>/dev/null && rm "$fix.tmp" || mv "$fix.tmp" "$fix"

# Fingerprint of what a build depends on: package sources, this script, the interpreter and
# the installed ROS wheels (new generators or runtimes mean regenerating).
toolchain="$("$PY" -c 'import sys, importlib.metadata as md
print(sys.version)
print(sorted((d.metadata["Name"] or "", d.version) for d in md.distributions()
             if (d.metadata["Name"] or "").lower().startswith("ros-")))')"
fingerprint() {
  { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    sha256sum < "${BASH_SOURCE[0]}"
    echo "$toolchain"; } | sha256sum | cut -d' ' -f1
}

build_pkg() {  # build_pkg <source dir>
  local src="$1" pkg stamp want
  pkg="$(basename "$src")"
  stamp="$VENV/share/$pkg/hamst3r_build.sha256"
  want="$(fingerprint "$src")"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$PY" -c "import $pkg.msg" 2>/dev/null; then
    log "$pkg: up to date"
    return 0
  fi
  log "$pkg: generating into $VENV"
  local bdir="$BUILD/$pkg" t0=$SECONDS
  mkdir -p "$bdir"
  if ! { cmake -S "$src" -B "$bdir" \
           -DCMAKE_BUILD_TYPE=Release \
           -DCMAKE_INSTALL_PREFIX="$VENV" \
           -DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH" \
           -DPython3_EXECUTABLE="$PY" \
           -DPYTHON_EXECUTABLE="$PY" \
           -DBUILD_TESTING=OFF \
           -DCMAKE_PROJECT_INCLUDE="$fix" \
         && cmake --build "$bdir" -j "$JOBS" \
         && cmake --install "$bdir"; } >"$bdir/build.log" 2>&1; then
    tail -n 40 "$bdir/build.log" >&2
    echo "build_interfaces.sh: building $pkg failed (full log: $bdir/build.log)" >&2
    return 1
  fi
  "$PY" -c "import $pkg.msg" || { echo "build_interfaces.sh: $pkg built but 'import $pkg.msg' fails in $PY" >&2; return 1; }
  echo "$want" > "$stamp"
  log "$pkg: done in $((SECONDS - t0)) s"
}

for src in "$here"/third_party_msgs/*/; do
  src="${src%/}"
  pkg="$(basename "$src")"
  [ -f "$src/package.xml" ] || continue
  # Ours if we built it before (stamp present): keep it current. Otherwise build it only
  # when nothing else provides it.
  if [ ! -f "$VENV/share/$pkg/hamst3r_build.sha256" ] && "$PY" -c "import $pkg" 2>/dev/null; then
    log "$pkg: provided by $("$PY" -c "import $pkg, os; print(os.path.dirname($pkg.__file__))"), not building ours"
    continue
  fi
  build_pkg "$src"
done
build_pkg "$here/hamst3r_msgs"
