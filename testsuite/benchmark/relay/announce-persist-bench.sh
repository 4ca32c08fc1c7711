#!/bin/bash
# announce-persist-bench.sh RELAY RELAYLOAD [SECONDS] [RUNS]: crosschat-relay with a data directory
# (SQLite WAL, group commit, answered once durable) vs in memory (--data-dir :memory:), interleaved
# in one run; the relay (all its threads) on CPU 0, the load on CPU 1:
#   announce  RelayLoad announce: 50 keep-alive connections, a fresh Ed25519 signature per request
#   lookup    wrk -c50 -t1: GET /api/v1/peers/<id> of an announced peer (relay_announce.py) -> 200
#   deposit   wrk -c50 -t1 -s deposit.lua: POST /api/v1/mailbox/<id> with a 200-byte envelope -> 201
#             (mailbox limits lifted: one recipient, one source)
# RELAYLOAD: testsuite/benchmark/RelayLoad (-DCROSSCHAT_BUILD_BENCHMARKS=ON). Prints one line per
# measurement and the medians. Needs wrk, python3 with python3-cryptography, taskset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
relay=$1; load=$2; seconds=${3:-10}; runs=${4:-3}
work=$(mktemp -d)
port=15071
trap 'rm -rf "$work"' EXIT
cat > "$work/deposit.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = io.open(os.getenv("ENVELOPE_FILE"), "rb")
wrk.body = f:read("*a")
f:close()
wrk.path = os.getenv("MAILBOX_PATH")
LUA
results="$work/results"
: > "$results"
for run in $(seq 1 "$runs"); do
	for mode in memory disk; do
		if [ $mode = memory ]; then dir=":memory:"; else rm -rf "$work/data"; dir="$work/data"; fi
		taskset -c 0 "$relay" --bind 127.0.0.1 --port $port --probe-port 0 --data-dir "$dir" --define relay.eventLoops=1 \
			--define relay.requestsPerSecondPerIp=100000000 --define relay.maxHttpConnectionsPerIp=5000 --define relay.maxPeersPerIp=100000 \
			--define relay.mailboxPerRecipient=100000000 --define relay.mailboxBytesPerRecipient=100000000000 \
			--define relay.mailboxPerIpPerRecipient=100000000 --define relay.mailboxBytesPerIp=100000000000 \
			--define relay.mailboxMaxBytes=100000000000 > "$work/relay.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do grep -q "listening on" "$work/relay.log" && break; sleep 0.05; done
		rps=$(taskset -c 1 "$load" announce --url http://127.0.0.1:$port --connections 50 --seconds "$seconds" 2>/dev/null \
			| python3 -c "import json,sys; print(round(json.load(sys.stdin)['rps']))")
		echo "run $run $mode announce $rps" | tee -a "$results"
		id=$(python3 "$here/relay_announce.py" "http://127.0.0.1:$port")
		rps=$(taskset -c 1 wrk -t1 -c50 -d"${seconds}s" "http://127.0.0.1:$port/api/v1/peers/$id" | tee -a "$work/wrk.log" | awk '/Requests\/sec/ { print int($2) }')
		echo "run $run $mode lookup $rps" | tee -a "$results"
		python3 - "$id" "$work/envelope" <<'PY'
import base64, sys
ident = sys.argv[1].replace("-", "")   # 4 groups of 13 base32 characters, each with a check character
ident = "".join(ident[i:i + 13] for i in range(0, 56, 14))
raw = base64.b32decode(ident + "=" * (-len(ident) % 8))[:32]
with open(sys.argv[2], "wb") as f:
    f.write(b"CXM1\x01\x01" + raw + b"\x00" * 7 + b"\x05" + b"\x09" * 32 + bytes(122))
PY
		rps=$(ENVELOPE_FILE="$work/envelope" MAILBOX_PATH="/api/v1/mailbox/$id" taskset -c 1 wrk -t1 -c50 -d"${seconds}s" \
			-s "$work/deposit.lua" "http://127.0.0.1:$port" | tee -a "$work/wrk.log" | awk '/Requests\/sec/ { print int($2) }')
		echo "run $run $mode deposit $rps" | tee -a "$results"
		curl -s "http://127.0.0.1:$port/health" | python3 -c "import json,sys; h=json.load(sys.stdin); print('  mail_waiting', h['mail_waiting'])"
		kill -TERM $pid; wait $pid || true
	done
done
python3 - "$results" <<'PY'
import statistics, sys, collections
values = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _run, _n, mode, what, rps = line.split()
    values[(what, mode)].append(int(rps))
for what in ("announce", "lookup", "deposit"):
    memory, disk = statistics.median(values[(what, "memory")]), statistics.median(values[(what, "disk")])
    print(f"{what:9} memory {memory:8.0f}/s  disk {disk:8.0f}/s  disk/memory {disk / memory:.2f}")
PY
