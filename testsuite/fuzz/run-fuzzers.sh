#!/bin/sh
#
# run-fuzzers.sh BUILD_DIR [SECONDS]
#
# Runs every CrossChat libFuzzer target for SECONDS (default 30) on a temporary copy of its
# seed corpus, so the repository is never written to. Crash, leak and timeout inputs are
# kept in BUILD_DIR/fuzz-artifacts/. Exits non-zero if any fuzzer reports a finding.
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
# name corpus max_len
for spec in "FrameDecoder frame 4096" "Message message 4096" "PeerId peerid 256" "Announcement announcement 1400" "RelayRequest relayrequest 16384" "RelayFront relayfront 4096"; do
	set -- $spec
	name=$1 corpus=$2 maxlen=$3
	exe="$BUILD_DIR/testsuite/fuzz/$name-fuzzer"
	if [ ! -x "$exe" ]; then
		echo "$0: $exe not built" >&2
		status=1
		continue
	fi
	mkdir -p "$WORK/$corpus"
	cp -R "$HERE/corpus/$corpus/." "$WORK/$corpus/"
	echo "=== $name-fuzzer: ${SECONDS_EACH}s, max_len $maxlen"
	if ! (cd "$WORK" && "$exe" -max_total_time="$SECONDS_EACH" -max_len="$maxlen" \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$ARTIFACTS/$name-" "$WORK/$corpus"); then
		echo "=== $name-fuzzer FAILED; reproducer in $ARTIFACTS/" >&2
		status=1
	fi
done
exit $status
