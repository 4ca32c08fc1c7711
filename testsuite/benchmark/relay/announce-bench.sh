#!/usr/bin/env bash
# announce-bench.sh — announces per second: crosschat-relay (an Ed25519 signature checked per
# request) vs Syncthing's discovery server (stdiscosrv, the device proven by its TLS client
# certificate), side by side in one run, servers on CPU 0, load generators on CPU 1.
#
# Usage: testsuite/benchmark/relay/announce-bench.sh [BUILD_DIR] [SECONDS] [RUNS]
#        (defaults: build-bench, 10, 3; needs wrk, ab (apache2-utils), syncthing-discosrv,
#        openssl, python3, and a build with -DCROSSCHAT_BUILD_BENCHMARKS=ON for RelayLoad)
#
#   crosschat-relay keep-alive  RelayLoad announce: 50 connections, each sending a signed
#                               POST /api/v1/announce (fresh signature and nonce) as soon as the
#                               last is answered.
#   crosschat-relay new conn.   the same with a new TCP connection per announce.
#   stdiscosrv keep-alive       wrk, 50 connections: POST / over plain HTTP with the device
#                               certificate in X-SSL-Cert, as behind its HTTPS proxy (no proof
#                               per request: the proxy did the TLS handshake once).
#   stdiscosrv new conn.        ab -E, 50 concurrent: POST / over TLS, a new handshake with the
#                               device's client certificate per announce (how a device proves
#                               itself to a stdiscosrv that serves TLS itself).
# Each server's CPU time per run is read from /proc: requests per CPU-second is reported next to
# requests per second (it does not depend on how fast the load generator is). Medians of RUNS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testsuite/benchmark/relay/common.sh
. "$here/common.sh"
build=${1:-build-bench}
seconds=${2:-10}
runs=${3:-3}
relay_port=${RELAY_PORT:-15061}
disco_http=${DISCO_PORT:-18461}
disco_tls=$((disco_http + 1))
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
for tool in wrk ab stdiscosrv openssl python3 taskset; do
	command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install wrk apache2-utils syncthing-discosrv openssl python3)"; exit 1; }
done
bench_init relay-announce
ulimit -n "$(ulimit -Hn)"
results="$BENCH_WORK/results.txt"
: >"$results"
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

record()
	# record LABEL REQUESTS SECONDS TICKS P50_MS P99_MS
{
	python3 -c "import sys; l,r,s,t,a,b=sys.argv[1:]; r,s,t=float(r),float(s),int(t); print(f'{l}\t{r/s:.0f}\t{r/max(t/$hz,1e-9):.0f}\t{a}\t{b}')" "$@" >>"$results"
}

# --- servers -----------------------------------------------------------------------------------
relay_cmd=(taskset -c 0 "$relay" --bind 127.0.0.1 --port "$relay_port" --probe-port 0 --define relay.eventLoops=1
	--define relay.requestsPerSecondPerIp=100000000 --define relay.maxHttpConnectionsPerIp=5000
	--define relay.maxPeersPerIp=100000)
echo "== crosschat-relay: ${relay_cmd[*]}"
bench_start relay "${relay_cmd[@]}"
relay_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$relay_port" 10 || { cat "$BENCH_WORK/relay.log"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
	-keyout "$BENCH_WORK/server-key.pem" -out "$BENCH_WORK/server-cert.pem" 2>/dev/null
for mode in http tls; do
	port=$disco_http; flag=(-http)
	[ "$mode" = tls ] && { port=$disco_tls; flag=(); }
	mkdir -p "$BENCH_WORK/disco-$mode"
	cmd=(env GOMAXPROCS=1 taskset -c 0 stdiscosrv "${flag[@]}" -listen "127.0.0.1:$port" -replication-listen ""
		-db-dir "$BENCH_WORK/disco-$mode/db" -cert "$BENCH_WORK/server-cert.pem" -key "$BENCH_WORK/server-key.pem")
	echo "== stdiscosrv ($mode): ${cmd[*]}"
	bench_start "disco-$mode" "${cmd[@]}"
	eval "disco_${mode}_pid=$BENCH_LAST_PID"
	bench_wait_port 127.0.0.1 "$port" 30 || { cat "$BENCH_WORK/disco-$mode.log"; exit 1; }
done
# A device certificate; the wrk script sends it in X-SSL-Cert, ab presents it in the handshake.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=syncthing \
	-keyout "$BENCH_WORK/device-key.pem" -out "$BENCH_WORK/device-cert.pem" 2>/dev/null
cat "$BENCH_WORK/device-cert.pem" "$BENCH_WORK/device-key.pem" >"$BENCH_WORK/device.pem"
printf '%s' '{"addresses":["tcp://192.0.2.7:22000"]}' >"$BENCH_WORK/announce.json"
python3 - "$BENCH_WORK" <<'PY'
import sys, urllib.parse
work = sys.argv[1]
pem = urllib.parse.quote(open(f"{work}/device-cert.pem").read())
open(f"{work}/announce.lua", "w").write(
    'wrk.method = "POST"\n'
    'wrk.body = \'{"addresses":["tcp://192.0.2.7:22000"]}\'\n'
    'wrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["X-Forwarded-For"] = "192.0.2.7"\n'
    f'wrk.headers["X-SSL-Cert"] = "{pem}"\n')
PY

for run in $(seq 1 "$runs"); do
	echo "== round $run of $runs ($(uptime | sed 's/.*load/load/'))"
	for mode in keepalive newconn; do
		flag=()
		[ "$mode" = newconn ] && flag=(--new-connections 1)
		before=$(cpu_ticks "$relay_pid")
		line=$(timeout $((seconds + 60)) taskset -c 1 "$load" announce --url "http://127.0.0.1:$relay_port" --connections 50 \
			--seconds "$seconds" "${flag[@]}" | tail -n 1)
		after=$(cpu_ticks "$relay_pid")
		echo "-- crosschat-relay $mode: $line (server CPU $(( (after - before) * 1000 / hz )) ms)"
		read -r requests secs p50 p99 < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert list(r['statuses'])==['200'], r; print(r['requests'], r['seconds'], r['p50_ms'], r['p99_ms'])" "$line")
		record "crosschat-relay $mode" "$requests" "$secs" "$((after - before))" "$p50" "$p99"
	done
	before=$(cpu_ticks "$disco_http_pid")
	out=$(timeout $((seconds + 60)) taskset -c 1 wrk -t1 -c50 -d"${seconds}s" --latency -s "$BENCH_WORK/announce.lua" "http://127.0.0.1:$disco_http/")
	after=$(cpu_ticks "$disco_http_pid")
	echo "$out" | sed 's/^/   /'
	read -r requests secs p50 p99 < <(python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def unit(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
n = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
secs = float(n.group(2)) * (60 if n.group(3) == "m" else 1)
assert "Non-2xx" not in out, out
print(n.group(1), secs, unit(re.search(r"\s50%\s+(\S+)", out).group(1)), unit(re.search(r"\s99%\s+(\S+)", out).group(1)))
PY
)
	record "stdiscosrv keepalive" "$requests" "$secs" "$((after - before))" "$p50" "$p99"
	before=$(cpu_ticks "$disco_tls_pid")
	out=$(timeout $((seconds + 60)) taskset -c 1 ab -q -t "$seconds" -n 10000000 -c 50 -E "$BENCH_WORK/device.pem" \
		-p "$BENCH_WORK/announce.json" -T application/json "https://127.0.0.1:$disco_tls/" 2>&1)
	after=$(cpu_ticks "$disco_tls_pid")
	echo "$out" | grep -E 'Complete requests|Failed requests|Non-2xx|Requests per second|Time taken|  50%|  99%' | sed 's/^/   /'
	read -r requests secs p50 p99 < <(python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
done = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
assert failed == 0 and not non2xx, out[-800:]
secs = float(re.search(r"Time taken for tests:\s+([\d.]+)", out).group(1))
print(done, secs, re.search(r"\s50%\s+(\d+)", out).group(1), re.search(r"\s99%\s+(\d+)", out).group(1))
PY
)
	record "stdiscosrv newconn" "$requests" "$secs" "$((after - before))" "$p50" "$p99"
done
bench_stop_all

echo
echo "== results (50 concurrent clients, servers on CPU 0, clients on CPU 1, medians of $runs rounds)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
labels = list(dict.fromkeys(r[0] for r in rows))
med = {}
print(f"{'server, mode':32} {'req/s':>8} {'req/CPU-s':>10} {'p50 ms':>7} {'p99 ms':>7}  req/s of each run")
for label in labels:
    mine = [r for r in rows if r[0] == label]
    med[label] = [statistics.median(float(r[i]) for r in mine) for i in (1, 2, 3, 4)]
    print(f"{label:32} {med[label][0]:8.0f} {med[label][1]:10.0f} {med[label][2]:7.2f} {med[label][3]:7.2f}  {[int(float(r[1])) for r in mine]}")
ours = med["crosschat-relay keepalive"]
for theirs in ("stdiscosrv keepalive", "stdiscosrv newconn"):
    t = med[theirs]
    print(f"RESULT crosschat-relay keep-alive / {theirs}: req/s {ours[0] / t[0]:.2f}x, per CPU-second {ours[1] / t[1]:.2f}x")
o = med["crosschat-relay newconn"]
t = med["stdiscosrv newconn"]
print(f"RESULT crosschat-relay new connection / stdiscosrv new connection: req/s {o[0] / t[0]:.2f}x, per CPU-second {o[1] / t[1]:.2f}x")
PY
