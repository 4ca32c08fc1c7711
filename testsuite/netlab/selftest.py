#!/usr/bin/env python3
"""selftest.py — checks the netlab plumbing itself, without crosschat (CTest: netlab-selftest).

Builds three hosts on one bridge and checks: unicast ping between all hosts, an IPv4 UDP
broadcast and an IPv6 link-local multicast datagram from h1 reach h2 and h3, no lab route
leads out of the lab, no interface appears in the root namespace, and after close() no lab
namespace is left. Exit 0 = pass, 1 = fail, 77 = skipped (not root / no namespaces).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402

PORT = 54999
GROUP = "ff02::cc:4242"

RECEIVER = r"""
import json, socket, struct, sys
family, port, group, ifname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if family == "4":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::", port))
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(ifname))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
s.settimeout(10)
print(json.dumps({"event": "ready"}), flush=True)
try:
    data, addr = s.recvfrom(2048)
    print(json.dumps({"event": "datagram", "text": data.decode(), "from": addr[0]}), flush=True)
except socket.timeout:
    print(json.dumps({"event": "timeout"}), flush=True)
"""

SENDER = r"""
import socket, sys, time
family, port, dest, ifname, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if family == "4":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    target = (dest, port)
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    index = socket.if_nametoindex(ifname)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
    target = (dest, port, 0, index)
for _ in range(5):
    s.sendto(text.encode(), target)
    time.sleep(0.1)
"""


def main():
    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    failures = []

    def check(condition, message):
        print(("ok   " if condition else "FAIL ") + message)
        if not condition:
            failures.append(message)

    before = netlab.root_interfaces()
    lab = netlab.Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="netlab-selftest.") as work:
            switch = lab.add_switch("sw")
            hosts = [lab.add_host(f"h{i}", switch, f"198.18.0.{i}/24") for i in (1, 2, 3)]
            check(lab.wait_addresses(10), "IPv6 duplicate address detection finished in every namespace")
            check(netlab.root_interfaces() == before, "no lab interface in the root namespace")
            check(lab.routes_out() == [], "no default route in any lab namespace")
            for h in hosts:
                link_local = [a for i, a in h.addresses(6) if i == "eth0" and a.startswith("fe80:")]
                check(bool(link_local), f"{h.short} eth0 has an IPv6 link-local address {link_local}")
            for a in hosts:
                for b in hosts:
                    if a is not b:
                        target = f"198.18.0.{b.short[1:]}"
                        check(a.ping(target), f"ping {a.short} -> {b.short} ({target})")
            # Nothing outside the lab is reachable: the machine's own addresses are not.
            outside = [a.split("/")[0] for i, a in netlab.Namespace.addresses(_RootNs(), 4) if i != "lo"]
            for address in outside[:3]:
                check(not hosts[0].ping(address), f"h1 cannot reach the machine's own address {address}")
            for family, dest in (("4", "198.18.0.255"), ("6", GROUP)):
                receivers = [h.spawn([sys.executable, "-c", RECEIVER, family, str(PORT), GROUP, "eth0"],
                                     name=f"rx{family}-{h.short}") for h in hosts[1:]]
                for r in receivers:
                    check(r.wait_event("ready", 5) is not None, f"receiver {r.name} started")
                text = f"netlab-selftest-{family}-{os.getpid()}"
                hosts[0].run([sys.executable, "-c", SENDER, family, str(PORT), dest, "eth0", text], timeout=10)
                for r in receivers:
                    got = r.wait_event("datagram", 5)
                    check(got is not None and got.data["text"] == text,
                          f"IPv{family} {'broadcast' if family == '4' else 'multicast'} h1 -> "
                          f"{r.name} ({got.data['from'] if got else 'nothing'})")
            # A capture on every switch port (a capture on br0 itself would miss forwarded
            # unicast frames) sees TCP between hosts.
            capture = netlab.Capture(switch, "any", os.path.join(work, "switch.pcap"))
            check(capture.wait_listening(5), "tcpdump listens on the switch ports")
            server = hosts[1].spawn([sys.executable, "-c",
                                     "import socket;s=socket.create_server(('0.0.0.0',55000));s.settimeout(5);"
                                     "print('{\"event\":\"ready\"}',flush=True);c,_=s.accept();c.recv(100)"],
                                    name="tcp-server")
            server.wait_event("ready", 5)
            hosts[0].run([sys.executable, "-c",
                          "import socket;c=socket.create_connection(('198.18.0.2',55000),timeout=5);"
                          "c.sendall(b'netlab-plaintext-marker')"], timeout=10)
            server.wait(5)
            capture.stop()
            summary = capture.summary()
            check(summary["tcp_payload_packets"] >= 1, f"capture parsed: {summary}")
            check(capture.contains(b"netlab-plaintext-marker"), "capture holds the plaintext sent (search works)")
    finally:
        lab.close()
    check(lab.leftovers() == [], "no lab namespace left after close()")
    check(netlab.root_interfaces() == before, "root namespace interfaces unchanged after close()")
    print("netlab selftest:", "PASSED" if not failures else f"FAILED ({len(failures)})")
    return 0 if not failures else 1


class _RootNs:
    """Stands in for a Namespace to read the root namespace's addresses (read-only)."""

    @staticmethod
    def ip(*args, check=True):
        return netlab._run(["ip"] + list(args)).stdout


if __name__ == "__main__":
    sys.exit(main())
