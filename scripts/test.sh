#!/usr/bin/env bash
# Installs what is missing, builds from scratch and runs every test:
# unit tests and integration tests with real daemons (CTest), the .deb
# (installed with dpkg -i when CI=true), the fuzzers for a bounded time, then
# the whole suite again built with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/format-check.sh
# A packager's plain Release configure must not make warnings errors (g++ 12
# warns falsely at -O3, see CMakeLists.txt). Configure only, a few seconds:
# a full extra Release build would cost ~3 min on CI's 2 cores.
cmake --fresh -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
if grep -qE -- '-Werror([ "]|$)' build-rel/compile_commands.json; then
  echo "test.sh: a plain Release configure compiles with -Werror; SYNCR_WERROR must default to OFF" >&2
  exit 1
fi
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
  # Sanitized daemons are slower: the integration tests wait three times
  # longer. The soak ran 60 s above; here 30 s, for memory errors under faults.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 SYNCR_TEST_TIMEOUT_SCALE=3 \
    SYNCR_SOAK_SECONDS=30 \
    ctest --test-dir build-asan --output-on-failure -j2
fi
