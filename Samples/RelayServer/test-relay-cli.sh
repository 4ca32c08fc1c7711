#!/bin/bash
#
# test-relay-cli.sh RELAY_BINARY PYTHON3 PROPERTIES_FILE
#
# CTest crosschat-relay-cli: checks that --help documents every option; that bad settings,
# unknown relay.* settings, unknown options and stray arguments are refused with a message naming
# them; that the relay started on 127.0.0.1 with --port 0 logs the port it got and answers /health
# with status "ok", and that SIGTERM stops it cleanly (exit status 0) within 10 seconds; and that
# --daemon reports start-up errors (port taken, unwritable log) before detaching, and otherwise
# detaches at once, writes its PID file and logs to relay.daemonLog until SIGTERM; that the PORT
# environment variable sets the port when no option does, and SIGHUP does not stop the relay.
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
# A copy in the work directory: the relay's default data directory is next to its settings file.
cp "$PROPERTIES" "$WORK/crosschat-relay.properties"
PROPERTIES="$WORK/crosschat-relay.properties"

fail()
{
	echo "FAIL: $*" >&2
	if [ -f "$WORK/relay.log" ]; then echo "--- relay log:" >&2; cat "$WORK/relay.log" >&2; fi
	exit 1
}

# 1. --help lists every option and exits 0.
"$RELAY" --help > "$WORK/help.txt" 2>&1 || fail "--help exited with $?"
for option in --help --port --probe-port --bind --config-file --define --daemon --pidfile --umask --tls-cert --tls-key --data-dir --name --expires --quota --admin; do
	grep -q -- "$option" "$WORK/help.txt" || fail "--help does not mention $option: $(cat "$WORK/help.txt")"
done
echo "ok: --help documents every option"

# 2. A bad setting is refused with a non-zero exit.
if "$RELAY" --config-file="$PROPERTIES" --define relay.bind=not-an-address > "$WORK/bad.log" 2>&1; then
	fail "a bad relay.bind was accepted"
fi
grep -q "relay.bind" "$WORK/bad.log" || fail "the bad relay.bind error does not name the setting: $(cat "$WORK/bad.log")"
echo "ok: bad settings are refused"

# expect_refusal STATUS TEXT ARGS...: the relay exits with STATUS and says TEXT on stderr.
expect_refusal()
{
	local status=$1 text=$2 rc
	shift 2
	"$RELAY" "$@" > "$WORK/refused.log" 2>&1
	rc=$?
	[ "$rc" -eq "$status" ] || fail "'$*' exited with $rc, expected $status: $(cat "$WORK/refused.log")"
	grep -qF -- "$text" "$WORK/refused.log" || fail "'$*' did not say '$text': $(cat "$WORK/refused.log")"
}
expect_refusal 78 "unknown setting relay.maxTunels (did you mean relay.maxTunnels?)" \
	--config-file="$PROPERTIES" --define relay.maxTunels=5
expect_refusal 78 "unknown setting relay.port.extra" --config-file="$PROPERTIES" --define relay.port.extra=1
expect_refusal 78 "relay.maxTunnels must be a whole number" --config-file="$PROPERTIES" --define relay.maxTunnels=-3
printf 'relay.tunnelIdleTimeout = 30\n' > "$WORK/typo.properties"
expect_refusal 78 "unknown setting relay.tunnelIdleTimeout (did you mean relay.tunnelIdleTimeoutSeconds?)" \
	--config-file="$WORK/typo.properties"
expect_refusal 64 "unexpected argument 'stray'" --config-file="$PROPERTIES" stray
expect_refusal 64 "Unknown option specified: no-such-option" --config-file="$PROPERTIES" --no-such-option
expect_refusal 78 "relay.daemonLog must be 'syslog' or an absolute file path" \
	--config-file="$PROPERTIES" --define relay.daemonLog=relative.log
echo "ok: unknown settings, unknown options and stray arguments are refused, naming them"

# Every setting the properties file documents (commented out, with its default) is known to the
# relay and its documented default is accepted: all of them uncommented at once start a relay.
grep -E '^# relay\.[A-Za-z]+ ?=' "$PROPERTIES" | sed -e 's/^# //' \
	-e 's/^relay\.bind *=.*/relay.bind = 127.0.0.1/' -e 's/^relay\.port *=.*/relay.port = 0/' \
	-e 's/^relay\.probePort *=.*/relay.probePort = 0/' > "$WORK/documented.properties"
documented=$(wc -l < "$WORK/documented.properties")
[ "$documented" -ge 30 ] || fail "only $documented documented settings found in $PROPERTIES"
"$RELAY" --config-file="$WORK/documented.properties" > "$WORK/documented.log" 2>&1 &
DOC_PID=$!
for _ in $(seq 1 100); do
	grep -q "listening on http://127.0.0.1:" "$WORK/documented.log" && break
	kill -0 "$DOC_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "listening on http://127.0.0.1:" "$WORK/documented.log" \
	|| { kill -KILL "$DOC_PID" 2>/dev/null; fail "the documented defaults do not start a relay: $(cat "$WORK/documented.log")"; }
kill -TERM "$DOC_PID"
wait "$DOC_PID" || fail "the relay with the documented defaults exited with $? on SIGTERM"
echo "ok: all $documented documented settings are known and their documented defaults accepted"

# --daemon: start-up errors come out on stderr with a non-zero status before detaching.
"$PYTHON" - "$RELAY" "$PROPERTIES" "$WORK" <<'PYEOF' || fail "--daemon did not report its start-up errors"
import socket, subprocess, sys, time
relay, properties, work = sys.argv[1:4]
taken = socket.socket()
taken.bind(("127.0.0.1", 0))   # no SO_REUSEPORT: nobody else can bind this port now
taken.listen()
port = taken.getsockname()[1]
base = [relay, "--config-file=" + properties, "--daemon", "--bind", "127.0.0.1"]
started = time.monotonic()
result = subprocess.run(base + ["--port", str(port), "--define", "relay.daemonLog=%s/daemon.log" % work],
                        capture_output=True, text=True, timeout=20)
if result.returncode != 69 or ("port %d is taken" % port) not in result.stderr:
    sys.exit("--daemon on a taken port: exit %d, stderr %r" % (result.returncode, result.stderr))
print("ok: --daemon on taken port %d exits 69 in %.2f s: %s" % (port, time.monotonic() - started, result.stderr.strip()[-120:]))
result = subprocess.run(base + ["--port", "0", "--define", "relay.daemonLog=/nonexistent-dir/relay.log"],
                        capture_output=True, text=True, timeout=20)
if result.returncode != 73 or "/nonexistent-dir/relay.log" not in result.stderr:
    sys.exit("--daemon with an unwritable log: exit %d, stderr %r" % (result.returncode, result.stderr))
print("ok: --daemon with an unwritable log file exits 73: %s" % result.stderr.strip()[-120:])
PYEOF

# Token commands: add prints the secret once, list shows the token without it, revoke by name.
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

# 3. Start on a free port; the log names it.
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

# 4. SIGTERM stops it with exit status 0 within 10 s.
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

# 5. PORT (platforms) sets the port when no option does; a bad one is refused naming it;
#    SIGHUP (certificate reload) does not stop a relay.
"$PYTHON" - "$RELAY" "$PROPERTIES" "$WORK" <<'PYEOF' || fail "PORT or SIGHUP did not behave"
import json, os, signal, socket, subprocess, sys, time, urllib.request
relay, properties, work = sys.argv[1:4]
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
base = [relay, "--config-file=" + properties, "--bind", "127.0.0.1", "--probe-port", "0", "--define", "relay.eventLoops=1"]
bad = subprocess.run(base, env=dict(os.environ, PORT="http"), capture_output=True, text=True, timeout=20)
if bad.returncode != 78 or "PORT environment variable" not in bad.stderr:
    sys.exit("PORT=http: exit %d, stderr %r" % (bad.returncode, bad.stderr))
log = open(os.path.join(work, "port.log"), "w+")
proc = subprocess.Popen(base, env=dict(os.environ, PORT=str(port)), stdout=log, stderr=subprocess.STDOUT)
try:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log.seek(0)
        if "listening on http://127.0.0.1:%d/" % port in log.read():
            break
        if proc.poll() is not None:
            sys.exit("the relay exited: " + open(log.name).read())
        time.sleep(0.05)
    else:
        sys.exit("the relay did not listen on PORT %d: %s" % (port, open(log.name).read()))
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as response:
        if json.loads(response.read().decode("utf-8")).get("status") != "ok":
            sys.exit("/health is not ok after SIGHUP")
    if proc.poll() is not None:
        sys.exit("SIGHUP stopped the relay")
    proc.send_signal(signal.SIGTERM)
    if proc.wait(15) != 0:
        sys.exit("exit status %d after SIGTERM" % proc.returncode)
finally:
    if proc.poll() is None:
        proc.kill()
print("ok: PORT=%d sets the port, PORT=http is refused, SIGHUP leaves the relay running" % port)
PYEOF

# 6. --daemon: the command returns 0 at once, the daemon writes its PID file, logs to the file
#    named by relay.daemonLog, serves /health, and SIGTERM stops it and removes the PID file.
"$PYTHON" - "$RELAY" "$PROPERTIES" "$WORK" <<'PYEOF' || fail "the daemon did not run as expected"
import json, os, re, signal, subprocess, sys, time, urllib.request
relay, properties, work = sys.argv[1:4]
log, pidfile = os.path.join(work, "daemon.log"), os.path.join(work, "relay.pid")
result = subprocess.run([relay, "--config-file=" + properties, "--daemon", "--bind", "127.0.0.1", "--port", "0",
                         "--define", "relay.eventLoops=1", "--define", "relay.daemonLog=" + log,
                         "--pidfile", pidfile], capture_output=True, text=True, timeout=20)
if result.returncode != 0:
    sys.exit("--daemon exited with %d: %r" % (result.returncode, result.stderr))
if "running in the background as process" not in result.stderr:
    sys.exit("--daemon did not say it runs in the background: %r" % result.stderr)
pid = int(open(pidfile).read().strip())
os.kill(pid, 0)
with open(log) as f:
    text = f.read()
match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", text)
if not match:
    sys.exit("no 'listening on' line in the daemon log: %r" % text)
with urllib.request.urlopen("http://127.0.0.1:%s/health" % match.group(1), timeout=5) as response:
    if json.loads(response.read().decode("utf-8")).get("status") != "ok":
        sys.exit("the daemon's /health is not ok")
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    time.sleep(0.05)
else:
    os.kill(pid, signal.SIGKILL)
    sys.exit("the daemon still runs 10 s after SIGTERM")
if os.path.exists(pidfile):
    sys.exit("the PID file is still there after the daemon stopped")
with open(log) as f:
    if "stopped" not in f.read():
        sys.exit("no 'stopped' line in the daemon log")
print("ok: --daemon returned 0 at once, process %d served /health, logged to relay.daemonLog, stopped on SIGTERM" % pid)
PYEOF
echo "PASS"
