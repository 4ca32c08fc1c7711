#!/usr/bin/env bash
#
# test-console.sh — end-to-end test of crosschat's --json console (CTest: crosschat-console).
#
# Usage: test-console.sh <path to crosschat> [python3]
#
set -euo pipefail

CROSSCHAT=${1:?usage: test-console.sh <crosschat> [python3]}
PYTHON=${2:-python3}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/crosschat-console.XXXXXX")
HOLDER_PID=""
cleanup()
{
	if [[ -n "$HOLDER_PID" ]]; then kill -9 "$HOLDER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
DATA="$WORK/data"

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# check <stdout file> <expected events...>: every line is a JSON object; the events come in
# this order; the first is "ready" with a 63-character peer ID, equal to whoami's.
# Prints the peer ID.
check()
{
	"$PYTHON" - "$@" <<'PY'
import json, sys

path, expected = sys.argv[1], sys.argv[2:]
events = []
with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
        try:
            event = json.loads(line)
        except ValueError as exc:
            sys.exit(f"line {number} is not JSON ({exc}): {line!r}")
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            sys.exit(f"line {number} is not an event object: {line!r}")
        events.append(event)

names = [e["event"] for e in events]
if names != expected:
    sys.exit(f"events {names}, expected {expected}")
ready = events[0]
peer_id = ready.get("id")
if not isinstance(peer_id, str) or len(peer_id) != 63 or peer_id.count("-") != 7:
    sys.exit(f"ready has no 63-character peer ID: {ready}")
for key in ("name", "data_dir", "version"):
    if not isinstance(ready.get(key), str) or not ready[key]:
        sys.exit(f"ready lacks {key}: {ready}")
for event in events:
    if event["event"] == "whoami" and event.get("id") != peer_id:
        sys.exit(f"whoami id {event.get('id')} differs from ready id {peer_id}")
    if event["event"] == "help":
        commands = [c.get("command") for c in event.get("commands", [])]
        for command in ("/help", "/whoami", "/quit"):
            if command not in commands:
                sys.exit(f"help does not list {command}: {commands}")
    if event["event"] == "error" and not event.get("message"):
        sys.exit(f"error without message: {event}")
print(peer_id)
PY
}

echo "-- run 1: new identity, /whoami, /quit"
printf '/whoami\n/quit\n/whoami\n' | "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" --name tester >"$WORK/out1" \
	|| fail "run 1 exited with $?"
ID1=$(check "$WORK/out1" ready whoami bye) || fail "run 1 output: $(cat "$WORK/out1")"
[[ -f "$DATA/identity.pem" ]] || fail "no identity.pem in the data directory"
[[ $(stat -c %a "$DATA/identity.pem") == 600 ]] || fail "identity.pem is not mode 600"
echo "peer ID $ID1"

echo "-- run 2: same data directory keeps the peer ID; /help, errors, end of input"
printf '/help\n\n/nosuchcommand\nhello\n/whoami\n' \
	| "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" --name tester >"$WORK/out2" \
	|| fail "run 2 exited with $?"
ID2=$(check "$WORK/out2" ready help error error whoami bye) || fail "run 2 output: $(cat "$WORK/out2")"
[[ "$ID1" == "$ID2" ]] || fail "peer ID changed from $ID1 to $ID2"
grep -q '"unknown command /nosuchcommand; type /help"' "$WORK/out2" || fail "no unknown-command error"

echo "-- run 3: a world-readable key file is refused"
chmod 644 "$DATA/identity.pem"
set +e
printf '/quit\n' | "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" >"$WORK/out3" 2>"$WORK/err3"
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "crosschat accepted a world-readable key file"
[[ -s "$WORK/err3" ]] || fail "no message on stderr for the refused key file"
"$PYTHON" -c '
import json, sys
events = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
if not events or events[-1].get("event") != "error":
    sys.exit("expected an error event, got %r" % events)
' "$WORK/out3" || fail "run 3 output: $(cat "$WORK/out3")"
echo "exit code $rc, stderr: $(cat "$WORK/err3")"

chmod 600 "$DATA/identity.pem"

# start_first <name>: runs crosschat --json on $DATA as a coprocess and waits for its "ready"
# line (the event itself, not a time). Sets HOLDER_PID (the crosschat process: exec), and
# HOLDER_OUT / HOLDER_IN, copies of the descriptors of its stdout and stdin (bash unsets
# FIRST_PID and closes FIRST[0] and FIRST[1] as soon as it notices the coprocess has ended,
# which may be before its last line is read).
start_first()
{
	coproc FIRST { exec "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" --name "$1" 2>>"$WORK/err-first"; }
	HOLDER_PID=$FIRST_PID
	exec {HOLDER_OUT}<&"${FIRST[0]}" {HOLDER_IN}>&"${FIRST[1]}"
	local line
	read -r -t 30 -u "$HOLDER_OUT" line || fail "the first instance did not start: $(cat "$WORK/err-first")"
	[[ $line == *'"event":"ready"'* && $line == *"$ID1"* ]] || fail "first instance: expected ready with $ID1, got: $line"
}

echo "-- run 4: a second crosschat on the same data directory refuses at once (exit 75)"
start_first first
set +e
timeout 30 "$CROSSCHAT" --no-lan --no-port-mapping --data-dir "$DATA" </dev/null >"$WORK/out4" 2>"$WORK/err4"
rc=$?
set -e
[[ $rc -eq 75 ]] || fail "second instance (human mode) exited with $rc, expected 75; stderr: $(cat "$WORK/err4")"
[[ ! -s "$WORK/out4" ]] || fail "second instance wrote to stdout: $(cat "$WORK/out4")"
grep -qF -- "$DATA" "$WORK/err4" || fail "the error does not name the data directory: $(cat "$WORK/err4")"
grep -qF -- "--data-dir" "$WORK/err4" || fail "the error does not suggest --data-dir: $(cat "$WORK/err4")"
grep -qF -- "process ID $HOLDER_PID" "$WORK/err4" || fail "the error does not name the first instance's process: $(cat "$WORK/err4")"
echo "human: $(cat "$WORK/err4")"

set +e
timeout 30 "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" </dev/null >"$WORK/out5" 2>"$WORK/err5"
rc=$?
set -e
[[ $rc -eq 75 ]] || fail "second instance (--json) exited with $rc, expected 75"
"$PYTHON" - "$WORK/out5" "$DATA" <<'PY' || fail "run 4 --json output: $(cat "$WORK/out5")"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
if len(lines) != 1:
    sys.exit(f"expected exactly one line, got {lines!r}")
event = json.loads(lines[0])
if event.get("event") != "error" or event.get("fatal") is not True:
    sys.exit(f"expected a fatal error event, got {event!r}")
message = event.get("message", "")
if sys.argv[2] not in message or "--data-dir" not in message:
    sys.exit(f"the message does not name the directory and --data-dir: {message!r}")
PY
echo "json: $(cat "$WORK/out5")"

# The first instance did not notice and still answers.
echo "/whoami" >&"$HOLDER_IN"
read -r -t 30 -u "$HOLDER_OUT" line || fail "the first instance stopped answering"
[[ $line == *'"event":"whoami"'* && $line == *"$ID1"* ]] || fail "first instance: expected whoami, got: $line"
echo "/quit" >&"$HOLDER_IN"
read -r -t 30 -u "$HOLDER_OUT" line || fail "no bye from the first instance"
[[ $line == *'"event":"bye"'* ]] || fail "first instance: expected bye, got: $line"
wait "$HOLDER_PID" || fail "the first instance exited with $?"
exec {HOLDER_OUT}<&- {HOLDER_IN}>&-
HOLDER_PID=""

echo "-- run 5: after kill -9 of the holder, the directory is free again (no stale lock)"
start_first victim
kill -9 "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null || true
exec {HOLDER_OUT}<&- {HOLDER_IN}>&-
HOLDER_PID=""
printf '/whoami\n/quit\n' | timeout 30 "$CROSSCHAT" --no-lan --no-port-mapping --json --data-dir "$DATA" >"$WORK/out6" \
	|| fail "restart after kill -9 exited with $?"
ID6=$(check "$WORK/out6" ready whoami bye) || fail "run 5 output: $(cat "$WORK/out6")"
[[ "$ID6" == "$ID1" ]] || fail "peer ID changed after kill -9: $ID6"

echo "-- run 6: unsafe data directories are refused (exit 78) with what to run"
chmod 770 "$DATA"
set +e
printf '/quit\n' | "$CROSSCHAT" --no-lan --no-port-mapping --data-dir "$DATA" >/dev/null 2>"$WORK/err7"
rc=$?
set -e
chmod 700 "$DATA"
[[ $rc -eq 78 ]] || fail "a group-writable data directory: exit $rc, expected 78"
grep -qF -- "chmod go-w $DATA" "$WORK/err7" || fail "no chmod advice: $(cat "$WORK/err7")"
ln -s "$DATA" "$WORK/link"
set +e
printf '/quit\n' | "$CROSSCHAT" --no-lan --no-port-mapping --data-dir "$WORK/link" >/dev/null 2>"$WORK/err8"
rc=$?
set -e
[[ $rc -eq 78 ]] || fail "a symlinked data directory: exit $rc, expected 78"
grep -q "symbolic link" "$WORK/err8" || fail "no word about the link: $(cat "$WORK/err8")"
echo "exit 78: $(cat "$WORK/err7")"

echo "-- --help"
"$CROSSCHAT" --help >"$WORK/help" || fail "--help exited with $?"
grep -q -- "--data-dir" "$WORK/help" || fail "--help does not mention --data-dir"
grep -q -- "--relay-ca" "$WORK/help" || fail "--help does not mention --relay-ca"

echo "-- relay URLs and --relay-ca: refused before starting, with the reason"
# refused <exit status> <text> <options...>
refused()
{
	local status=$1 text=$2 rc
	shift 2
	set +e
	"$CROSSCHAT" --no-lan --no-port-mapping --data-dir "$DATA.relay" "$@" </dev/null >"$WORK/out4" 2>"$WORK/err4"
	rc=$?
	set -e
	[[ $rc -eq $status ]] || fail "'$*' exited with $rc, expected $status: $(cat "$WORK/err4")"
	grep -qF -- "$text" "$WORK/err4" || fail "'$*' did not say '$text': $(cat "$WORK/err4")"
}
refused 64 "unsupported scheme 'ftp'" --relay ftp://relay.example.org
refused 64 "--relay-ca (crosschat.relay-ca) is for an https:// relay, not http://relay.example.org" \
	--relay http://relay.example.org --relay-ca /etc/ssl/certs/ca-certificates.crt
refused 64 "and no relay is set" --relay-ca /etc/ssl/certs/ca-certificates.crt
refused 78 "cannot open CA file $WORK/no-such-ca.pem" --relay https://relay.example.org --relay-ca "$WORK/no-such-ca.pem"
printf 'not a certificate\n' > "$WORK/junk.pem"
refused 78 "holds no PEM certificate" --relay https://relay.example.org --relay-ca "$WORK/junk.pem"

echo "PASS"
