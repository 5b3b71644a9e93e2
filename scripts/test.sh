#!/usr/bin/env bash
# Builds filegate with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test
# (unit, fuzz-corpus replay, integration with real clients) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --tests
# The Release build that scripts/demo.sh runs must keep compiling (warnings are errors there
# too, and the optimiser warns differently): build it first.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFILEGATE_TESTS=OFF >/dev/null
cmake --build build/release --target filegate -j "$(nproc)"

build=${FILEGATE_TEST_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFILEGATE_SANITIZE=ON -DFILEGATE_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"
