#!/bin/bash
#
# test-relay-cli.sh RELAY_BINARY PYTHON3 PROPERTIES_FILE
#
# CTest crosschat-relay-cli: checks that --help documents every option, that the relay started
# on 127.0.0.1 with --port 0 logs the port it got and answers /health with status "ok", and that
# SIGTERM stops it cleanly (exit status 0) within 10 seconds.
#

set -u
RELAY=$1
PYTHON=$2
PROPERTIES=$3

WORK=$(mktemp -d)
PID=""
cleanup()
{
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

fail()
{
	echo "FAIL: $*" >&2
	if [ -f "$WORK/relay.log" ]; then echo "--- relay log:" >&2; cat "$WORK/relay.log" >&2; fi
	exit 1
}

# 1. --help lists every option and exits 0.
"$RELAY" --help > "$WORK/help.txt" 2>&1 || fail "--help exited with $?"
for option in --help --port --bind --config-file --define --daemon --pidfile --tls-cert --tls-key --data-dir --name --expires --quota --admin; do
	grep -q -- "$option" "$WORK/help.txt" || fail "--help does not mention $option: $(cat "$WORK/help.txt")"
done
echo "ok: --help documents every option"

# 2. A bad setting is refused with a non-zero exit.
if "$RELAY" --config-file="$PROPERTIES" --define relay.bind=not-an-address > "$WORK/bad.log" 2>&1; then
	fail "a bad relay.bind was accepted"
fi
grep -q "relay.bind" "$WORK/bad.log" || fail "the bad relay.bind error does not name the setting: $(cat "$WORK/bad.log")"
echo "ok: bad settings are refused"

# 3. Token commands: add prints the secret once, list shows the token without it, revoke by name.
DATA="$WORK/data"
"$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token add --name ci --expires 30d --quota peers=3,mailbox=1M \
	> "$WORK/token.txt" 2> "$WORK/token.err" || fail "token add exited with $?: $(cat "$WORK/token.err")"
SECRET=$(cat "$WORK/token.txt")
[[ "$SECRET" =~ ^cxrt_[A-Za-z0-9_-]{43}$ ]] || fail "token add printed '$SECRET', not a token"
[ "$(stat -c %a "$DATA")" = "700" ] || fail "the data directory is not private: $(stat -c %a "$DATA")"
"$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token list > "$WORK/list.txt" 2>&1 || fail "token list exited with $?"
grep -q "tok-[0-9a-f]\{12\}  ci  created .* in force until .* peers=3 mailbox=1048576" "$WORK/list.txt" \
	|| fail "token list: $(cat "$WORK/list.txt")"
grep -q "$SECRET" "$WORK/list.txt" "$DATA/relay.db" && fail "the secret is shown or stored"
if "$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token add --quota bogus=1 > /dev/null 2>&1; then fail "a bad quota was accepted"; fi
if "$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token revoke nobody > /dev/null 2>&1; then fail "revoking an unknown token succeeded"; fi
"$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token revoke ci > /dev/null 2>&1 || fail "token revoke ci failed"
"$RELAY" --config-file="$PROPERTIES" --data-dir="$DATA" token list 2>&1 | grep -q "  ci  .* revoked" || fail "the token is not shown revoked"
echo "ok: token add, list and revoke"

# 4. Start on a free port; the log names it.
"$RELAY" --config-file="$PROPERTIES" --port=0 --bind=127.0.0.1 --define relay.eventLoops=1 --data-dir="$DATA" > "$WORK/relay.log" 2>&1 &
PID=$!

"$PYTHON" - "$WORK/relay.log" "$PID" <<'PYEOF' || fail "the relay did not answer /health as expected"
import json, os, re, sys, time, urllib.request
log, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 10
port = None
while time.time() < deadline and port is None:
    with open(log, errors="replace") as f:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", f.read())
    if m:
        port = int(m.group(1))
        break
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the relay exited before it was listening")
    time.sleep(0.05)
if port is None or port == 0:
    sys.exit("no 'listening on http://127.0.0.1:PORT/' line in the log within 10 s")
with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as response:
    if response.status != 200:
        sys.exit("/health answered %d" % response.status)
    health = json.loads(response.read().decode("utf-8"))
if health.get("status") != "ok":
    sys.exit("/health status is %r, expected 'ok': %r" % (health.get("status"), health))
for field in ("peers", "uptime_s"):
    if field not in health:
        sys.exit("/health lacks %r: %r" % (field, health))
print("ok: relay on port %d answers /health: %s" % (port, json.dumps(health, sort_keys=True)[:200]))
PYEOF

# 5. SIGTERM stops it with exit status 0 within 10 s.
kill -TERM "$PID"
for _ in $(seq 1 100); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then fail "the relay still runs 10 s after SIGTERM"; fi
wait "$PID"
STATUS=$?
PID=""
[ "$STATUS" -eq 0 ] || fail "the relay exited with status $STATUS after SIGTERM"
grep -q "stopped" "$WORK/relay.log" || fail "no 'stopped' line in the log"
echo "ok: SIGTERM stops the relay with exit status 0"
echo "PASS"
