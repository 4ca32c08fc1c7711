#!/usr/bin/env bash
# memory-bench.sh — resident memory of crosschat-relay per connected idle peer.
#
# Usage: testsuite/benchmark/relay/memory-bench.sh [BUILD_DIR] [PEERS]
#        (defaults: build-bench, 10000; needs -DCROSSCHAT_BUILD_BENCHMARKS=ON; run as root or with
#        a hard descriptor limit above 2 x PEERS + 1024)
#
# Starts crosschat-relay on 127.0.0.1 with the per-IP request limit raised (every client comes
# from 127.0.0.1) and room for PEERS control channels, then RelayLoad connects PEERS clients
# (fresh identities, all announced, control channels open, idle) and reads the relay's VmRSS
# before the first client and 3 s after the last one came online. Prints
# (after - before) / PEERS, and the relay's CPU time per peer and second over IDLE_SECONDS
# (default 60) while the clients only keep their channels alive. Servers on CPU 0 (one event
# loop, GOMAXPROCS=1), clients on CPU 1. Baseline: strelaysrv (apt syncthing-relaysrv) with PEERS idle devices
# joined in protocol mode (strelay_idle.py: TLS with a certificate each, JoinRelayRequest; needs
# python3-cryptography), measured the same way. Bounded: each load generator gives up after
# 120 s; every server is stopped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testsuite/benchmark/relay/common.sh
. "$here/common.sh"
build=${1:-build-bench}
peers=${2:-10000}
idle=${IDLE_SECONDS:-60}
port=${PORT:-15000}
relay=$(bench_find "$build" Samples/RelayServer/crosschat-relay)
load=$(bench_find "$build" testsuite/benchmark/RelayLoad)
bench_init relay-memory

# Descriptors: the relay holds one per peer, RelayLoad one per client. Root without
# CAP_SYS_RESOURCE (e.g. in a container) cannot raise the hard limit: use what there is.
files=$((2 * peers + 4096))
ulimit -Hn "$files" 2>/dev/null || files=$(ulimit -Hn)
ulimit -n "$files"
echo "== crosschat-relay, $peers idle peers (descriptor limit $(ulimit -n))"
# Every client is 127.0.0.1: the per-source shares are lifted to the totals.
relay_cmd=(taskset -c 0 "$relay" --bind 127.0.0.1 --port "$port" --probe-port 0
	--define relay.eventLoops=1
	--define relay.requestsPerSecondPerIp=1000000
	--define relay.maxControlConnections=$((peers + 1000))
	--define relay.maxControlConnectionsPerIp=$((peers + 1000))
	--define relay.maxHttpConnectionsPerIp=2000
	--define relay.maxPeers=$((peers + 1000))
	--define relay.maxPeersPerIp=$((peers + 1000)))
echo "relay: ${relay_cmd[*]}"
bench_start relay "${relay_cmd[@]}"
relay_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$port" 10 || { echo "relay did not start:"; cat "$BENCH_WORK/relay.log"; exit 1; }
sleep 1
echo "relay VmRSS idle: $(bench_rss_kib "$relay_pid") KiB"
load_cmd=(taskset -c 1 "$load" peers --url "http://127.0.0.1:$port" --count "$peers" --concurrency 200 --timeout 120
	--relay-pid "$relay_pid" --settle 3 --hold $((idle + 10)))
echo "load:  ${load_cmd[*]}"
timeout 200 "${load_cmd[@]}" >"$BENCH_WORK/load.out" 2>"$BENCH_WORK/load.err" &
load_pid=$!
for _ in $(seq 1 1500); do   # at most 150 s
	grep -q '"event":"online"' "$BENCH_WORK/load.out" 2>/dev/null && break
	kill -0 "$load_pid" 2>/dev/null || break
	sleep 0.1
done
sleep 4   # within the hold period: every client still connected
echo "relay /health with the clients connected: $(python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$port/health',timeout=5).read().decode())" 2>&1 | head -c 400)"
# Idle CPU: the relay's CPU time while every client only keeps its control channel alive (the
# client pings every 25 s; the relay answers and pings nobody).
ticks_before=$(awk '{ print $14 + $15 }' "/proc/$relay_pid/stat")
sleep "$idle"
ticks_after=$(awk '{ print $14 + $15 }' "/proc/$relay_pid/stat")
relay_idle_us=$(python3 -c "import sys; print(round(($ticks_after - $ticks_before) / $(getconf CLK_TCK) * 1e6 / $peers / $idle, 3))")
echo "RESULT relay idle CPU: $((ticks_after - ticks_before)) ticks in $idle s with $peers peers: $relay_idle_us us per peer-second"
wait "$load_pid" || true
grep -v '^RelayLoad: [0-9]* started' "$BENCH_WORK/load.err" >&2 || true
result=$(tail -n 1 "$BENCH_WORK/load.out")
echo "$result"
python3 - "$result" "$peers" <<'PY'
import json, sys
r = json.loads(sys.argv[1]) if sys.argv[1].startswith("{") else {}
if r.get("online") != int(sys.argv[2]) or "relay_bytes_per_peer" not in r:
    print("FAILED: not every client came online", r)
    sys.exit(1)
print(f"RESULT relay RSS {r['relay_rss_before_kib']} KiB -> {r['relay_rss_after_kib']} KiB with {r['online']} peers: "
      f"{r['relay_bytes_per_peer'] / 1024:.1f} KiB per connected idle peer; all online after {r['seconds_to_all_online']:.1f} s; "
      f"client side {(r['client_rss_after_kib'] - r['client_rss_before_kib']) * 1024 / r['online'] / 1024:.1f} KiB per client")
PY

# --- baseline: strelaysrv with the same number of idle devices ------------------------------------
bench_stop_all
if ! command -v strelaysrv >/dev/null || ! python3 -c "import cryptography" 2>/dev/null; then
	echo "baseline skipped: needs strelaysrv (apt syncthing-relaysrv) and python3-cryptography"
	exit 0
fi
strelay_port=${STRELAY_PORT:-22067}
mkdir -p "$BENCH_WORK/strelay"
strelay_cmd=(env GOMAXPROCS=1 taskset -c 0 strelaysrv -listen "127.0.0.1:$strelay_port" -pools="" -protocol tcp4 -status-srv=""
	-keys "$BENCH_WORK/strelay")
echo
echo "== strelaysrv $(strelaysrv -version | cut -d' ' -f2), $peers idle devices: ${strelay_cmd[*]}"
bench_start strelay "${strelay_cmd[@]}"
strelay_pid=$BENCH_LAST_PID
bench_wait_port 127.0.0.1 "$strelay_port" 30 || { cat "$BENCH_WORK/strelay.log"; exit 1; }
sleep 1
idle_cmd=(taskset -c 1 python3 "$here/strelay_idle.py" --relay "127.0.0.1:$strelay_port" --count "$peers" --concurrency 100
	--timeout 240 --relay-pid "$strelay_pid" --settle 3 --idle "$idle")
echo "load:  ${idle_cmd[*]}"
baseline=$(timeout $((idle + 300)) "${idle_cmd[@]}" | tail -n 1) || true
echo "$baseline"
python3 - "$result" "$baseline" "$relay_idle_us" <<'PY'
import json, sys
ours = json.loads(sys.argv[1]) if sys.argv[1].startswith("{") else {}
theirs = json.loads(sys.argv[2]) if sys.argv[2].startswith("{") else {}
if "relay_bytes_per_peer" not in theirs or theirs.get("joined") != theirs.get("count"):
    print("FAILED: the strelaysrv baseline did not complete", theirs)
    sys.exit(1)
print(f"RESULT strelaysrv RSS {theirs['relay_rss_before_kib']} KiB -> {theirs['relay_rss_after_kib']} KiB with "
      f"{theirs['joined']} devices: {theirs['relay_bytes_per_peer'] / 1024:.1f} KiB per joined idle device")
print(f"RESULT crosschat-relay / strelaysrv bytes per idle peer: "
      f"{ours['relay_bytes_per_peer'] / theirs['relay_bytes_per_peer']:.2f}")
if theirs.get("relay_cpu_us_per_peer_s") is not None:
    print(f"RESULT strelaysrv idle CPU: {theirs['relay_cpu_us_per_peer_s']} us per device-second; "
          f"crosschat-relay / strelaysrv: {float(sys.argv[3]) / theirs['relay_cpu_us_per_peer_s']:.2f}")
PY
