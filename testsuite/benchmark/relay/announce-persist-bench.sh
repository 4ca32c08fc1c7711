#!/bin/bash
# announce-persist-bench.sh RELAY RELAYLOAD [SECONDS] [RUNS]: signed announces per second of crosschat-relay
# with a data directory (SQLite WAL, group commit, answered once durable) vs in memory (--data-dir
# :memory:), interleaved in one run; relay (all its threads) on CPU 0, RelayLoad announce (50
# keep-alive connections) on CPU 1. RELAYLOAD: testsuite/benchmark/RelayLoad (-DCROSSCHAT_BUILD_BENCHMARKS=ON).
relay=$1; load=$2; seconds=${3:-10}; runs=${4:-3}
work=$(mktemp -d)
port=15071
for run in $(seq 1 "$runs"); do
	for mode in memory disk; do
		if [ $mode = memory ]; then dir=":memory:"; else rm -rf "$work/data"; dir="$work/data"; fi
		taskset -c 0 "$relay" --bind 127.0.0.1 --port $port --probe-port 0 --data-dir "$dir" --define relay.eventLoops=1 \
			--define relay.requestsPerSecondPerIp=100000000 --define relay.maxHttpConnectionsPerIp=5000 --define relay.maxPeersPerIp=100000 \
			> "$work/relay.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do grep -q "listening on" "$work/relay.log" && break; sleep 0.05; done
		result=$(taskset -c 1 "$load" announce --url http://127.0.0.1:$port --connections 50 --seconds "$seconds" 2>/dev/null)
		echo "run $run $mode: $result"
		kill -TERM $pid; wait $pid
	done
done
rm -rf "$work"
