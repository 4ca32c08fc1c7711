#!/usr/bin/env bash
#
# test-quit-latency.sh — `printf '/whoami\n/quit\n' | crosschat --json` ends in well under a
# second with port mapping on and no gateway that answers (CTest: crosschat-quit-latency).
# The bound is generous for a loaded CI machine; a run takes ~0.1 s where the port mapper
# used to hold /quit for 2 s.
#
# Usage: test-quit-latency.sh <path to crosschat> [bound in ms, default 1500]
#
set -euo pipefail

CROSSCHAT=${1:?usage: test-quit-latency.sh <crosschat> [bound-ms]}
BOUND_MS=${2:-1500}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/crosschat-quit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The identity is created first, so that the timed runs measure start and quit only.
printf '/quit\n' | "$CROSSCHAT" --json --no-lan --no-port-mapping --data-dir "$WORK/data" >/dev/null

worst=0
for run in 1 2 3 4 5; do
	start=$(date +%s%N)
	printf '/whoami\n/quit\n' | "$CROSSCHAT" --json --data-dir "$WORK/data" --lan-port $((30000 + $$ % 20000)) >"$WORK/out" 2>"$WORK/err"
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	grep -q '"event":"bye"' "$WORK/out" || { echo "FAIL: no bye event: $(cat "$WORK/out" "$WORK/err")" >&2; exit 1; }
	echo "run $run: ${elapsed} ms"
	(( elapsed > worst )) && worst=$elapsed
done
if (( worst > BOUND_MS )); then
	echo "FAIL: the slowest run took ${worst} ms (bound ${BOUND_MS} ms)" >&2
	exit 1
fi
echo "PASS (slowest ${worst} ms, bound ${BOUND_MS} ms)"
