#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): dependencies, a -Werror build installed into
# a prefix, unit tests, end-to-end suites against the installed binaries and real peers
# (git receive-pack, kube-apiserver), and the unit tests again under ASan+UBSan.
# Usage: install/test.sh [--quick]   (--quick: skip the sanitizer build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }

step "dependencies"
install/deps.sh

step "build (-Werror) and install"
CMAKE_OPTIONS="-DPORTCULLIS_WERROR=ON" install/build.sh "$root/build" "$root/build/prefix"
export PORTCULLIS_BIN=$root/build/prefix/bin/portcullis

step "kube-apiserver for the schema suites (cached after the first build)"
# shellcheck source=tests/env/kube.sh
source tests/env/kube.sh
kube_build

step "unit and end-to-end tests"
(cd build && ctest --output-on-failure -j2)

if [[ ${1:-} != --quick ]]; then
  step "unit tests under ASan+UBSan"
  BUILD_TYPE=Debug CMAKE_OPTIONS="-DPORTCULLIS_WERROR=ON -DENABLE_ASAN=ON -DENABLE_UBSAN=ON" \
    install/build.sh "$root/build-sanitize" "$root/build-sanitize/prefix"
  (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -L unit -j2)
fi
step "all tests passed"
