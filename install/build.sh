#!/usr/bin/env bash
# Configures, builds and installs Portcullis.
# Usage: install/build.sh [BUILD_DIR [PREFIX]] ; extra CMake options in $CMAKE_OPTIONS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
prefix=${2:-$build/prefix}
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} ${CMAKE_OPTIONS:-} >/dev/null
ninja -C "$build"
cmake --install "$build" --prefix "$prefix" >/dev/null
echo "install/build.sh: installed into $prefix"
