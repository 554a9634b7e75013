#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs the packages,
# builds with warnings as errors, checks formatting, and runs every unit and end-to-end test
# through ctest. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
bash scripts/check-format.sh
ctest --test-dir build --output-on-failure --timeout 900 "$@"
