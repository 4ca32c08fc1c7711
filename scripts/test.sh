#!/usr/bin/env bash
#
# test.sh — install what is missing, build CrossChat and run every test.
#
# Steps (each reuses its build directory on later runs):
#   build        RelWithDebInfo build in build/
#   ctest        all CTest tests in build/
#   sanitizers   clang Debug build with ASan+UBSan in build-asan/, and its CTest tests
#   tsan         clang RelWithDebInfo build with ThreadSanitizer in build-tsan/ (libraries and
#                test runners only), its unit tests (ctest -L unit) with halt_on_error
#   fuzzing      clang libFuzzer build in build-fuzz/, each fuzzer for $FUZZ_SECONDS (default 10)
#   install      cmake --install build/ into a temporary prefix, then build and run
#                testsuite/consumer against it with find_package(CrossChat)
#   benchmarks   build/ with -DCROSSCHAT_BUILD_BENCHMARKS=ON (kept in its cache afterwards),
#                each benchmark program run briefly; skipped until testsuite/benchmark exists
#   packages     build/ configured for the prefix /usr (only the programs' /etc path is compiled
#                again), cpack -G DEB with stripped binaries, then testsuite/packaging/package_test.py: dpkg -i both packages,
#                run the relay with its unit's ExecStart, chat through it, dpkg --purge.
#                Root only (it installs packages on this machine); skipped otherwise.
#
# Environment: FUZZ_SECONDS (default 10), JOBS (default 2).
#
# A failed step does not stop the later ones (except those that need build/); the script
# prints one summary line per step and exits non-zero if any step failed. A step that exits 77
# could not run here (it says why) and counts as skipped.
#
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

STEP_NAMES=()
STEP_RESULTS=()
STEP_DETAILS=()
FAILED=0
# Each step's output is also kept here, so a failed step's summary can quote it.
LOG_DIR="$REPO_ROOT/build-logs"
mkdir -p "$LOG_DIR"

banner()
{
	echo
	echo "========================================================================"
	echo "== $*"
	echo "========================================================================"
}

# run_step <name> <function>: runs the function in a subshell with errexit active and
# records PASSED/FAILED with the elapsed time; sets LAST_RC. Never call it in a condition
# (if, ||, &&): bash would then ignore errexit inside the step. The step's output is kept in
# $LOG_DIR; for a failed step the summary repeats the lines that say why (see failure_lines).
run_step()
{
	local name=$1 function=$2 started rc
	local log="$LOG_DIR/step-${#STEP_NAMES[@]}.log"
	banner "$name"
	started=$SECONDS
	set +e
	( set -euo pipefail; "$function" ) 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	local elapsed=$((SECONDS - started))
	STEP_NAMES+=("$name")
	if [[ $rc -eq 0 ]]; then
		STEP_RESULTS+=("PASSED   (${elapsed}s)")
		echo "== $name: PASSED (${elapsed}s)"
	elif [[ $rc -eq 77 ]]; then
		# A step that found it cannot run here (it said why) is skipped, not failed.
		STEP_RESULTS+=("SKIPPED  (exit 77, ${elapsed}s)")
		echo "== $name: SKIPPED (${elapsed}s)"
	else
		STEP_RESULTS+=("FAILED   (exit $rc, ${elapsed}s)")
		STEP_DETAILS+=("== $name: FAILED (exit $rc); the lines that say why (whole output: $log):"
			"$(failure_lines "$log")")
		echo "== $name: FAILED (exit $rc, ${elapsed}s)" >&2
		FAILED=1
	fi
	LAST_RC=$rc
}

# failure_lines <log>: the lines of a failed step's output that name what failed (failed
# tests, compiler errors, sanitizer and libFuzzer reports, a fuzzer's crash summary) — at most
# 60 — or, if none matches, the step's last 30 lines.
failure_lines()
{
	local matches
	matches=$(grep -E -a 'FAILED|Failed|[Ee]rror|ERROR|SUMMARY|Assertion|not ok|Timeout|timed out|Test #[0-9]+:.*\*\*\*|deadly signal|out-of-memory|leak|==[0-9]+==|Test unit written|Base64:' "$1" | tail -n 60 || true)
	if [[ -n $matches ]]; then
		echo "$matches"
	else
		tail -n 30 "$1"
	fi
}

skip_step()
{
	local name=$1 reason=$2
	banner "$name"
	echo "== $name: SKIPPED ($reason)"
	STEP_NAMES+=("$name")
	STEP_RESULTS+=("SKIPPED  ($reason)")
}

# configure <dir> [cmake args...]: configures the build directory, or re-applies the options
# to its existing cache (cheap; nothing is rebuilt unless something changed).
configure()
{
	local dir=$1
	shift
	cmake -S "$REPO_ROOT" -B "$dir" "$@"
}

step_build()
{
	configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr/local
	cmake --build build -j"$JOBS"
}

step_ctest()
{
	ctest --test-dir build --output-on-failure -j"$JOBS"
}

step_sanitizers()
{
	CC=clang CXX=clang++ configure build-asan \
		-DCMAKE_BUILD_TYPE=Debug -DCROSSCHAT_ENABLE_SANITIZERS=ON
	cmake --build build-asan -j"$JOBS"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan --output-on-failure -j"$JOBS" -LE netlab
}

step_tsan()
{
	CC=clang CXX=clang++ configure build-tsan \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSCHAT_ENABLE_TSAN=ON -DCROSSCHAT_BUILD_SAMPLES=OFF
	cmake --build build-tsan -j"$JOBS"
	# Any report fails the test at once. Races in our code are fixed, never suppressed; the
	# suppressions file holds only false positives inside uninstrumented libraries (explained there).
	TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$REPO_ROOT/scripts/tsan-suppressions.txt" \
		ctest --test-dir build-tsan --output-on-failure -j"$JOBS" -L unit
}

step_fuzzing()
{
	CC=clang CXX=clang++ configure build-fuzz \
		-DCROSSCHAT_ENABLE_FUZZING=ON -DCROSSCHAT_BUILD_TESTS=OFF -DCROSSCHAT_BUILD_SAMPLES=OFF
	cmake --build build-fuzz -j"$JOBS"
	testsuite/fuzz/run-fuzzers.sh build-fuzz "$FUZZ_SECONDS"
}

step_install()
{
	# Not local: the EXIT trap of this step's subshell runs after the function has returned.
	INSTALL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/crosschat-install.XXXXXX")
	trap 'rm -rf "$INSTALL_TMP"' EXIT
	local tmp=$INSTALL_TMP
	cmake --install build --prefix "$tmp/prefix"
	cmake -S testsuite/consumer -B "$tmp/consumer" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$tmp/prefix"
	cmake --build "$tmp/consumer" -j"$JOBS"
	"$tmp/consumer/crosschat-consumer"
}

step_benchmarks()
{
	configure build -DCROSSCHAT_BUILD_BENCHMARKS=ON
	cmake --build build -j"$JOBS"
	local count=0 benchmark
	# A smoke run: Google Benchmark programs briefly, the end-to-end ones in --quick mode.
	# The numbers in docs/BENCHMARKS.md come from full runs (commands there).
	while IFS= read -r benchmark; do
		echo "-- $benchmark"
		if "$benchmark" --help 2>&1 | grep -q benchmark_min_time; then
			"$benchmark" --benchmark_min_time=0.01
		else
			"$benchmark" --quick
		fi
		count=$((count + 1))
	done < <(find build/testsuite/benchmark -type f -name '*-benchmark' -perm -u+x -not -path '*/CMakeFiles/*' | sort)
	if [[ $count -eq 0 ]]; then
		echo "no benchmark programs found under build/testsuite/benchmark" >&2
		return 1
	fi
	echo "$count benchmark program(s) ran"
}

step_packages()
{
	# From build/ (RelWithDebInfo, the binaries stripped by CPack): only the code that embeds
	# the install prefix (the programs' /etc path) is compiled again, for /usr. step_build
	# sets the prefix back, so build/'s own programs never read /etc/crosschat.
	configure build -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build build -j"$JOBS"
	rm -f build/*.deb
	(cd build && cpack -G DEB -D CPACK_STRIP_FILES=ON)
	local version
	version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' build/CMakeCache.txt)
	python3 testsuite/packaging/package_test.py \
		build/crosschat_"$version"-1_*.deb build/crosschat-relay_"$version"-1_*.deb
}

banner "dependencies"
bash scripts/deps.sh

LAST_RC=0
run_step "build (build/)" step_build
build_ok=$((LAST_RC == 0))
if [[ $build_ok -eq 1 ]]; then
	run_step "ctest (build/)" step_ctest
else
	skip_step "ctest (build/)" "build failed"
fi
run_step "sanitizers (build-asan/)" step_sanitizers
run_step "tsan (build-tsan/)" step_tsan
run_step "fuzzing (build-fuzz/, ${FUZZ_SECONDS}s per target)" step_fuzzing
if [[ $build_ok -eq 1 ]]; then
	run_step "install + consumer" step_install
else
	skip_step "install + consumer" "build failed"
fi
if [[ ! -f testsuite/benchmark/CMakeLists.txt ]]; then
	skip_step "benchmarks" "no testsuite/benchmark/CMakeLists.txt yet"
elif [[ $build_ok -eq 1 ]]; then
	run_step "benchmarks (build/)" step_benchmarks
else
	skip_step "benchmarks" "build failed"
fi

if [[ $(id -u) -ne 0 ]]; then
	skip_step "packages" "needs root: installs the .deb packages with dpkg -i"
else
	run_step "packages (build/, dpkg -i, chat, purge)" step_packages
fi

banner "summary"
for i in "${!STEP_NAMES[@]}"; do
	printf '  %-45s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
done
for detail in "${STEP_DETAILS[@]}"; do
	echo "$detail"
done
if [[ $FAILED -ne 0 ]]; then
	echo "test.sh: FAILED" >&2
	exit 1
fi
echo "test.sh: all steps passed"
