#!/usr/bin/env bash
# Fails when a C++ file under src/, fuzz/ or tests/tools/ is not formatted as
# .clang-format says (`clang-format -i FILE` fixes it).
set -euo pipefail
cd "$(dirname "$0")/.."
find src fuzz tests/tools \( -name '*.cc' -o -name '*.h' \) -print0 |
  xargs -0 clang-format --dry-run --Werror
