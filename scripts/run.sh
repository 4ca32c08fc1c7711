#!/usr/bin/env bash
#
# run.sh — install what is missing, build CrossChat in build/ and start crosschat.
#
# Usage: bash scripts/run.sh [crosschat options...]     e.g. scripts/run.sh --name alice
#
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh >&2

BUILD_DIR=build
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
	cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$BUILD_DIR" -j2 --target crosschat >&2

exec "$BUILD_DIR/Samples/ConsoleChat/crosschat" "$@"
