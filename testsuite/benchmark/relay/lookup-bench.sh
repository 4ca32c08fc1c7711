#!/usr/bin/env bash
# lookup-bench.sh — lookup requests/s and latency: crosschat-relay vs Syncthing's discovery
# server (stdiscosrv), side by side in one run, each server pinned to the same CPUs.
#
# Usage: testsuite/benchmark/relay/lookup-bench.sh [BUILD_DIR] [SECONDS] [RUNS]
#        (defaults: build-bench, 10, 3; needs wrk and syncthing-discosrv (apt), openssl, python3 with python3-cryptography,
#        and a build with -DCROSSCHAT_BUILD_BENCHMARKS=ON for RelayLoad)
# Environment: CONNECTIONS (default "50 1000": wrk keep-alive connections), PLACEMENTS
#        (default "one across"), SCHEMES (default "http https"), RELAY_PORT, DISCO_PORT.
#
# Placements (2-core machine):
#   one     every server pinned to CPU 0 (crosschat-relay with relay.eventLoops=1, stdiscosrv
#           with GOMAXPROCS=1), wrk pinned to CPU 1 with one thread: "per CPU".
#   across  every server on CPUs 0-1 (relay.eventLoops=2, GOMAXPROCS=2), wrk on CPUs 0-1 with
#           two threads, competing with the server as a real machine's other work would.
# Schemes:
#   http    crosschat-relay plain HTTP; stdiscosrv -http (as behind its HTTPS proxy).
#   https   crosschat-relay with --tls-cert/--tls-key; stdiscosrv serving TLS itself.
# Paths: GET /api/v1/peers/<id> of an announced peer (relay_announce.py, a signed announce)
# -> 200, and of an ID nobody announced (RelayLoad newid) -> 404; stdiscosrv
# GET /?device=<id> of an announced device (announced with a client certificate) -> 200, and
# of an unknown device -> 404. The relay's per-IP limits are lifted (wrk is one address).
# Every combination is measured once per round and the rounds repeated RUNS times, so that a
# change of the machine's load hits every server alike; medians are reported, with ratios.
# Every server is stopped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testsuite/benchmark/relay/common.sh
. "$here/common.sh"
build=${1:-build-bench}
seconds=${2:-10}
runs=${3:-3}
connections=${CONNECTIONS:-50 1000}
placements=${PLACEMENTS:-one across}
schemes=${SCHEMES:-http https}
relay_port=${RELAY_PORT:-15001}
disco_port=${DISCO_PORT:-18443}
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
for tool in wrk stdiscosrv openssl python3 taskset; do
	command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install wrk syncthing-discosrv openssl python3 util-linux)"; exit 1; }
done
bench_init relay-lookup
results="$BENCH_WORK/results.txt"
: >"$results"
ulimit -n "$(ulimit -Hn)"

# A certificate for the HTTPS servers (both get the same one).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
	-keyout "$BENCH_WORK/server-key.pem" -out "$BENCH_WORK/server-cert.pem" 2>/dev/null

cpus_of() { [ "$1" = one ] && echo 0 || echo 0,1; }
loops_of() { [ "$1" = one ] && echo 1 || echo 2; }

cpu_ticks()
	# cpu_ticks PID: user + system CPU time of the process (all threads), in clock ticks.
{
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run_wrk()
	# run_wrk LABEL EXPECTED_STATUS URL PLACEMENT CONNECTIONS PID: one wrk run; appends a result
	# row with the server's CPU time during the run (so requests per CPU-second, which the
	# machine's other load does not skew the way it skews requests per second).
{
	local label=$1 expected=$2 url=$3 placement=$4 conns=$5 pid=$6 out status threads cpus before after
	status=$(python3 -c "import ssl,sys,urllib.request,urllib.error
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
try: print(urllib.request.urlopen(sys.argv[1], timeout=5, context=ctx).status)
except urllib.error.HTTPError as e: print(e.code)" "$url")
	if [ "$status" != "$expected" ]; then
		echo "FAILED: $url answered $status, expected $expected"
		exit 1
	fi
	if [ "$placement" = one ]; then threads=1; cpus=1; else threads=2; cpus=0,1; fi
	echo "-- $label: taskset -c $cpus wrk -t$threads -c$conns -d${seconds}s --latency $url  (answers $status)"
	before=$(cpu_ticks "$pid")
	out=$(timeout $((seconds + 60)) taskset -c "$cpus" wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 5s --latency "$url")
	after=$(cpu_ticks "$pid")
	echo "$out" | sed 's/^/   /'
	echo "   server CPU: $(( (after - before) * 1000 / $(getconf CLK_TCK) )) ms"
	python3 - "$label" "$out" "$((after - before))" "$(getconf CLK_TCK)" "$seconds" >>"$results" <<'PY'
import re, sys
label, out, ticks, hz, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def unit(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else -1
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = unit(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = unit(re.search(r"\s99%\s+(\S+)", out).group(1))
errors = re.search(r"Socket errors:.*", out)
total = int(re.search(r"(\d+) requests in", out).group(1))
per_cpu = total / max(ticks / hz, 1e-9)
print(f"{label}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{errors.group(0) if errors else '-'}\t{per_cpu:.0f}")
PY
}

urls=()
port=$relay_port
dport=$disco_port
for scheme in $schemes; do
	for placement in $placements; do
		# --- crosschat-relay ---------------------------------------------------------------
		tls=()
		[ "$scheme" = https ] && tls=(--tls-cert "$BENCH_WORK/server-cert.pem" --tls-key "$BENCH_WORK/server-key.pem")
		# Each relay its own data directory: they run side by side, and a data directory is
		# locked by the relay that uses it.
		mkdir -p "$BENCH_WORK/relay-$port-data"
		relay_cmd=(taskset -c "$(cpus_of "$placement")" "$relay" --bind 127.0.0.1 --port "$port" --probe-port 0
			--data-dir "$BENCH_WORK/relay-$port-data"
			--define relay.eventLoops="$(loops_of "$placement")" --define relay.requestsPerSecondPerIp=100000000
			--define relay.maxHttpConnectionsPerIp=5000 --define relay.maxHttpConnections=5000 "${tls[@]}")
		echo "== crosschat-relay ($scheme, $placement): ${relay_cmd[*]}"
		bench_start "relay-$port" "${relay_cmd[@]}"
		relay_pid=$BENCH_LAST_PID
		bench_wait_port 127.0.0.1 "$port" 10 || { cat "$BENCH_WORK/relay-$port.log"; exit 1; }
		known=$(python3 "$here/relay_announce.py" "$scheme://127.0.0.1:$port")
		unknown=$("$load" newid)
		for conns in $connections; do
			urls+=("crosschat-relay $scheme $placement c$conns 200|200|$scheme://127.0.0.1:$port/api/v1/peers/$known|$placement|$conns|$relay_pid"
				"crosschat-relay $scheme $placement c$conns 404|404|$scheme://127.0.0.1:$port/api/v1/peers/$unknown|$placement|$conns|$relay_pid")
		done
		port=$((port + 1))

		# --- stdiscosrv ---------------------------------------------------------------------
		mkdir -p "$BENCH_WORK/disco-$dport"
		http=()
		[ "$scheme" = http ] && http=(-http)
		disco_cmd=(env GOMAXPROCS="$(loops_of "$placement")" taskset -c "$(cpus_of "$placement")" stdiscosrv "${http[@]}"
			-listen "127.0.0.1:$dport" -replication-listen "" -db-dir "$BENCH_WORK/disco-$dport/db"
			-cert "$BENCH_WORK/server-cert.pem" -key "$BENCH_WORK/server-key.pem")
		echo "== stdiscosrv $(stdiscosrv -version | cut -d' ' -f2) ($scheme, $placement): ${disco_cmd[*]}"
		bench_start "disco-$dport" "${disco_cmd[@]}"
		disco_pid=$BENCH_LAST_PID
		bench_wait_port 127.0.0.1 "$dport" 30 || { cat "$BENCH_WORK/disco-$dport.log"; exit 1; }
		read -r disco_known disco_unknown < <(python3 "$here/disco_announce.py" "$scheme" "$dport" "$BENCH_WORK/disco-$dport")
		for conns in $connections; do
			urls+=("stdiscosrv $scheme $placement c$conns 200|200|$scheme://127.0.0.1:$dport/?device=$disco_known|$placement|$conns|$disco_pid"
				"stdiscosrv $scheme $placement c$conns 404|404|$scheme://127.0.0.1:$dport/?device=$disco_unknown|$placement|$conns|$disco_pid")
		done
		dport=$((dport + 1))
	done
done

for run in $(seq 1 "$runs"); do
	echo "== round $run of $runs ($(uptime | sed 's/.*load/load/'))"
	for entry in "${urls[@]}"; do
		IFS='|' read -r label expected url placement conns pid <<<"$entry"
		run_wrk "$label" "$expected" "$url" "$placement" "$conns" "$pid"
	done
done
bench_stop_all

echo
echo "== results (wrk keep-alive, loopback, medians of $runs rounds)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
labels = list(dict.fromkeys(r[0] for r in rows))
med = {}
print(f"{'server scheme placement connections status':44} {'req/s':>9} {'req/CPU-s':>10} {'p50 ms':>7} {'p99 ms':>8}  req/s of each run; socket errors")
for label in labels:
    mine = [r for r in rows if r[0] == label]
    med[label] = [statistics.median(float(r[i]) for r in mine) for i in (1, 2, 3, 5)]
    print(f"{label:44} {med[label][0]:9.0f} {med[label][3]:10.0f} {med[label][1]:7.2f} {med[label][2]:8.2f}  "
          f"{[int(float(r[1])) for r in mine]}; {sorted({r[4] for r in mine})}")
for label in labels:
    if not label.startswith("crosschat-relay "):
        continue
    theirs = "stdiscosrv " + label[len("crosschat-relay "):]
    if theirs in med:
        o, t = med[label], med[theirs]
        print(f"RESULT {label[len('crosschat-relay '):]}: req/s {o[0] / t[0]:.2f}x, req per CPU-second {o[3] / t[3]:.2f}x, "
              f"p99 {o[2]:.2f} vs {t[2]:.2f} ms")
PY
