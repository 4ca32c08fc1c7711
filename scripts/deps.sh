#!/usr/bin/env bash
#
# deps.sh — install the Debian 12 packages CrossChat needs, but only those that are missing.
#
# Usage: bash scripts/deps.sh
# Runs apt-get only when something is missing (then as root, or through sudo).
#
set -euo pipefail

PACKAGES=(
	build-essential
	cmake
	pkg-config
	libpoco-dev
	# ChatStore: Poco::Data's SQLite connector uses the system SQLite (with FTS5); the tests and
	# the store benchmark also call it directly.
	libsqlite3-dev
	libssl-dev
	libcppunit-dev
	clang
	# clang-14 only *recommends* its runtime libraries; -fsanitize=fuzzer needs
	# libclang_rt.fuzzer and the sanitizer runtimes from this package.
	libclang-rt-14-dev
	libbenchmark-dev
	# Port mapping (Chat's PortMapper): UPnP IGD and NAT-PMP client libraries.
	libminiupnpc-dev
	libnatpmp-dev
	# crosschat's full-screen mode (ncursesw, as toxic uses) and its test driver.
	libncurses-dev
	tmux
	# Test drivers (crosschat-console, the network lab) and the benchmark report.
	python3
	# The relay attack lab's attackers sign requests and control channels (Ed25519).
	python3-cryptography
	# For the network lab (network namespaces, firewall rules, packet captures).
	iproute2
	nftables
	tcpdump
	# The port mapping lab's gateway (netlab-portmap). This package holds only the daemon
	# binary and its nftables helper scripts: no service, no debconf questions. The service
	# (systemd unit, init script) is in the separate package "miniupnpd", not installed here.
	miniupnpd-nftables
	# The HTTPS lab (netlab-https): a TLS-terminating reverse proxy and a PROXY-protocol TCP
	# proxy in front of the relay. Only their binaries are used, inside lab namespaces; the
	# services these packages ship are never started here (see SERVICE_PACKAGES below).
	nginx
	haproxy
	# The HTTPS lab's certificates (a lab CA and the relay's certificate).
	openssl
	# promtool (in the prometheus package, ~19 MB download, ~96 MB installed with its web
	# assets) checks and unit-tests the relay's alert rules. Its server is not started.
	prometheus
	# The package test (scripts/test.sh "packages"): dpkg-shlibdeps for the Depends of the
	# .deb packages, and adduser for the relay package's postinst.
	dpkg-dev
	adduser
)

# Packages that ship a daemon whose maintainer scripts would start it on installation (on this
# machine's real network, listening on port 80 and friends). They are installed with a
# policy-rc.d that forbids starting services, and, where systemd runs, disabled afterwards.
SERVICE_PACKAGES=(nginx haproxy prometheus)

missing=()
for package in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$package")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

echo "deps: installing missing packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "deps: not root and no sudo; install these packages first: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Belt and braces: should the "miniupnpd" service package ever be pulled in, it must not start
# a UPnP daemon on this machine's real network (its postinst starts it only if this is true).
echo "miniupnpd miniupnpd/start_daemon boolean false" | "${SUDO[@]}" debconf-set-selections

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before starting a service; exit
# status 101 means "forbidden". Put one in place for this installation unless one exists (a
# container image often has one already), and remove it afterwards.
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $POLICY ]]; then
	printf '#!/bin/sh\n# scripts/deps.sh: no service starts during this installation\nexit 101\n' \
		| "${SUDO[@]}" tee "$POLICY" > /dev/null
	"${SUDO[@]}" chmod 755 "$POLICY"
	own_policy=1
fi
remove_policy()
{
	if [[ $own_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap remove_policy EXIT

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

# Under systemd, a newly installed service package is also enabled for the next boot: disable
# the ones installed just now (never one that was already installed and maybe in use).
if [[ -d /run/systemd/system ]]; then
	for package in "${SERVICE_PACKAGES[@]}"; do
		for wanted in "${missing[@]}"; do
			if [[ $wanted == "$package" ]]; then
				"${SUDO[@]}" systemctl disable --now "$package" > /dev/null 2>&1 || true
			fi
		done
	done
fi
