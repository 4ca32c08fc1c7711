#!/usr/bin/env bash
# lookup-bench.sh — lookup requests/s: crosschat-relay vs Syncthing's discovery server (stdiscosrv).
#
# Usage: testsuite/benchmark/relay/lookup-bench.sh [BUILD_DIR] [SECONDS] [RUNS]
#        (defaults: build-bench, 10, 3; needs wrk and syncthing-discosrv (apt), and a build with
#        -DCROSSCHAT_BUILD_BENCHMARKS=ON for RelayLoad)
#
# The servers run side by side on 127.0.0.1 (idle while another one is measured); wrk
# (keep-alive, 50 connections, 2 threads, SECONDS per run) measures each path in turn, and the
# whole round is repeated RUNS times, so that a change in the machine's load hits every server
# alike; the median of the runs is reported:
#   crosschat-relay  GET /api/v1/peers/<id>   of a registered, online peer (RelayLoad keeps one
#                                             announced with its control channel open) -> 200
#                                             and of an ID nobody announced               -> 404
#   stdiscosrv -http GET /?device=<id>       of an announced device (announced with a client
#                                             certificate passed the way its HTTPS proxy would,
#                                             header X-SSL-Cert)                          -> 200
#                                             and of a device nobody announced            -> 404
# The relay runs twice: with its shipped settings and with relay.httpThreads=50 (one HTTP worker
# per wrk connection). Its per-IP request limit (relay.requestsPerSecondPerIp, default 20/s) is
# raised to 100,000,000 in both, so that the 429 path is not what is measured. stdiscosrv has
# no per-IP limit.
# Every server is stopped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testsuite/benchmark/relay/common.sh
. "$here/common.sh"
build=${1:-build-bench}
seconds=${2:-10}
runs=${3:-3}
relay_port=${RELAY_PORT:-15001}
disco_port=${DISCO_PORT:-18443}
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
for tool in wrk stdiscosrv openssl python3; do
	command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install wrk syncthing-discosrv openssl python3)"; exit 1; }
done
bench_init relay-lookup
results="$BENCH_WORK/results.txt"
: >"$results"

run_wrk()
	# run_wrk LABEL EXPECTED_STATUS URL: one wrk run; appends "LABEL rps p50 p99 non2xx errors" to $results.
{
	local label=$1 expected=$2 url=$3 out status
	status=$(python3 -c "import sys,urllib.request,urllib.error
try: print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e: print(e.code)" "$url")
	if [ "$status" != "$expected" ]; then
		echo "FAILED: $url answered $status, expected $expected"
		exit 1
	fi
	echo "-- $label: wrk -t2 -c50 -d${seconds}s --latency $url  (answers $status)"
	out=$(timeout $((seconds + 30)) wrk -t2 -c50 -d"${seconds}s" --timeout 5s --latency "$url")
	echo "$out" | sed 's/^/   /'
	python3 - "$label" "$out" >>"$results" <<'PY'
import re, sys
label, out = sys.argv[1], sys.argv[2]
def unit(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else -1
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = unit(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = unit(re.search(r"\s99%\s+(\S+)", out).group(1))
non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
errors = re.search(r"Socket errors:.*", out)
print(f"{label}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{non.group(1) if non else 0}\t{errors.group(0) if errors else '-'}")
PY
}

# --- crosschat-relay -------------------------------------------------------------------------
start_relay()
	# start_relay LABEL PORT [--define ...]: the relay with its defaults plus the given settings,
	# and one registered, online peer (RelayLoad announces it and keeps its control channel
	# open). Sets KNOWN and UNKNOWN (an ID nobody announced).
{
	local label=$1 port=$2 log
	shift 2
	local relay_cmd=("$relay" --bind 127.0.0.1 --port "$port" --define relay.requestsPerSecondPerIp=100000000 "$@")
	echo "== crosschat-relay ($label): ${relay_cmd[*]}"
	bench_start "relay-$port" "${relay_cmd[@]}"
	bench_wait_port 127.0.0.1 "$port" 10 || { cat "$BENCH_WORK/relay-$port.log"; exit 1; }
	bench_start "load-$port" "$load" peers --url "http://127.0.0.1:$port" --count 1 \
		--hold $((runs * 6 * (seconds + 2) + 120)) --timeout 30
	log="$BENCH_WORK/load-$port.log"
	for _ in $(seq 1 300); do   # at most 30 s
		grep -q '"event":"online"' "$log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '"event":"online"' "$log" || { echo "FAILED: the peer did not come online"; cat "$log"; exit 1; }
	KNOWN=$(python3 -c "import json,sys
for line in open(sys.argv[1]):
    if line.startswith('{') and json.loads(line).get('event') == 'peer': print(json.loads(line)['id']); break" "$log")
	UNKNOWN=$("$load" newid)
	echo "registered peer $KNOWN; unknown id $UNKNOWN"
}
# As shipped (relay.httpThreads = 8), and with one HTTP worker per wrk connection: Poco's
# HTTPServer keeps a keep-alive connection on its worker thread, so 50 connections on 8
# workers wait in its queue.
start_relay "defaults" "$relay_port"
urls=("crosschat-relay defaults 200 (registered peer)|200|http://127.0.0.1:$relay_port/api/v1/peers/$KNOWN"
	"crosschat-relay defaults 404 (unknown id)|404|http://127.0.0.1:$relay_port/api/v1/peers/$UNKNOWN")
start_relay "httpThreads=50" $((relay_port + 1)) --define relay.httpThreads=50
urls+=("crosschat-relay httpThreads=50 200 (registered peer)|200|http://127.0.0.1:$((relay_port + 1))/api/v1/peers/$KNOWN"
	"crosschat-relay httpThreads=50 404 (unknown id)|404|http://127.0.0.1:$((relay_port + 1))/api/v1/peers/$UNKNOWN")

# --- stdiscosrv --------------------------------------------------------------------------------
mkdir -p "$BENCH_WORK/disco"
disco_cmd=(stdiscosrv -http -listen "127.0.0.1:$disco_port" -replication-listen ""
	-db-dir "$BENCH_WORK/disco/db" -cert "$BENCH_WORK/disco/cert.pem" -key "$BENCH_WORK/disco/key.pem")
echo "== stdiscosrv $(stdiscosrv -version | cut -d' ' -f2): ${disco_cmd[*]}"
bench_start disco "${disco_cmd[@]}"
bench_wait_port 127.0.0.1 "$disco_port" 30 || { cat "$BENCH_WORK/disco.log"; exit 1; }
# A device certificate; its device ID is SHA-256 of the DER certificate (52-character base32 form,
# which stdiscosrv accepts as well as the form with check characters).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=syncthing \
	-keyout "$BENCH_WORK/disco/device-key.pem" -out "$BENCH_WORK/disco/device-cert.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=syncthing \
	-keyout "$BENCH_WORK/disco/other-key.pem" -out "$BENCH_WORK/disco/other-cert.pem" 2>/dev/null
read -r disco_known disco_unknown < <(python3 - "$BENCH_WORK/disco" "$disco_port" <<'PY'
import base64, hashlib, ssl, sys, urllib.parse, urllib.request
work, port = sys.argv[1], sys.argv[2]
def device_id(path):
    der = ssl.PEM_cert_to_DER_cert(open(path).read())
    return base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=")
pem = open(f"{work}/device-cert.pem").read()
# Announce as stdiscosrv's HTTPS proxy would forward it (certificate in X-SSL-Cert, URL-encoded).
request = urllib.request.Request(f"http://127.0.0.1:{port}/", method="POST",
                                 data=b'{"addresses":["tcp://192.0.2.7:22000"]}',
                                 headers={"X-SSL-Cert": urllib.parse.quote(pem), "X-Forwarded-For": "192.0.2.7",
                                          "Content-Type": "application/json"})
assert urllib.request.urlopen(request, timeout=5).status == 204
print(device_id(f"{work}/device-cert.pem"), device_id(f"{work}/other-cert.pem"))
PY
)
echo "announced device $disco_known; unknown device $disco_unknown"
urls+=("stdiscosrv 200 (announced device)|200|http://127.0.0.1:$disco_port/?device=$disco_known"
	"stdiscosrv 404 (unknown device)|404|http://127.0.0.1:$disco_port/?device=$disco_unknown")

for run in $(seq 1 "$runs"); do
	echo "== round $run of $runs ($(uptime | sed 's/.*load/load/'))"
	for entry in "${urls[@]}"; do
		IFS='|' read -r label expected url <<<"$entry"
		run_wrk "$label" "$expected" "$url"
	done
done
for port in "$relay_port" $((relay_port + 1)); do
	echo "relay :$port /health: $(python3 -c "import urllib.request,sys;print(urllib.request.urlopen(sys.argv[1],timeout=5).read().decode()[:300])" "http://127.0.0.1:$port/health")"
done
bench_stop_all

echo
echo "== results (wrk -t2 -c50 -d${seconds}s, keep-alive, loopback, $runs rounds)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
labels = list(dict.fromkeys(r[0] for r in rows))
med = {}
print(f"{'server / path (median of the runs)':52} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}  req/s of each run; non-2xx; socket errors")
for label in labels:
    mine = [r for r in rows if r[0] == label]
    med[label] = [statistics.median(float(r[i]) for r in mine) for i in (1, 2, 3)]
    print(f"{label:52} {med[label][0]:9.0f} {med[label][1]:7.2f} {med[label][2]:7.2f}  "
          f"{[int(float(r[1])) for r in mine]}; {sum(int(r[4]) for r in mine)}; {sorted({r[5] for r in mine})}")
for config in ("defaults", "httpThreads=50"):
    for ours, theirs in ((f"crosschat-relay {config} 200 (registered peer)", "stdiscosrv 200 (announced device)"),
                         (f"crosschat-relay {config} 404 (unknown id)", "stdiscosrv 404 (unknown device)")):
        if ours in med and theirs in med:
            print(f"RESULT {ours} / {theirs}: {med[ours][0] / med[theirs][0]:.2f}")
PY
