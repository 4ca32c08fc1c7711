#!/usr/bin/env bash
# tunnel-bench.sh — bulk throughput: crosschat-relay tunnel vs Syncthing's relay (strelaysrv) vs
# direct TCP, all on loopback.
#
# Usage: testsuite/benchmark/relay/tunnel-bench.sh [BUILD_DIR] [MIB] [RUNS]
#        (defaults: build-bench, 256, 5; needs syncthing-relaysrv and openssl (apt), and a build
#        with -DCROSSCHAT_BUILD_BENCHMARKS=ON for RelayLoad)
#
# Each measurement moves MIB MiB one way in 64 KiB writes. Both relays run side by side (idle
# while another path is measured); a round measures every path once, and RUNS rounds are run so
# that a change in the machine's load hits every path alike (the median is reported):
#   crosschat-relay  RelayLoad tunnel: two RelayClients (own EventLoopThreads) announce, A opens a
#                    tunnel to B, A pumps, B counts (the pump: TcpConnection with backpressure).
#   direct (C++)     RelayLoad direct: the same pump over one direct loopback TcpConnection.
#   strelaysrv       strelay_pump.py relay: relay protocol v1 (TLS protocol mode with client
#                    certificates made by openssl, JoinRelayRequest / ConnectRequest /
#                    SessionInvitation, then JoinSessionRequest in session mode); a Python pump
#                    (sendall / recv_into, 1 MiB receive buffer).
#   direct (Python)  strelay_pump.py direct: the same Python pump over one direct loopback socket.
# Each relay is compared with the direct baseline of its own client code.
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
strelay_port=${STRELAY_PORT:-22067}
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
for tool in strelaysrv openssl python3; do
	command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install syncthing-relaysrv openssl python3)"; exit 1; }
done
bench_init relay-tunnel
results="$BENCH_WORK/results.txt"
: >"$results"

measure()
	# measure LABEL COMMAND...: runs COMMAND (prints one JSON line) once; records MiB/s.
{
	local label=$1 line
	shift
	line=$(timeout 150 "$@" 2>>"$BENCH_WORK/clients.log" | tail -n 1) || true
	echo "   $label: $line"
	python3 - "$label" "$line" >>"$results" <<'PY'
import json, sys
label, line = sys.argv[1], sys.argv[2]
r = json.loads(line) if line.startswith("{") else {}
ok = r.get("received") == r.get("bytes") and not r.get("error")
print(f"{label}\t{r.get('mib_per_s', 0) if ok else 0}\t{'' if ok else (r.get('error') or 'no result')}")
PY
}

# --- servers (side by side; each is idle while another path is measured) ----------------------
relay_cmd=("$relay" --bind 127.0.0.1 --port "$relay_port"
	--define relay.tunnelRateBytesPerSecond=100000000000
	--define relay.globalRateBytesPerSecond=100000000000
	--define relay.requestsPerSecondPerIp=1000)
echo "== crosschat-relay: ${relay_cmd[*]}"
bench_start relay "${relay_cmd[@]}"
bench_wait_port 127.0.0.1 "$relay_port" 10 || { cat "$BENCH_WORK/relay.log"; exit 1; }
mkdir -p "$BENCH_WORK/strelay"
for device in a b; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=syncthing \
		-keyout "$BENCH_WORK/strelay/$device-key.pem" -out "$BENCH_WORK/strelay/$device-cert.pem" 2>/dev/null
done
strelay_cmd=(strelaysrv -listen "127.0.0.1:$strelay_port" -pools="" -protocol tcp4 -status-srv=""
	-keys "$BENCH_WORK/strelay" -per-session-rate 0 -global-rate 0)
echo "== strelaysrv $(strelaysrv -version | cut -d' ' -f2): ${strelay_cmd[*]}"
bench_start strelay "${strelay_cmd[@]}"
bench_wait_port 127.0.0.1 "$strelay_port" 30 || { cat "$BENCH_WORK/strelay.log"; exit 1; }

# --- rounds: every path once per round, so that load changes hit them alike --------------------
for run in $(seq 1 "$runs"); do
	echo "== round $run of $runs, $mib MiB each ($(uptime | sed 's/.*load/load/'))"
	measure "direct TCP, C++ pump (RelayLoad direct)" "$load" direct --bytes "$bytes" --timeout 120
	measure "crosschat-relay tunnel (RelayLoad tunnel)" "$load" tunnel --url "http://127.0.0.1:$relay_port" \
		--bytes "$bytes" --timeout 120
	measure "direct TCP, Python pump (strelay_pump.py direct)" python3 "$here/strelay_pump.py" direct \
		--bytes "$bytes" --timeout 120
	measure "strelaysrv session (strelay_pump.py relay)" python3 "$here/strelay_pump.py" relay \
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
med = {}
for label in labels:
    values = [float(r[1]) for r in rows if r[0] == label]
    errors = [r[2] for r in rows if r[0] == label and r[2]]
    med[label] = statistics.median(values)
    print(f"{label:52} {med[label]:9.1f} MiB/s  runs {values}" + (f"  errors {errors}" if errors else ""))
def ratio(a, b):
    return f"{med[a] / med[b]:.2f}" if med.get(a) and med.get(b) else "n/a"
print(f"RESULT crosschat-relay / direct (C++ pump): {ratio('crosschat-relay tunnel (RelayLoad tunnel)', 'direct TCP, C++ pump (RelayLoad direct)')}")
print(f"RESULT strelaysrv / direct (Python pump): {ratio('strelaysrv session (strelay_pump.py relay)', 'direct TCP, Python pump (strelay_pump.py direct)')}")
print(f"RESULT crosschat-relay / strelaysrv (absolute): {ratio('crosschat-relay tunnel (RelayLoad tunnel)', 'strelaysrv session (strelay_pump.py relay)')}")
PY
