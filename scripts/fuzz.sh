#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang-14 (ASan + UBSan) in
# build-fuzz/ and runs each for SECONDS (default 60), starting from the seed
# corpus in fuzz/corpus/<target>/ (copied: the repository is not modified).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      TARGET: frame_decoder_fuzz config_fuzz
#
# Exits non-zero if any target finds a crash, leak, timeout or out-of-memory;
# the reproducer is kept in build-fuzz/findings/<target>/ (crash-*, leak-*,
# timeout-*, oom-*) and the run's log in build-fuzz/findings/<target>.log.
# Reproduce one: build-fuzz/fuzz/<target> build-fuzz/findings/<target>/crash-...
# Longer runs: scripts/fuzz.sh 3600. Needs clang-14 and libclang-rt-14-dev.
# New corpus entries found by a run are left in build-fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(frame_decoder_fuzz config_fuzz)

CC="${CC_FUZZ:-clang-14}"
CXX="${CXX_FUZZ:-clang++-14}"
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

# The fuzz targets compile project sources with clang, whose warnings differ
# from g++'s; they are clean with clang 14 today. If clang starts to warn in a
# project file, SYNCR_FUZZ_WERROR=OFF scripts/fuzz.sh builds anyway.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DSYNCR_FUZZ=ON -DSYNCR_WERROR="${SYNCR_FUZZ_WERROR:-ON}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t"
  findings="build-fuzz/findings/$t"
  mkdir -p "$corpus" "$findings"
  [ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "== $t: ${seconds}s, corpus $corpus"
  if ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1" \
     UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
     "build-fuzz/fuzz/$t" "$corpus" "${dict[@]}" \
       -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$findings/" >"build-fuzz/findings/$t.log" 2>&1; then
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|Done [0-9]+ runs)" "build-fuzz/findings/$t.log" | tail -2 || true
    echo "== $t: no crash in ${seconds}s"
  else
    status=1
    echo "== $t: FAILED; log build-fuzz/findings/$t.log, reproducer(s):" >&2
    ls -1 "$findings" >&2 || true
    tail -60 "build-fuzz/findings/$t.log" >&2
  fi
done
exit $status
