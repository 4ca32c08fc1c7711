#!/bin/bash
#
# check-rules.sh PROMTOOL PYTHON3 [RELAY_BINARY]
#
# CTest crosschat-relay-alert-rules: `promtool check rules` on crosschat-relay.rules.yml (syntax,
# PromQL, templates), `promtool test rules` on crosschat-relay.rules.test.yml (each alert fires,
# with its labels and annotations, when and only when it should). With RELAY_BINARY it also
# starts that relay on 127.0.0.1 (a free port) and checks that every crosschat_relay_* series
# the rules read, and every refusal reason they select, is in its /metrics: rules about series
# the relay does not export would never fire.
#
set -u
PROMTOOL=$1
PYTHON=$2
RELAY=${3:-}
if [ -n "$RELAY" ]; then RELAY=$(cd "$(dirname "$RELAY")" && pwd)/$(basename "$RELAY"); fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

cd "$HERE" || fail "cannot enter $HERE"
"$PROMTOOL" check rules crosschat-relay.rules.yml || fail "promtool check rules"
"$PROMTOOL" test rules crosschat-relay.rules.test.yml || fail "promtool test rules"
echo "ok: promtool check rules and promtool test rules"

[ -n "$RELAY" ] || { echo "PASS (no relay binary given: exported series not checked)"; exit 0; }

"$PYTHON" - "$RELAY" crosschat-relay.rules.yml <<'PYEOF' || fail "the rules read series the relay does not export"
import os, re, signal, subprocess, sys, tempfile, time, urllib.request
relay, rules = sys.argv[1], sys.argv[2]
text = open(rules, encoding="utf-8").read()
# Series the rules read: crosschat_relay_* names outside comments and annotations (the names
# the rules record have a colon: crosschat_relay:...).
code = "\n".join(line for line in text.splitlines()
                 if not line.strip().startswith(("#", "summary:", "description:")))
wanted = sorted(set(re.findall(r"\b(crosschat_relay_[a-z0-9_]+)\b", code)))
with tempfile.TemporaryDirectory() as work:
    log = open(os.path.join(work, "relay.log"), "w+")
    proc = subprocess.Popen([relay, "--bind", "127.0.0.1", "--port", "0", "--probe-port", "0",
                             "--define", "relay.eventLoops=1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        port, deadline = None, time.monotonic() + 10
        while port is None and time.monotonic() < deadline:
            log.seek(0)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", log.read())
            if m:
                port = int(m.group(1))
            elif proc.poll() is not None:
                sys.exit("the relay exited: " + open(log.name).read())
            else:
                time.sleep(0.05)
        if port is None:
            sys.exit("the relay did not log its port within 10 s")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
            metrics = response.read().decode("utf-8")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
exported = set(re.findall(r"^(crosschat_relay_[a-z0-9_]+)(?:\{| )", metrics, re.M))
missing = [name for name in wanted if name not in exported]
if missing:
    sys.exit("series read by the rules but not exported at /metrics: %s" % ", ".join(missing))
# The refusal reasons the rules select (reason="x" or reason=~"x|y") are reasons the relay counts.
reasons = set(re.findall(r'^crosschat_relay_rejected_total\{reason="([a-z_]+)"\}', metrics, re.M))
selected = set()
for pattern in re.findall(r'reason=~?"([a-z_|]+)"', code):
    selected.update(pattern.split("|"))
unknown = sorted(selected - reasons)
if unknown:
    sys.exit("refusal reasons the rules select but the relay does not count: %s (it counts %s)"
             % (", ".join(unknown), ", ".join(sorted(reasons))))
print("ok: the %d crosschat_relay_* series the rules read are all exported: %s" % (len(wanted), ", ".join(wanted)))
print("ok: the refusal reasons they select are counted: %s" % ", ".join(sorted(selected)))
PYEOF
echo "PASS"
