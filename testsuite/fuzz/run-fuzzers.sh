#!/bin/sh
#
# run-fuzzers.sh BUILD_DIR [SECONDS]
#
# Runs every CrossChat libFuzzer target built in BUILD_DIR/testsuite/fuzz (<Name>-fuzzer,
# from testsuite/fuzz/<Name>Fuzzer.cpp) for SECONDS each (default 30) on a temporary copy of
# its seed corpus testsuite/fuzz/corpus/<name in lower case>/ (if there is one), so the
# repository is never written to. A fuzzer's maximum input length comes from a line
# "// max_len: N" in its source (default 4096). Crash, leak and timeout inputs are kept in
# BUILD_DIR/fuzz-artifacts/. Exits non-zero if no fuzzer is built, if a fuzzer whose source
# exists was not built, or if any fuzzer reports a finding.
#

set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 BUILD_DIR [SECONDS]" >&2
	exit 2
fi
BUILD_DIR=$(cd "$1" && pwd) || exit 2
SECONDS_EACH=${2:-30}
case $SECONDS_EACH in
	''|*[!0-9]*) echo "$0: SECONDS must be a whole number" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/crosschat-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT INT TERM
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"
mkdir -p "$ARTIFACTS"

status=0
count=0
for source in "$HERE"/*Fuzzer.cpp; do
	name=$(basename "$source" Fuzzer.cpp)
	corpus=$(echo "$name" | tr '[:upper:]' '[:lower:]')
	maxlen=$(sed -n 's|^// max_len: *\([0-9][0-9]*\).*|\1|p' "$source" | head -n 1)
	maxlen=${maxlen:-4096}
	exe="$BUILD_DIR/testsuite/fuzz/$name-fuzzer"
	if [ ! -x "$exe" ]; then
		echo "$0: $exe not built" >&2
		status=1
		continue
	fi
	count=$((count + 1))
	mkdir -p "$WORK/$corpus"
	if [ -d "$HERE/corpus/$corpus" ]; then
		cp -R "$HERE/corpus/$corpus/." "$WORK/$corpus/"
	fi
	echo "=== $name-fuzzer: ${SECONDS_EACH}s, max_len $maxlen"
	if ! (cd "$WORK" && "$exe" -max_total_time="$SECONDS_EACH" -max_len="$maxlen" \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$ARTIFACTS/$name-" "$WORK/$corpus"); then
		echo "=== $name-fuzzer FAILED; reproducer in $ARTIFACTS/" >&2
		status=1
	fi
done
if [ $count -eq 0 ]; then
	echo "$0: no fuzzer built in $BUILD_DIR/testsuite/fuzz" >&2
	status=1
fi
exit $status
