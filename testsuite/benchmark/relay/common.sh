# shellcheck shell=bash
# common.sh — shared helpers of the relay benchmark scripts (sourced, not run).
#
# Every server a script starts is recorded in BENCH_PIDS and stopped by bench_cleanup (an EXIT
# trap set by bench_init), by its own process id. Every wait is bounded.

BENCH_PIDS=()
BENCH_WORK=""

bench_init()
	# bench_init NAME: makes a work directory and installs the cleanup trap.
{
	BENCH_WORK=$(mktemp -d "/tmp/crosschat-$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_stop_all()
	# Stops every server started so far (SIGTERM, SIGKILL after 5 s), by process id.
{
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	BENCH_PIDS=()
}

bench_cleanup()
{
	bench_stop_all
	if [ -n "$BENCH_WORK" ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$BENCH_WORK"
	elif [ -n "$BENCH_WORK" ]; then
		echo "work directory kept: $BENCH_WORK" >&2
	fi
}

bench_start()
	# bench_start LOGNAME COMMAND...: starts a server in the background, logs to $BENCH_WORK/LOGNAME.log,
	# sets BENCH_LAST_PID.
{
	local log="$BENCH_WORK/$1.log"
	shift
	"$@" >"$log" 2>&1 &
	BENCH_LAST_PID=$!
	BENCH_PIDS+=("$BENCH_LAST_PID")
}

bench_wait_port()
	# bench_wait_port HOST PORT [SECONDS]: waits until a TCP connect to HOST:PORT succeeds.
{
	local host=$1 port=$2 limit=${3:-10}
	python3 - "$host" "$port" "$limit" <<'PY'
import socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

bench_find()
	# bench_find BUILD_DIR RELATIVE_PATH: prints the path if it is an executable file, else fails.
{
	if [ -x "$1/$2" ]; then
		echo "$1/$2"
	else
		echo "missing: $1/$2 (build with -DCROSSCHAT_BUILD_BENCHMARKS=ON)" >&2
		return 1
	fi
}

bench_rss_kib()
	# bench_rss_kib PID: VmRSS of a process in KiB.
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
