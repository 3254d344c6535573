#!/usr/bin/env bash
# Installs what is missing, builds from scratch and runs every test:
# unit tests and integration tests with real daemons (CTest), the .deb
# (installed with dpkg -i when CI=true), the fuzzers for a bounded time, then
# the whole suite again built with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/format-check.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCR_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2
# The Debian package: built every time; installed and run on CI machines.
(cd build && cpack -G DEB >/dev/null)
if [ "${CI:-}" = true ]; then
  dpkg -i build/syncr_*_amd64.deb
  syncr --version
  syncr check -c /etc/syncr/syncr.toml.example
fi
# libFuzzer on the frame decoder and the config parser (docs/security.md).
bash scripts/fuzz.sh "${SYNCR_FUZZ_SECONDS:-60}"
if [ "${SYNCR_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYNCR_SANITIZE=ON -DSYNCR_WERROR=ON
  cmake --build build-asan -j"$(nproc)"
  # Sanitized daemons are slower: the integration tests wait three times longer.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 SYNCR_TEST_TIMEOUT_SCALE=3 \
    ctest --test-dir build-asan --output-on-failure -j2
fi
