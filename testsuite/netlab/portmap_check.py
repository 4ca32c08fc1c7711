#!/usr/bin/env python3
"""portmap_check.py — PortMapper against miniupnpd in an isolated network lab (CTest: netlab-portmap).

Usage: portmap_check.py --check-bin PATH [--results FILE] [--keep]

Topology (every node is a network namespace of the lab; nothing touches the root namespace):

    "WAN" switch 11.0.0.0/24:  gateway gw 11.0.0.1 (wan0), outside host out 11.0.0.2
    LAN switch 192.168.77.0/24: gw 192.168.77.1 (lan0), host h 192.168.77.2 (default route via gw)

miniupnpd 2.3.1 refuses to map with a reserved WAN address (documentation and benchmark
ranges included) or a public LAN address, so this lab (like nat_matrix.py) uses 11.0.0.0/24
as its "WAN" and a private LAN. They exist only inside the lab: no namespace is linked to the machine's
network and no lab route leads out of it. The gateway (netlab.Lab.add_upnp_router and
netlab.start_miniupnpd, shared with nat_matrix.py) masquerades LAN traffic, drops unsolicited
WAN traffic except what miniupnpd's DNAT rules forward, and runs miniupnpd (UPnP IGD +
NAT-PMP) on lan0.

Checks (each wait bounded), for NAT-PMP and then UPnP (PortMapper-check --protocol P on h):
  1. the mapping becomes active with that protocol, external address 11.0.0.1:<port>;
  2. out connects to 11.0.0.1:<port> (forwarded to the probe's listener on h);
  3. after the probe is told to quit, the mapping is deleted (within 2 s): the gateway's
     miniupnpd chain has no rule left and out's connection attempt fails.
Then, on out (no gateway, no default route): the probe reports "no UPnP or NAT-PMP gateway
found" within its two discovery timeouts. Before that, the lab checks that out cannot reach
h's port unmapped.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no nft or miniupnpd).
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402

GW_WAN = "11.0.0.1"
OUT_WAN = "11.0.0.2"
GW_LAN = "192.168.77.1"
HOST_LAN = "192.168.77.2"
PROBE_PORT = 40100
DISCOVERY_MS = 2000
NO_GATEWAY = "no UPnP or NAT-PMP gateway found"
DEADLINE = 110  # seconds for the whole run (CTest's TIMEOUT is 120)

class Failed(Exception):
    """A check failed; the message says which and why."""


class PortmapLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab(workdir=work)
        self.checks = []
        self.results = {}
        self.miniupnpd = None

    def check(self, condition, message):
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            raise Failed(message)

    def build(self):
        lab = self.lab
        wan = lab.add_switch("wan")
        lan = lab.add_switch("lan")
        # The gateway's nftables ruleset and miniupnpd setup are shared with nat_matrix.py (netlab.py).
        self.gw = lab.add_upnp_router("gw", wan, f"{GW_WAN}/24", lan, f"{GW_LAN}/24")
        self.out = lab.add_host("out", wan, f"{OUT_WAN}/24")
        self.host = lab.add_host("h", lan, f"{HOST_LAN}/24")
        self.host.route_add("default", via=GW_LAN)
        lab.wait_addresses()
        self.check(self.host.ping(GW_LAN) and self.out.ping(GW_WAN), "lab: h reaches gw, out reaches gw")
        routes = [r for r in lab.routes_out() if not r[0].endswith("-h")]
        self.check(not routes, f"lab: no default route except h's to gw ({routes})")

    def start_miniupnpd(self):
        try:
            self.miniupnpd = netlab.start_miniupnpd(self.gw, self.work, f"{GW_LAN.rsplit('.', 1)[0]}.0/24")
        except netlab.LabError as exc:
            self.check(False, f"miniupnpd runs in gw ({exc})")
        self.check(self.miniupnpd.alive, "miniupnpd runs in gw (UPnP IGD + NAT-PMP on lan0)")

    def mapping_rules(self):
        return netlab.miniupnpd_mappings(self.gw)

    def probe(self, ns, protocol, name):
        argv = [self.args.check_bin, "--protocol", protocol, "--timeout-ms", str(DISCOVERY_MS)]
        if ns is self.host:
            argv += ["--port", str(PROBE_PORT)]
        return ns.spawn(argv, name=name, log_path=os.path.join(self.work, f"{name}.log"))

    def round(self, protocol):
        print(f"{protocol}:", flush=True)
        started = time.monotonic()
        proc = self.probe(self.host, protocol, f"probe-{protocol}")
        event = proc.wait_event("mapping", 15)
        self.check(event is not None, f"{protocol}: the probe reports a mapping ({proc.stderr_tail(5)})")
        data = event.data
        elapsed_ms = round((event.t - started) * 1000)
        self.check(data["active"] and data["protocol"] == protocol,
                   f"{protocol}: mapping active via {protocol} ({json.dumps(data)})")
        host, _, port = data["external"].rpartition(":")
        self.check(host == GW_WAN and port.isdigit(), f"{protocol}: external address {data['external']} on gw's WAN")
        rules = self.mapping_rules()
        self.check(any(f"{HOST_LAN}:{PROBE_PORT}" in r or f"dport {port}" in r for r in rules),
                   f"{protocol}: miniupnpd added a DNAT rule ({rules})")
        result = self.out.tcp_connect(GW_WAN, int(port), timeout=3.0)
        self.check(result == "connected", f"{protocol}: out connects through {data['external']} ({result})")

        proc.send("quit")
        removed = proc.wait_event("removed", 10)
        code = proc.wait(5)
        self.check(removed is not None and code == 0, f"{protocol}: the probe removed the mapping and exited 0 ({code})")
        self.check(removed.data["ms"] <= 2500, f"{protocol}: removal took {removed.data['ms']} ms (bound 2 s)")
        rules_after = self.mapping_rules()
        self.check(not rules_after, f"{protocol}: no DNAT rule left ({rules_after})")
        result = self.out.tcp_connect(GW_WAN, int(port), timeout=1.5)
        self.check(result != "connected", f"{protocol}: out no longer connects ({result})")
        self.results[protocol] = {"external": data["external"], "lease": data["lease"],
                                  "mapped_ms": elapsed_ms, "removal_ms": removed.data["ms"]}

    def no_gateway(self):
        print("no gateway:", flush=True)
        started = time.monotonic()
        proc = self.probe(self.out, "any", "probe-none")
        event = proc.wait_event("mapping", 15)
        self.check(event is not None, "none: the probe on out reports")
        elapsed = event.t - started
        self.check(not event.data["active"] and event.data["error"] == NO_GATEWAY,
                   f"none: {json.dumps(event.data)}")
        self.check(elapsed < 2 * DISCOVERY_MS / 1000 + 2.0, f"none: reported after {elapsed:.2f} s")
        self.check(proc.wait(10) == 1, "none: the probe exits 1")
        self.results["none"] = {"reported_ms": round(elapsed * 1000)}

    def run(self):
        self.build()
        result = self.out.tcp_connect(GW_WAN, PROBE_PORT, timeout=1.5)
        self.check(result == "timeout", f"lab: unmapped port {PROBE_PORT} is dropped at gw ({result})")
        self.start_miniupnpd()
        self.round("natpmp")
        self.round("upnp")
        self.no_gateway()

    def dump_logs(self):
        for proc in self.lab.procs:
            print(f"--- {proc.name} stderr (last lines) ---")
            for line in proc.stderr_tail(15):
                print("    " + line)
            for e in proc.find()[-5:]:
                print("    " + json.dumps(e.data)[:300])

    def close(self):
        self.lab.close()
        return not self.lab.leftovers()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-bin", required=True, help="path to the PortMapper-check program")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs (also: NETLAB_KEEP=1)")
    args = parser.parse_args()

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in ("nft", "miniupnpd"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"SKIPPED: the port mapping lab needs {tool} (scripts/deps.sh installs it)")
            return 77
    if not (os.path.isfile(args.check_bin) and os.access(args.check_bin, os.X_OK)):
        print(f"FAILED: --check-bin {args.check_bin} is not an executable file")
        return 1
    args.check_bin = os.path.abspath(args.check_bin)
    netlab.remove_stale_labs()

    def on_alarm(_signum, _frame):
        raise Failed(f"the lab ran longer than {DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    work = tempfile.mkdtemp(prefix="crosschat-portmaplab.")
    lab = PortmapLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.run()
    except (Failed, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    except SystemExit:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        signal.alarm(0)
        if error:
            lab.dump_logs()
        clean = lab.close()
    passed = error is None and clean
    lab.results.update({"passed": passed, "error": error, "checks": lab.checks,
                        "seconds": round(time.monotonic() - started, 1)})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(lab.results, f, indent=2)
    print()
    print("summary:")
    for protocol in ("natpmp", "upnp"):
        if protocol in lab.results:
            r = lab.results[protocol]
            print(f"  {protocol:7} mapped {r['external']} (lease {r['lease']} s) in {r['mapped_ms']} ms, "
                  f"removed in {r['removal_ms']} ms")
    if "none" in lab.results:
        print(f"  none    'no gateway' reported after {lab.results['none']['reported_ms']} ms")
    if args.keep:
        print(f"  work dir {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-portmap:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
