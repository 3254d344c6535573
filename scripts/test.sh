#!/usr/bin/env bash
# Installs what is missing, builds from scratch and runs every test:
# unit tests and integration tests with real daemons (CTest), then the same
# suite again built with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2
# libFuzzer on the frame decoder and the config parser (docs/security.md).
bash scripts/fuzz.sh "${SYNCR_FUZZ_SECONDS:-60}"
if [ "${SYNCR_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCR_SANITIZE=ON
  cmake --build build-asan -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j2
fi
