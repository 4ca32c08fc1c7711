#!/usr/bin/env bash
# tunnel-bench.sh — bulk throughput: crosschat-relay tunnel vs Syncthing's relay (strelaysrv) vs
# direct TCP, all on loopback.
#
# Usage: testsuite/benchmark/relay/tunnel-bench.sh [BUILD_DIR] [MIB] [RUNS]
#        (defaults: build-bench, 256, 5; needs syncthing-relaysrv and openssl (apt), and a build
#        with -DCROSSCHAT_BUILD_BENCHMARKS=ON for RelayLoad)
# Environment: PLACEMENT (default "one": every server on CPU 0, every client on CPU 1;
#        "across": servers and clients on CPUs 0-1).
#
# Each measurement moves MIB MiB one way in 64 KiB writes. Both relays run side by side (idle
# while another path is measured); a round measures every path once, and RUNS rounds are run so
# that a change in the machine's load hits every path alike (the median is reported):
#   crosschat-relay  RelayLoad tunnel-raw over http:// and over https:// (the relay's TLS with its
#                    X.509 certificate on both tunnel ends): two control channels, a signed POST
#                    /api/v1/tunnels, both ends joined; A pumps, B counts (one EventLoop, TcpConnection
#                    with backpressure).
#   direct (C++)     RelayLoad direct: the same pump over one direct loopback TcpConnection.
#   strelaysrv       strelay_pump.py relay: relay protocol v1 (TLS protocol mode with client
#                    certificates made by openssl, JoinRelayRequest / ConnectRequest /
#                    SessionInvitation, then JoinSessionRequest in session mode); a Python pump
#                    (sendall / recv_into, 1 MiB receive buffer).
#   direct (Python)  strelay_pump.py direct: the same Python pump over one direct loopback socket.
# Each relay is compared with the direct baseline of its own client code. The relay's CPU time
# during each run is read from /proc and reported per MB carried (both servers alike).
# Rate limits are lifted for the benchmark: crosschat-relay relay.tunnelRateBytesPerSecond and
# relay.globalRateBytesPerSecond = 100 GB/s (defaults 1 MiB/s and 100 MiB/s), strelaysrv
# -per-session-rate 0 -global-rate 0 (its defaults: unlimited). Both servers are stopped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testsuite/benchmark/relay/common.sh
. "$here/common.sh"
build=${1:-build-bench}
mib=${2:-256}
runs=${3:-5}
bytes=$((mib * 1024 * 1024))
relay_port=${RELAY_PORT:-15002}
tls_port=$((relay_port + 1))
placement=${PLACEMENT:-one}
if [ "$placement" = one ]; then server_cpus=0; client_cpus=1; loops=1; else server_cpus=0,1; client_cpus=0,1; loops=2; fi
strelay_port=${STRELAY_PORT:-22067}
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
for tool in strelaysrv openssl python3; do
	command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install syncthing-relaysrv openssl python3)"; exit 1; }
done
bench_init relay-tunnel
results="$BENCH_WORK/results.txt"
: >"$results"

cpu_ticks() { [ -n "$1" ] && awk '{ print $14 + $15 }' "/proc/$1/stat" || echo 0; }

measure()
	# measure LABEL SERVER_PID COMMAND...: runs COMMAND (prints one JSON line) once, pinned to the
	# client CPUs; records MB/s and the server's CPU time.
{
	local label=$1 pid=$2 line before after
	shift 2
	before=$(cpu_ticks "$pid")
	line=$(timeout 150 taskset -c "$client_cpus" "$@" 2>>"$BENCH_WORK/clients.log" | tail -n 1) || true
	after=$(cpu_ticks "$pid")
	echo "   $label: $line (server CPU $(( (after - before) * 1000 / $(getconf CLK_TCK) )) ms)"
	python3 - "$label" "$line" "$((after - before))" "$(getconf CLK_TCK)" "$bytes" >>"$results" <<'PY'
import json, sys
label, line, ticks, hz, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.loads(line) if line.startswith("{") else {}
if "MBps" in r:
    ok, mbps = not r.get("error"), r["MBps"]
else:
    ok, mbps = r.get("received") == r.get("bytes") and not r.get("error"), r.get("mib_per_s", 0) * 1.048576
cpu_us_per_mb = ticks / hz * 1e6 / (size / 1e6) if ticks else 0
print(f"{label}\t{mbps if ok else 0}\t{'' if ok else (r.get('error') or 'no result')}\t{cpu_us_per_mb:.0f}")
PY
}

# --- servers (side by side; each is idle while another path is measured) ----------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$BENCH_WORK/relay-key.pem" -out "$BENCH_WORK/relay-cert.pem" 2>/dev/null
relay_cmd=(taskset -c "$server_cpus" "$relay" --bind 127.0.0.1 --port "$relay_port" --probe-port 0
	--define relay.eventLoops="$loops"
	--define relay.tunnelRateBytesPerSecond=100000000000
	--define relay.globalRateBytesPerSecond=100000000000
	--define relay.requestsPerSecondPerIp=1000)
echo "== crosschat-relay: ${relay_cmd[*]}"
bench_start relay "${relay_cmd[@]}"
relay_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$relay_port" 10 || { cat "$BENCH_WORK/relay.log"; exit 1; }
tls_cmd=(taskset -c "$server_cpus" "$relay" --bind 127.0.0.1 --port "$tls_port" --probe-port 0
	--define relay.eventLoops="$loops"
	--define relay.tunnelRateBytesPerSecond=100000000000
	--define relay.globalRateBytesPerSecond=100000000000
	--define relay.requestsPerSecondPerIp=1000
	--tls-cert "$BENCH_WORK/relay-cert.pem" --tls-key "$BENCH_WORK/relay-key.pem")
echo "== crosschat-relay (HTTPS): ${tls_cmd[*]}"
bench_start relay-tls "${tls_cmd[@]}"
tls_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$tls_port" 10 || { cat "$BENCH_WORK/relay-tls.log"; exit 1; }
mkdir -p "$BENCH_WORK/strelay"
for device in a b; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=syncthing \
		-keyout "$BENCH_WORK/strelay/$device-key.pem" -out "$BENCH_WORK/strelay/$device-cert.pem" 2>/dev/null
done
strelay_cmd=(env GOMAXPROCS="$loops" taskset -c "$server_cpus" strelaysrv -listen "127.0.0.1:$strelay_port" -pools="" -protocol tcp4 -status-srv=""
	-keys "$BENCH_WORK/strelay" -per-session-rate 0 -global-rate 0)
echo "== strelaysrv $(strelaysrv -version | cut -d' ' -f2): ${strelay_cmd[*]}"
bench_start strelay "${strelay_cmd[@]}"
strelay_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$strelay_port" 30 || { cat "$BENCH_WORK/strelay.log"; exit 1; }

# --- rounds: every path once per round, so that load changes hit them alike --------------------
for run in $(seq 1 "$runs"); do
	echo "== round $run of $runs, $mib MiB each ($(uptime | sed 's/.*load/load/'))"
	measure "direct TCP, C++ pump (RelayLoad direct)" "" "$load" direct --bytes "$bytes" --timeout 120
	measure "crosschat-relay tunnel, http (RelayLoad tunnel-raw)" "$relay_pid" "$load" tunnel-raw \
		--url "http://127.0.0.1:$relay_port" --bytes "$bytes" --timeout 120
	measure "crosschat-relay tunnel, https (RelayLoad tunnel-raw)" "$tls_pid" "$load" tunnel-raw \
		--url "https://127.0.0.1:$tls_port" --ca "$BENCH_WORK/relay-cert.pem" --bytes "$bytes" --timeout 120
	measure "direct TCP, Python pump (strelay_pump.py direct)" "" python3 "$here/strelay_pump.py" direct \
		--bytes "$bytes" --timeout 120
	measure "strelaysrv session (strelay_pump.py relay)" "$strelay_pid" python3 "$here/strelay_pump.py" relay \
		--relay "127.0.0.1:$strelay_port" \
		--cert-a "$BENCH_WORK/strelay/a-cert.pem" --key-a "$BENCH_WORK/strelay/a-key.pem" \
		--cert-b "$BENCH_WORK/strelay/b-cert.pem" --key-b "$BENCH_WORK/strelay/b-key.pem" --bytes "$bytes" --timeout 120
done
echo "relay /health: $(python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$relay_port/health',timeout=5).read().decode()[:300])")"
bench_stop_all

echo
echo "== results ($mib MiB one way, median of $runs runs, loopback)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
labels = list(dict.fromkeys(r[0] for r in rows))
med, cpu = {}, {}
for label in labels:
    values = [float(r[1]) for r in rows if r[0] == label]
    cpus = [float(r[3]) for r in rows if r[0] == label and float(r[3]) > 0]
    errors = [r[2] for r in rows if r[0] == label and r[2]]
    med[label] = statistics.median(values)
    cpu[label] = statistics.median(cpus) if cpus else 0
    print(f"{label:56} {med[label]:9.1f} MB/s" + (f"  server CPU {cpu[label]:.0f} us/MB" if cpu[label] else "")
          + f"  runs {[round(v) for v in values]}" + (f"  errors {errors}" if errors else ""))
def ratio(a, b, table=med):
    return f"{table[a] / table[b]:.2f}" if table.get(a) and table.get(b) else "n/a"
ours_http = "crosschat-relay tunnel, http (RelayLoad tunnel-raw)"
ours_tls = "crosschat-relay tunnel, https (RelayLoad tunnel-raw)"
theirs = "strelaysrv session (strelay_pump.py relay)"
print(f"RESULT crosschat-relay http / direct (C++ pump): {ratio(ours_http, 'direct TCP, C++ pump (RelayLoad direct)')}")
print(f"RESULT strelaysrv / direct (Python pump): {ratio(theirs, 'direct TCP, Python pump (strelay_pump.py direct)')}")
print(f"RESULT crosschat-relay http / strelaysrv MB/s: {ratio(ours_http, theirs)}; CPU per MB {ratio(ours_http, theirs, cpu)}")
print(f"RESULT crosschat-relay https / strelaysrv MB/s: {ratio(ours_tls, theirs)}; CPU per MB {ratio(ours_tls, theirs, cpu)}")
PY
