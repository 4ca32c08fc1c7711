"""netlab — isolated network labs in Linux network namespaces (Python 3 standard library only).

A Lab owns a set of network namespaces whose names share a unique prefix (ccnl<pid>-), the
links between them and the processes started in them. Links are veth pairs created inside
one lab namespace with their peer end placed directly in another, so no interface of the
lab ever exists in the machine's own (root) namespace, and no lab namespace has a route out
of the lab. Closing the lab kills its processes and deletes its namespaces; close() runs
from try/finally, from atexit and from the SIGINT/SIGTERM/SIGHUP handlers installed by the
first Lab.

Building blocks (generic, so that NAT scenarios can reuse them):
    lab = Lab()
    switch = lab.add_switch("sw")                        # namespace with a Linux bridge
    h1 = lab.add_host("h1", switch, "198.18.0.1/24")     # namespace + veth to the switch
    r1 = lab.add_router("r1")                            # namespace with IP forwarding
    lab.link(r1, h1, "wan0", "eth1", "198.18.1.1/24", "198.18.1.2/24")   # point-to-point veth
    h1.route_add("default", via="198.18.1.1"); r1.nft("table inet nat { ... }")
    nat = lab.add_nat_router("ra", wan_switch, "203.0.113.1/24", lan_switch, "198.18.1.1/24")
                                                         # masquerade + unsolicited inbound dropped
    h1.tcp_connect("203.0.113.1", 5000)                  # "connected" / "refused" / "timeout"
    status, headers, body = h1.http_get("http://203.0.113.10:5000/health")
    proc = h1.spawn(["crosschat", "--json"], name="h1")  # Proc: timestamped JSON events
    proc.wait_for(lambda p: p.first("ready"), timeout=10)
    lab.close()

Every loop here is bounded in iterations and in time. Needs root and iproute2 (nft for
nftables rules, tcpdump for captures).
"""

import atexit
import collections
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid

PREFIX_BASE = "ccnl"
"""Every lab namespace is named PREFIX_BASE + <pid of the creating process> + "-" + short name."""

COMMAND_TIMEOUT = 15.0
"""Seconds any single ip/nft/sysctl command may take."""


class LabError(Exception):
    """A lab could not be built or a command inside it failed."""


def _run(argv, timeout=COMMAND_TIMEOUT, check=True, input_text=None):
    """Runs argv to completion (bounded by timeout); returns the CompletedProcess."""
    try:
        result = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"command timed out after {timeout} s: {' '.join(argv)}") from exc
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]}") from exc
    if check and result.returncode != 0:
        raise LabError(f"command failed ({result.returncode}): {' '.join(argv)}: {result.stderr.strip()}")
    return result


def namespaces_available():
    """Returns (True, "") when this process can create network namespaces, else (False, reason)."""
    if os.geteuid() != 0:
        return False, "not running as root"
    probe = f"{PREFIX_BASE}{os.getpid()}-probe"
    try:
        _run(["ip", "netns", "add", probe])
    except LabError as exc:
        return False, str(exc)
    try:
        _run(["ip", "-n", probe, "link", "set", "lo", "up"])
        _run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
        _run(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"])
    except LabError as exc:
        return False, str(exc)
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return True, ""


def root_interfaces():
    """Returns the sorted interface names of the namespace this process runs in."""
    out = _run(["ip", "-o", "link", "show"]).stdout
    names = []
    for line in out.splitlines():
        match = re.match(r"\d+:\s+([^:@\s]+)", line)
        if match:
            names.append(match.group(1))
    return sorted(names)


def list_namespaces():
    """Returns the names of all named network namespaces (ip netns list)."""
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_stale_labs():
    """Deletes lab namespaces (ccnl<pid>-*) whose creating process no longer exists.

    Returns the names deleted. Namespaces of running labs are never touched.
    """
    removed = []
    for name in list_namespaces()[:1000]:
        match = re.match(PREFIX_BASE + r"(\d+)-", name)
        if not match or os.path.exists(f"/proc/{match.group(1)}"):
            continue
        _kill_namespace_pids(name)
        if _run(["ip", "netns", "del", name], check=False).returncode == 0:
            removed.append(name)
        _remove_netns_etc(name)
    return removed


NETNS_ETC = "/etc/netns"
"""`ip netns exec NAME` bind-mounts the files of /etc/netns/NAME/ over those of /etc."""


def _remove_netns_etc(name):
    """Deletes /etc/netns/NAME (written by Namespace.set_hosts()), if there is one."""
    directory = os.path.join(NETNS_ETC, name)
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            os.unlink(os.path.join(directory, entry))
        os.rmdir(directory)


def _kill_namespace_pids(name, rounds=5):
    """SIGKILLs every process living in namespace name (a few bounded rounds)."""
    for _ in range(rounds):
        result = _run(["ip", "netns", "pids", name], check=False)
        pids = [int(p) for p in result.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# Processes


Event = collections.namedtuple("Event", "t data")
"""One JSON line a process printed: t = time.monotonic() when it was read, data = the object."""

Line = collections.namedtuple("Line", "t text")
"""One non-JSON (or stderr) line with its time.monotonic() arrival time."""


def matches(data, event=None, **fields):
    """True if the JSON object data has data["event"] == event (when given) and every field."""
    if not isinstance(data, dict):
        return False
    if event is not None and data.get("event") != event:
        return False
    return all(data.get(key) == value for key, value in fields.items())


class Proc:
    """A process started (optionally inside a namespace) with piped stdin and stdout.

    A reader thread timestamps every stdout line with time.monotonic() as it arrives, parses
    JSON lines into events and notifies waiters; another keeps stderr lines (and copies them
    to log_path when given). At most max_lines lines per stream are kept.
    """

    def __init__(self, argv, name=None, netns=None, log_path=None, max_lines=100000, env=None):
        self.name = name or os.path.basename(argv[0])
        self.argv = list(argv)
        self.netns = netns
        full = (["ip", "netns", "exec", netns] if netns else []) + self.argv
        self._cond = threading.Condition()
        self.events = []
        self.lines = []
        self.stderr = []
        self.dropped = 0
        self.eof = False
        self._max_lines = max_lines
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self.started = time.monotonic()
        # A session of its own: the whole process group can be signalled at cleanup.
        # `ip netns exec` execs the command, so self.pid is the command's own pid.
        self.popen = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True, env=env,
                                      bufsize=0)
        self.pid = self.popen.pid
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True, name=f"{self.name}-out"),
                         threading.Thread(target=self._read_stderr, daemon=True, name=f"{self.name}-err")]
        for thread in self._threads:
            thread.start()

    # -- readers -------------------------------------------------------------------------------

    def _read_stdout(self):
        stream = self.popen.stdout
        for _ in range(10 * self._max_lines):  # bounded; ends at EOF when the process exits
            raw = stream.readline()
            if not raw:
                break
            now = time.monotonic()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            with self._cond:
                if len(self.events) + len(self.lines) >= self._max_lines:
                    self.dropped += 1
                elif isinstance(data, dict):
                    self.events.append(Event(now, data))
                else:
                    self.lines.append(Line(now, text))
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def _read_stderr(self):
        stream = self.popen.stderr
        for _ in range(10 * self._max_lines):
            raw = stream.readline()
            if not raw:
                break
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self._log:
                try:
                    self._log.write(f"{time.monotonic():.3f} {text}\n")
                    self._log.flush()
                except ValueError:  # closed during cleanup
                    pass
            with self._cond:
                if len(self.stderr) < self._max_lines:
                    self.stderr.append(Line(time.monotonic(), text))
                self._cond.notify_all()

    # -- queries (safe from any thread) ---------------------------------------------------------

    def find(self, event=None, **fields):
        """Returns the events (oldest first) matching event name and fields."""
        with self._cond:
            return [e for e in self.events if matches(e.data, event, **fields)]

    def first(self, event=None, **fields):
        """Returns the first matching event or None."""
        with self._cond:
            for e in self.events:
                if matches(e.data, event, **fields):
                    return e
        return None

    def wait_for(self, predicate, timeout):
        """Waits until predicate(self) returns a truthy value, at most timeout seconds.

        The predicate is evaluated with the event lock held (use the list attributes directly
        or find()/first(), which re-enter the lock). Returns its value, or None on timeout.
        It also returns early (with the predicate's final value) once stdout reached EOF.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            for _ in range(1000000):
                value = predicate(self)
                if value or self.eof:
                    return value or None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))
        return None

    def wait_event(self, event, timeout, **fields):
        """Waits for the first event matching event and fields; returns it or None."""
        return self.wait_for(lambda p: p.first(event, **fields), timeout)

    def stderr_tail(self, count=20):
        with self._cond:
            return [l.text for l in self.stderr[-count:]]

    # -- control -------------------------------------------------------------------------------

    def send(self, line):
        """Writes one command line to the process's stdin; returns time.monotonic() of the write."""
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        self.popen.stdin.write(data)
        self.popen.stdin.flush()
        return time.monotonic()

    def send_bytes(self, data):
        """Writes raw bytes (e.g. a line that is not UTF-8) to stdin; returns time.monotonic()."""
        self.popen.stdin.write(data)
        self.popen.stdin.flush()
        return time.monotonic()

    @property
    def alive(self):
        return self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Sends sig to the process itself (not its group); returns time.monotonic() of the kill."""
        now = time.monotonic()
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        return now

    def wait(self, timeout):
        """Waits at most timeout seconds for the process to exit; returns its code or None."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace=2.0):
        """Ends the process group: SIGTERM, then SIGKILL after grace seconds. Idempotent."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            self.wait(wait)
        for stream in (self.popen.stdin,):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self._log:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------------------------------------
# Namespaces


class Namespace:
    """One network namespace of a lab (a host, a router or a switch)."""

    def __init__(self, lab, short, role):
        self.lab = lab
        self.short = short
        self.role = role
        self.name = lab.prefix + short
        self.links = []  # interface names created in this namespace

    def __repr__(self):
        return f"Namespace({self.name}, {self.role})"

    def ip(self, *args, check=True):
        """Runs `ip -n NS args...`; returns stdout."""
        return _run(["ip", "-n", self.name] + list(args), check=check).stdout

    def run(self, argv, timeout=COMMAND_TIMEOUT, check=True, input_text=None):
        """Runs a command to completion inside the namespace (bounded by timeout)."""
        return _run(["ip", "netns", "exec", self.name] + list(argv), timeout=timeout, check=check,
                    input_text=input_text)

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def addr_add(self, ifname, cidr):
        """Adds an address (with the subnet's broadcast address for IPv4)."""
        if ":" in cidr:
            self.ip("addr", "add", cidr, "dev", ifname)
        else:
            self.ip("addr", "add", cidr, "brd", "+", "dev", ifname)

    def route_add(self, destination, via=None, dev=None):
        args = ["route", "add", destination]
        if via:
            args += ["via", via]
        if dev:
            args += ["dev", dev]
        self.ip(*args)

    def nft(self, ruleset):
        """Loads an nftables ruleset (nft -f -) into this namespace."""
        self.run(["nft", "-f", "-"], input_text=ruleset)

    def nft_delete_table(self, family, table, check=True):
        """Deletes one nftables table (e.g. one loaded from drop_ruleset())."""
        self.run(["nft", "delete", "table", family, table], check=check)

    def addresses(self, family=None):
        """Returns [(ifname, address/prefix)] of global and link-local addresses."""
        args = ["-o"] + (["-4"] if family == 4 else ["-6"] if family == 6 else []) + ["addr", "show"]
        out = self.ip(*args)
        result = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("inet", "inet6"):
                result.append((parts[1], parts[3]))
        return result

    def ping(self, address, timeout=1.0):
        """Sends one ICMP echo request to an IPv4 address; True if the reply came in time.

        Uses a raw socket from Python, so that the lab does not need iputils-ping.
        """
        result = self.run([sys.executable, "-c", _PING_SCRIPT, address, str(timeout)],
                          check=False, timeout=timeout + 5)
        return result.returncode == 0

    def set_hosts(self, entries):
        """Gives this namespace its own /etc/hosts: {host name: address}, plus localhost.

        Written to /etc/netns/<namespace>/hosts, which `ip netns exec` (used by run() and
        spawn()) mounts over /etc/hosts; deleted at close(). Lets programs in the lab resolve
        lab host names (TLS host name checks, SNI) without DNS.
        """
        directory = os.path.join(NETNS_ETC, self.name)
        os.makedirs(directory, exist_ok=True)
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
        lines += [f"{address} {host}" for host, address in sorted(entries.items())]
        with open(os.path.join(directory, "hosts"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def spawn(self, argv, name=None, log_path=None, **kwargs):
        """Starts argv inside this namespace; the lab stops it at close()."""
        return self.lab.spawn(self, argv, name=name, log_path=log_path, **kwargs)

    def tcp_connect(self, host, port, timeout=2.0):
        """Tries one TCP connection from this namespace to host:port.

        Returns "connected", "refused", "timeout" or "error: <reason>" (bounded by timeout).
        """
        result = self.run([sys.executable, "-c", _TCP_CONNECT_SCRIPT, host, str(port), str(timeout)],
                          check=False, timeout=timeout + 10)
        return result.stdout.strip() or f"error: {result.stderr.strip()[-200:]}"

    def http_get(self, url, timeout=5.0):
        """GET url from inside this namespace; returns (status, headers dict, body text).

        status is None (and body the error) when no HTTP answer came within timeout.
        """
        result = self.run([sys.executable, "-c", _HTTP_GET_SCRIPT, url, str(timeout)],
                          check=False, timeout=timeout + 10)
        try:
            answer = json.loads(result.stdout)
        except ValueError:
            return None, {}, result.stderr.strip()[-300:]
        return answer["status"], answer["headers"], answer["body"]


_TCP_CONNECT_SCRIPT = r"""
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    socket.create_connection((host, port), timeout=timeout).close()
    print("connected")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print("error: " + (exc.strerror or str(exc)))
"""

_HTTP_GET_SCRIPT = r"""
import json, sys, urllib.error, urllib.request
url, timeout = sys.argv[1], float(sys.argv[2])
try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        status, headers, body = response.status, dict(response.headers), response.read()
except urllib.error.HTTPError as exc:
    status, headers, body = exc.code, dict(exc.headers), exc.read()
except Exception as exc:  # noqa: BLE001 - reported to the caller
    status, headers, body = None, {}, repr(exc).encode()
print(json.dumps({"status": status, "headers": headers, "body": body.decode("utf-8", "replace")}))
"""


_PING_SCRIPT = r"""
import os, select, socket, struct, sys, time
address, timeout = sys.argv[1], float(sys.argv[2])
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
body = b"netlab-ping!"
header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, checksum(header + body), ident, 1) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
try:
    s.sendto(packet, (address, 0))
except OSError:
    sys.exit(2)
deadline = time.monotonic() + timeout
for _ in range(100):
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([s], [], [], remaining)[0]:
        sys.exit(1)
    data, _peer = s.recvfrom(2048)
    icmp = data[(data[0] & 0x0F) * 4:]
    if len(icmp) >= 8 and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
        sys.exit(0)
sys.exit(1)
"""


class Switch(Namespace):
    """A namespace holding one Linux bridge; hosts attach to it through veth pairs."""

    def __init__(self, lab, short, bridge="br0", snooping=False):
        super().__init__(lab, short, "switch")
        self.bridge = bridge
        self.ports = 0
        # No STP, no multicast snooping: frames (IPv6 multicast included) are flooded at once.
        lab._create_namespace(self)
        self.ip("link", "add", bridge, "type", "bridge", "stp_state", "0",
                "mcast_snooping", "1" if snooping else "0")
        self.ip("link", "set", "dev", bridge, "up")


def nat_ruleset(wan_ifname, random_ports=False, fully_random=False):
    """The nftables ruleset of Lab.add_nat_router(): masquerade on wan_ifname, unsolicited
    inbound from it dropped (forwarded or local; ICMP to the router itself allowed).

    random_ports=True gives `masquerade random`, fully_random=True `masquerade fully-random`
    (both: a new external port per destination, i.e. endpoint-dependent mapping)."""
    masquerade = "masquerade"
    if random_ports:
        masquerade += " random"
    if fully_random:
        masquerade += (",fully-random" if random_ports else " fully-random")
    return f"""
table inet netlab_filter {{
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname "{wan_ifname}" ct state established,related accept
        iifname "{wan_ifname}" meta l4proto {{ icmp, ipv6-icmp }} accept
        iifname "{wan_ifname}" drop
    }}
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname "{wan_ifname}" ct state established,related accept
        iifname "{wan_ifname}" ct state new drop
        iifname "{wan_ifname}" drop
    }}
}}
table ip netlab_nat {{
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        oifname "{wan_ifname}" {masquerade}
    }}
}}
"""



# ---------------------------------------------------------------------------------------------
# Reporting helpers shared by the labs


def ms(seconds):
    """Seconds as milliseconds, one decimal."""
    return round(seconds * 1000.0, 1)


def stats(samples):
    """count, median, min and max of a list of numbers (one decimal); {"count": 0} if empty."""
    if not samples:
        return {"count": 0}
    return {"count": len(samples), "median": round(statistics.median(samples), 1),
            "min": round(min(samples), 1), "max": round(max(samples), 1)}

# ---------------------------------------------------------------------------------------------
# Checks and programs shared by the labs


class CheckFailed(Exception):
    """A fatal check failed; the message says which and why."""


class Checks:
    """Records a lab's checks and prints one line per check ("  ok    ..." / "  FAIL  ...").

    check() returns whether the condition held; a failed check is kept in failures and, with
    fatal=True, raises CheckFailed (later steps depend on it).
    """

    def __init__(self):
        self.checks = []
        self.failures = []

    def check(self, condition, message, fatal=False):
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            self.failures.append(message)
            if fatal:
                raise CheckFailed(message)
        return bool(condition)

    def note(self, message):
        print("        " + message, flush=True)


def start_relay(host, relay_bin, address, port=5000, defines=(), log_path=None, timeout=15.0):
    """Starts crosschat-relay in a host namespace (--bind address --port port, each define as
    --define) and waits until it listens; returns the Proc. Raises LabError otherwise. Without a
    relay.dataDir define the relay keeps its state in memory (labs must not share a directory)."""
    argv = [relay_bin, "--bind", address, "--port", str(port)]
    if not any(d.startswith("relay.dataDir=") for d in defines):
        argv += ["--define", "relay.dataDir=:memory:"]
    for define in defines:
        argv += ["--define", define]
    proc = host.spawn(argv, name="relay", log_path=log_path)
    if not proc.wait_for(lambda p: any("listening on" in l.text for l in p.stderr), timeout):
        raise LabError(f"crosschat-relay does not listen on {address}:{port} within {timeout} s: {proc.stderr_tail(3)}")
    return proc


def preflight(lab_name, tools=(), programs=()):
    """What every lab checks before it builds anything: root and network namespaces, the tools
    it needs (tools: names on PATH), the programs it runs (programs: (option, path) pairs, each
    an executable file); then removes namespaces left by an earlier, killed lab. Prints why it
    cannot run and returns the exit code (77 skipped, 1 failed), or None to go on."""
    ok, reason = namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in tools:
        if not shutil.which(tool):
            print(f"SKIPPED: the {lab_name} needs {tool} (scripts/deps.sh installs it)")
            return 77
    for option, path in programs:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"FAILED: {option} {path} is not an executable file")
            return 1
    stale = remove_stale_labs()
    if stale:
        print(f"lab: removed namespaces left by an earlier, killed lab: {stale}")
    return None


# ---------------------------------------------------------------------------------------------
# Resource use of a process (memory, descriptors)


def process_usage(pid):
    """{"rss_kib", "fds", "threads"} of a live process from /proc, or None if it is gone.

    A process in a lab namespace is still a process of this machine: /proc/<pid> of the pid a
    Proc reports (ip netns exec execs the program) is the program itself.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            status = f.read()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    usage = {"fds": fds}
    for key, field in (("VmRSS", "rss_kib"), ("Threads", "threads")):
        match = re.search(rf"^{key}:\s+(\d+)", status, re.MULTILINE)
        usage[field] = int(match.group(1)) if match else None
    return usage


class ProcessSampler:
    """Samples process_usage(pid) every interval seconds on a thread, at most max_samples times.

    samples is [(time.monotonic(), usage)]; peak(field) the largest value seen; window(t0, t1)
    the samples between two times.
    """

    def __init__(self, pid, interval=0.1, max_samples=20000):
        self.pid = pid
        self.interval = interval
        self.max_samples = max_samples
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sampler-{pid}")

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        for _ in range(self.max_samples):
            usage = process_usage(self.pid)
            if usage is None:
                return
            self.samples.append((time.monotonic(), usage))
            if self._stop.wait(self.interval):
                return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5.0)

    def window(self, t0=None, t1=None):
        return [u for t, u in list(self.samples) if (t0 is None or t >= t0) and (t1 is None or t < t1)]

    def peak(self, field, t0=None, t1=None):
        values = [u[field] for u in self.window(t0, t1) if u.get(field) is not None]
        return max(values) if values else None

    def median(self, field, t0=None, t1=None):
        values = [u[field] for u in self.window(t0, t1) if u.get(field) is not None]
        return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# miniupnpd gateways (UPnP IGD + NAT-PMP)


def miniupnpd_ruleset(wan_ifname="wan0", lan_ifname="lan0"):
    """The nftables ruleset of a miniupnpd gateway (Lab.add_upnp_router()).

    Endpoint-independent masquerade on wan_ifname; from the WAN only established/related
    traffic and what miniupnpd's DNAT rules forward (`ct status dnat`) passes; the tables and
    chains miniupnpd 2.3.1 expects with its defaults (upnp_table_name = upnp_nat_table_name =
    "filter": chains miniupnpd, prerouting_miniupnpd, postrouting_miniupnpd) exist and are
    jumped to from the base chains.
    """
    return f"""
table inet filter {{
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname "{wan_ifname}" ct state established,related accept
        iifname "{wan_ifname}" meta l4proto icmp accept
        iifname "{wan_ifname}" drop
    }}
    chain forward {{
        type filter hook forward priority 0; policy drop;
        iifname "{lan_ifname}" oifname "{wan_ifname}" accept
        ct state established,related accept
        ct status dnat accept
        jump miniupnpd
    }}
    chain miniupnpd {{
    }}
    chain prerouting {{
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }}
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
        oifname "{wan_ifname}" masquerade
    }}
    chain prerouting_miniupnpd {{
    }}
    chain postrouting_miniupnpd {{
    }}
}}
"""


def miniupnpd_config(lan_cidr, wan_ifname="wan0", lan_ifname="lan0", uuid_text=None, notify_interval=30):
    """A miniupnpd.conf: UPnP IGD (HTTP on a free port) and NAT-PMP on lan_ifname, secure
    mode, mappings of ports 1024-65535 allowed for hosts of lan_cidr only."""
    return f"""\
ext_ifname={wan_ifname}
listening_ip={lan_ifname}
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
notify_interval={notify_interval}
clean_ruleset_interval=0
uuid={uuid_text or uuid.uuid4()}
allow 1024-65535 {lan_cidr} 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"""


def _network_of(cidr):
    """"192.168.77.1/24" -> "192.168.77.0/24" (IPv4)."""
    return str(ipaddress.ip_interface(cidr).network)


def start_miniupnpd(router, workdir, lan_cidr=None, wan_ifname="wan0", lan_ifname="lan0", timeout=10.0):
    """Starts miniupnpd (foreground, -d) in a router built by Lab.add_upnp_router().

    Writes <workdir>/miniupnpd-<router>.conf (allowing lan_cidr, default: the network of the
    router's lan_ifname address), logs to <workdir>/miniupnpd-<router>.log, and waits until it
    listens for UPnP (HTTP) and NAT-PMP. Returns the Proc; raises LabError if it is not ready.
    """
    if lan_cidr is None:
        lan = [a for ifname, a in router.addresses("inet") if ifname == lan_ifname]
        if not lan:
            raise LabError(f"{router.name}: no IPv4 address on {lan_ifname}")
        lan_cidr = _network_of(lan[0])
    conf = os.path.join(workdir, f"miniupnpd-{router.short}.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(miniupnpd_config(lan_cidr, wan_ifname, lan_ifname))
    pidfile = os.path.join(workdir, f"miniupnpd-{router.short}.pid")
    proc = router.spawn(["miniupnpd", "-d", "-f", conf, "-P", pidfile], name=f"miniupnpd-{router.short}",
                        log_path=os.path.join(workdir, f"miniupnpd-{router.short}.log"))
    # It logs "HTTP listening on port N" and NAT-PMP's socket once it is ready.
    ready = proc.wait_for(
        lambda p: any("HTTP listening" in l.text for l in p.stderr) and
        any("NAT-PMP" in l.text or "natpmp" in l.text.lower() for l in p.stderr), timeout)
    if not ready or not proc.alive:
        raise LabError(f"miniupnpd in {router.name} not ready within {timeout} s: {proc.stderr_tail(5)}")
    return proc


def miniupnpd_mappings(router):
    """The DNAT rules miniupnpd currently has in the router (one string per rule)."""
    out = router.run(["nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd"], check=False).stdout
    return [line.strip() for line in out.splitlines() if "dnat" in line]


def drop_ruleset(table, address, l4proto="tcp"):
    """An nftables table that drops forwarded, incoming and outgoing l4proto packets from or
    to one IPv4 address (a "cut cable" towards it), ahead of every other filter (priority -50).
    Delete it with Namespace.nft_delete_table("inet", table)."""
    match = f"meta l4proto {l4proto} " if l4proto else ""
    chains = []
    for hook in ("forward", "input", "output"):
        chains.append(f"""    chain {hook} {{
        type filter hook {hook} priority -50; policy accept;
        {match}ip saddr {address} drop
        {match}ip daddr {address} drop
    }}""")
    return f"table inet {table} {{\n" + "\n".join(chains) + "\n}\n"


class Link(collections.namedtuple("Link", "a a_ifname b b_ifname")):
    """A veth pair: a_ifname in namespace a, b_ifname in namespace b."""


# ---------------------------------------------------------------------------------------------
# Labs

_LABS = []
_LABS_LOCK = threading.RLock()
_HANDLERS_INSTALLED = False


def close_all_labs():
    """Closes every lab still open in this process (atexit / signal handler)."""
    with _LABS_LOCK:
        labs = list(_LABS)
    for lab in reversed(labs):
        lab.close()


def _on_signal(signum, _frame):
    close_all_labs()
    raise SystemExit(128 + signum)


def _install_handlers():
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(close_all_labs)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _on_signal)


class Lab:
    """A set of namespaces, links and processes that is torn down as a whole."""

    def __init__(self, prefix=None, workdir=None):
        self.prefix = prefix or f"{PREFIX_BASE}{os.getpid()}-"
        self.workdir = workdir
        self.namespaces = []
        self.procs = []
        self._closed = False
        self._closing = False
        _install_handlers()
        with _LABS_LOCK:
            _LABS.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()
        return False

    # -- building ------------------------------------------------------------------------------

    def _create_namespace(self, ns):
        if self._closed:
            raise LabError("lab is closed")
        if any(n.short == ns.short for n in self.namespaces):
            raise LabError(f"namespace {ns.short} exists already")
        # Registered before creation so that close() deletes it even if a later step fails.
        self.namespaces.append(ns)
        _run(["ip", "netns", "add", ns.name])
        ns.ip("link", "set", "lo", "up")
        return ns

    def add_namespace(self, short, role="host"):
        """Creates an empty namespace (lo up, IPv6 on) named prefix+short."""
        return self._create_namespace(Namespace(self, short, role))

    def add_switch(self, short="sw", bridge="br0", snooping=False):
        """Creates a namespace holding a Linux bridge."""
        return Switch(self, short, bridge, snooping)

    def add_host(self, short, switch=None, address=None, ifname="eth0"):
        """Creates a host namespace; with a switch, attaches it (interface ifname, address CIDR)."""
        host = self.add_namespace(short, "host")
        if switch is not None:
            self.attach(host, switch, address, ifname)
        return host

    def add_router(self, short):
        """Creates a namespace that forwards IPv4 and IPv6 between its interfaces."""
        router = self.add_namespace(short, "router")
        router.sysctl("net.ipv4.ip_forward", 1)
        router.sysctl("net.ipv6.conf.all.forwarding", 1)
        return router

    def link(self, a, b, a_ifname, b_ifname, a_address=None, b_address=None):
        """Creates a veth pair between namespaces a and b (created in a, peer placed in b)."""
        a.ip("link", "add", a_ifname, "type", "veth", "peer", "name", b_ifname, "netns", b.name)
        a.links.append(a_ifname)
        b.links.append(b_ifname)
        if a_address:
            a.addr_add(a_ifname, a_address)
        if b_address:
            b.addr_add(b_ifname, b_address)
        a.ip("link", "set", "dev", a_ifname, "up")
        b.ip("link", "set", "dev", b_ifname, "up")
        return Link(a, a_ifname, b, b_ifname)

    def attach(self, ns, switch, address=None, ifname="eth0"):
        """Connects namespace ns to a switch's bridge through a veth pair.

        The switch-side port is named after ns (its short name, cut to 15 characters).
        """
        switch.ports += 1
        port = ns.short[:15]
        link = self.link(ns, switch, ifname, port, a_address=address)
        switch.ip("link", "set", "dev", port, "master", switch.bridge)
        return link

    def add_nat_router(self, short, wan_switch, wan_address, lan_switch, lan_address,
                       wan_ifname="wan0", lan_ifname="lan0", random_ports=False, fully_random=False):
        """Creates a home-router-like NAT between a WAN switch and a LAN switch.

        IP forwarding on; nftables masquerade on the WAN interface (endpoint-independent
        mapping, or a new port per destination with random_ports=True or fully_random=True:
        "symmetric" NAT);
        conntrack-based filtering: from the WAN only established/related packets pass, both
        forwarded and to the router itself (ICMP excepted, so that lab checks can ping the
        router), so unsolicited inbound connections are dropped, not refused. The router has
        no default route. LAN hosts need `route_add("default", via=<lan address>)`.
        """
        router = self.add_router(short)
        self.attach(router, wan_switch, wan_address, ifname=wan_ifname)
        self.attach(router, lan_switch, lan_address, ifname=lan_ifname)
        router.nft(nat_ruleset(wan_ifname, random_ports, fully_random))
        return router

    def add_upnp_router(self, short, wan_switch, wan_address, lan_switch, lan_address,
                        wan_ifname="wan0", lan_ifname="lan0", start=False):
        """Creates a home gateway for miniupnpd between a WAN switch and a LAN switch.

        Like add_nat_router() (endpoint-independent masquerade, unsolicited WAN traffic dropped)
        plus the chains miniupnpd needs (miniupnpd_ruleset()); ports mapped by miniupnpd are
        forwarded. miniupnpd 2.3.1 insists on a WAN address outside the private and reserved
        ranges (documentation and benchmark ranges included) and a private LAN. With start=True
        miniupnpd is started at once (start_miniupnpd(), logs in the lab's workdir); the Proc is
        then router.miniupnpd.
        """
        router = self.add_router(short)
        self.attach(router, wan_switch, wan_address, ifname=wan_ifname)
        self.attach(router, lan_switch, lan_address, ifname=lan_ifname)
        router.nft(miniupnpd_ruleset(wan_ifname, lan_ifname))
        router.miniupnpd = None
        if start:
            if not self.workdir:
                raise LabError("add_upnp_router(start=True) needs a Lab(workdir=...)")
            router.miniupnpd = start_miniupnpd(router, self.workdir, _network_of(lan_address),
                                               wan_ifname, lan_ifname)
        return router

    def wait_addresses(self, timeout=10.0):
        """Waits until no namespace has a tentative IPv6 address (DAD done); True on success."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 1):
            pending = [n.name for n in self.namespaces if n.ip("-6", "addr", "show", "tentative").strip()]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return False

    # -- processes -----------------------------------------------------------------------------

    def spawn(self, ns, argv, name=None, log_path=None, **kwargs):
        """Starts argv inside namespace ns (None: this namespace) and tracks it for close()."""
        if self._closed:
            raise LabError("lab is closed")
        proc = Proc(argv, name=name, netns=ns.name if ns is not None else None, log_path=log_path, **kwargs)
        self.procs.append(proc)
        return proc

    # -- isolation checks ----------------------------------------------------------------------

    def routes_out(self):
        """Returns [(namespace, route)] for default routes in the lab (should be empty unless
        a scenario adds its own default routes towards lab routers)."""
        found = []
        for ns in self.namespaces:
            for family in ("-4", "-6"):
                for line in ns.ip(family, "route", "show", "default").splitlines():
                    if line.strip():
                        found.append((ns.name, line.strip()))
        return found

    # -- teardown ------------------------------------------------------------------------------

    def close(self):
        """Stops every process, kills anything left in the namespaces and deletes them.

        Idempotent and safe to re-enter (e.g. from a signal handler during close()).
        """
        if self._closed or self._closing:
            return
        self._closing = True
        try:
            for proc in reversed(self.procs):
                try:
                    proc.stop(grace=1.0)
                except Exception:  # noqa: BLE001 - cleanup continues whatever happens
                    pass
            for ns in reversed(self.namespaces):
                try:
                    _kill_namespace_pids(ns.name)
                    _run(["ip", "netns", "del", ns.name], check=False)
                    _remove_netns_etc(ns.name)
                except Exception:  # noqa: BLE001
                    pass
        finally:
            self._closed = True
            self._closing = False
            with _LABS_LOCK:
                if self in _LABS:
                    _LABS.remove(self)

    def leftovers(self):
        """Returns the lab's namespaces (and /etc/netns directories) that still exist (empty after
        a clean close())."""
        etc = os.listdir(NETNS_ETC) if os.path.isdir(NETNS_ETC) else []
        return [n for n in list_namespaces() + etc if n.startswith(self.prefix)]


# ---------------------------------------------------------------------------------------------
# Packet captures


def read_pcap(path, max_records=1000000):
    """Parses a classic pcap file; returns (linktype, [(ts_seconds, packet_bytes)])."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None, []
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise LabError(f"{path}: not a pcap file (magic {magic:#x})")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    records = []
    offset = 24
    for _ in range(max_records):
        if offset + 16 > len(data):
            break
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[offset:offset + 16])
        offset += 16
        if offset + incl > len(data):
            break  # truncated last record (capture stopped mid-write)
        records.append((sec + frac / (1e9 if nano else 1e6), data[offset:offset + incl]))
        offset += incl
    return linktype, records


TcpPacket = collections.namedtuple("TcpPacket", "src sport dst dport flags payload_length")
"""One TCP segment of a capture: addresses, ports, the TCP flags byte and the payload length."""

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_packet(linktype, packet):
    """Returns a TcpPacket for a TCP packet, else None.

    Understands Ethernet (1), Linux cooked v1 (113) and v2 (276, tcpdump -i any) and raw IP
    (101) captures, IPv4 and IPv6 (without IPv6 extension headers).
    """
    if linktype == 1:
        if len(packet) < 14:
            return None
        ethertype = struct.unpack("!H", packet[12:14])[0]
        offset = 14
        if ethertype == 0x8100 and len(packet) >= 18:
            ethertype = struct.unpack("!H", packet[16:18])[0]
            offset = 18
    elif linktype == 113:
        if len(packet) < 16:
            return None
        ethertype = struct.unpack("!H", packet[14:16])[0]
        offset = 16
    elif linktype == 276:
        if len(packet) < 20:
            return None
        ethertype = struct.unpack("!H", packet[0:2])[0]
        offset = 20
    elif linktype == 101:
        ethertype = 0x0800 if packet and packet[0] >> 4 == 4 else 0x86DD
        offset = 0
    else:
        return None
    ip = packet[offset:]
    if ethertype == 0x0800 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6:
            return None
        src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
        tcp, tcp_len = ip[ihl:total], total - ihl
    elif ethertype == 0x86DD and len(ip) >= 40:
        if ip[6] != 6:
            return None
        payload_len = struct.unpack("!H", ip[4:6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
        tcp, tcp_len = ip[40:40 + payload_len], payload_len
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport = struct.unpack("!HH", tcp[:4])
    data_offset = (tcp[12] >> 4) * 4
    return TcpPacket(src, sport, dst, dport, tcp[13], max(0, tcp_len - data_offset))


def tcp_segments(linktype, packet):
    """Returns (src, sport, dst, dport, payload_length) for a TCP packet, else None."""
    p = tcp_packet(linktype, packet)
    return None if p is None else (p.src, p.sport, p.dst, p.dport, p.payload_length)


class Capture:
    """tcpdump running inside a namespace, writing a pcap file (stopped by stop()).

    libpcap's memory-mapped ring holds buffer_kib / snaplen frames; with tcpdump's default
    snaplen of 256 KiB and 2 MiB ring that is 8 frames, and a burst of packets is dropped. The
    defaults here keep whole 64 KiB segments (veth passes TSO super-packets) in a 32 MiB ring.
    """

    def __init__(self, ns, interface, path, bpf_filter="tcp", log_path=None, snaplen=65600, buffer_kib=32768):
        self.path = path
        self.interface = interface
        argv = ["tcpdump", "-i", interface, "-n", "-U", "--immediate-mode", "-Z", "root",
                "-s", str(snaplen), "-B", str(buffer_kib), "-w", path] + bpf_filter.split()
        self.proc = ns.spawn(argv, name=f"tcpdump-{ns.short}-{interface}", log_path=log_path)

    def wait_listening(self, timeout=10.0):
        """Waits until tcpdump reports that it captures; True on success."""
        return bool(self.proc.wait_for(
            lambda p: any("listening on" in l.text for l in p.stderr), timeout))

    def stop(self, timeout=5.0):
        """Stops tcpdump (SIGINT, it flushes the file); returns its exit code or None."""
        self.proc.kill(signal.SIGINT)
        code = self.proc.wait(timeout)
        self.proc.stop(grace=1.0)
        return code

    def dropped(self):
        """Packets tcpdump reported "dropped by kernel" (after stop()), or None if unknown."""
        for line in self.proc.stderr_tail(10):
            match = re.match(r"(\d+) packets? dropped by kernel", line)
            if match:
                return int(match.group(1))
        return None

    def segments(self):
        """Returns [(src, sport, dst, dport, payload_length)] of the captured TCP packets."""
        linktype, records = read_pcap(self.path)
        return [s for s in (tcp_segments(linktype, pkt) for _t, pkt in records) if s]

    def summary(self):
        """Returns {"bytes", "packets", "tcp_packets", "tcp_payload_packets", "tcp_payload_bytes"}."""
        linktype, records = read_pcap(self.path)
        tcp = [s for s in (tcp_segments(linktype, pkt) for _t, pkt in records) if s]
        with_payload = [s for s in tcp if s[4] > 0]
        return {
            "bytes": os.path.getsize(self.path),
            "dropped_by_kernel": self.dropped(),
            "linktype": linktype,
            "packets": len(records),
            "tcp_packets": len(tcp),
            "tcp_payload_packets": len(with_payload),
            "tcp_payload_bytes": sum(s[4] for s in with_payload),
        }

    def packets(self):
        """Returns [(ts, TcpPacket)] of the captured TCP packets (ts: the pcap's wall-clock time,
        comparable with time.time())."""
        linktype, records = read_pcap(self.path)
        return [(t, p) for t, p in ((t, tcp_packet(linktype, pkt)) for t, pkt in records) if p]

    def syns(self, hosts=None, before=None, after=None):
        """Connection attempts: [(ts, TcpPacket)] with SYN set and ACK clear, optionally only
        those toward one of hosts (a set of address strings) and with after <= ts < before."""
        found = []
        for t, p in self.packets():
            if not p.flags & TCP_SYN or p.flags & TCP_ACK:
                continue
            if hosts is not None and p.dst not in hosts:
                continue
            if (before is not None and t >= before) or (after is not None and t < after):
                continue
            found.append((t, p))
        return found

    def contains(self, needle):
        """True if needle (bytes) occurs anywhere in the raw capture file."""
        with open(self.path, "rb") as f:
            return needle in f.read()
