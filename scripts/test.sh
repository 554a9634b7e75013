#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs the packages,
# builds with warnings as errors, checks formatting, and runs every unit and end-to-end test
# through ctest. Exits non-zero when anything fails, and when ctest finds no test to run.
# Arguments go to ctest (e.g. `-R e2e.btrfs.80` for one suite).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "Error: run this as root (the end-to-end tests make loop devices, mounts and users)" >&2; exit 1; }

bash scripts/deps.sh
# BUILD_TESTING is set every time: scripts/setup.sh configures the same tree without the tests.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build build -j"$(nproc)"
bash scripts/check-format.sh
ctest --test-dir build --output-on-failure --timeout 900 --no-tests=error "$@"
