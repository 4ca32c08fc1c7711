#!/usr/bin/env python3
"""nat_matrix.py — crosschat across every pair of NAT kinds, and a direct path cut mid-chat
(CTest: netlab-nat).

Usage: nat_matrix.py --crosschat PATH --relay-bin PATH [--results FILE] [--keep]
                     [--pairs KIND-KIND,...] [--both-directions] [--eim-edm-runs N] [--no-cut]
                     [--window S]

Topology (every node is a network namespace of the lab; nothing touches the root namespace):

    "internet" switch 11.0.0.0/24 (no route out of the lab; see below):
        relay 11.0.0.10 (crosschat-relay, port 5000, NAT probe port 5001)
        NONE  sites: hosts n1 11.0.0.21 and n2 11.0.0.22 directly on the internet
        EIM   sites: routers re1 11.0.0.31, re2 11.0.0.32; LANs 198.18.31.0/24, 198.18.32.0/24
        EDM   sites: routers rd1 11.0.0.41, rd2 11.0.0.42; LANs 198.18.41.0/24, 198.18.42.0/24
        UPNP  sites: routers ru1 11.0.0.51, ru2 11.0.0.52; LANs 192.168.51.0/24, 192.168.52.0/24
    Each NAT site: router .1 on its LAN switch, one host .11 (e1, e2, d1, d2, u1, u2) whose
    default route points to its router.

    EIM:  nftables `masquerade` (endpoint-independent mapping, port preserved), unsolicited
          inbound from the WAN dropped (conntrack: only established/related passes).
    EDM:  `masquerade random,fully-random` (a new external port per connection, hence per
          destination: endpoint-dependent, "symmetric"), unsolicited inbound dropped.
    UPNP: miniupnpd 2.3.1 (UPnP IGD + NAT-PMP on the LAN), EIM masquerade otherwise; ports it
          maps are forwarded, everything else unsolicited is dropped.

miniupnpd 2.3.1 refuses to map ports when its WAN address is private or reserved (the
documentation and benchmark ranges included), so the whole internet segment uses the
non-reserved 11.0.0.0/24 (as portmap_check.py does). Those addresses exist only inside this
isolated lab: no namespace is linked to the machine's network and no lab route leads out.

For each unordered pair of kinds (10 pairs; same-kind pairs use the two sites of that kind),
fresh crosschat processes (new identities, so either side may have the smaller ID and start
the hole punches) run on the two hosts with
`--json --no-lan --relay http://11.0.0.10:5000 --verbose` (port mapping on, where crosschat
has it). Once both report the relay online and (via /netinfo) their NAT mapping type, the
first site sends /msg <peer-id> to the second; measured: time to the first message and its
path, then (up to --window s after it, 30 s for EIM x EDM) the first "path" event to
"direct": the time to the upgrade. A reply from the second site checks the final path. The hole punches each side dials
and port predictions are counted from its debug log ("hole punch N with ...", "port
prediction with ...: N dials").

Asserted: every pair connects (the message arrives exactly once, "delivered" at the sender);
the final path is direct for every pair with a NONE or UPNP side and for EIM x EIM, relay for
EDM x EDM; punch attempts never exceed 3 per upgrade round. EIM x EDM (bounded port
prediction, issue 5 item 7): only connectivity and the punch budget are asserted; the direct
rate over --eim-edm-runs runs is reported.

Cut-path scenario: an EIM x EIM pair that went direct; re1 then drops all TCP to and from
re2's public address (the relay stays reachable); 10 messages, one every 300 ms: all arrive
exactly once and in order (failover to the relay after the 10 s receipt timeout); the rule is
removed; the pair must upgrade to direct again within RECOVERY_TIMEOUT.

Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no nft or miniupnpd).
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402

INET_PREFIX = "11.0.0"
RELAY_ADDRESS = f"{INET_PREFIX}.10"
RELAY_PORT = 5000
RELAY_URL = f"http://{RELAY_ADDRESS}:{RELAY_PORT}"
RELAY_DEFINES = ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10"]

KINDS = ["NONE", "EIM", "EDM", "UPNP"]
SITES = {
    # name: (kind, public address, LAN prefix or None)
    "n1": ("NONE", f"{INET_PREFIX}.21", None),
    "n2": ("NONE", f"{INET_PREFIX}.22", None),
    "e1": ("EIM", f"{INET_PREFIX}.31", "198.18.31"),
    "e2": ("EIM", f"{INET_PREFIX}.32", "198.18.32"),
    "d1": ("EDM", f"{INET_PREFIX}.41", "198.18.41"),
    "d2": ("EDM", f"{INET_PREFIX}.42", "198.18.42"),
    "u1": ("UPNP", f"{INET_PREFIX}.51", "192.168.51"),
    "u2": ("UPNP", f"{INET_PREFIX}.52", "192.168.52"),
}
EXPECTED = {  # final path asserted per unordered pair of kinds; None = not asserted (reported)
    frozenset(["NONE"]): "direct", frozenset(["NONE", "EIM"]): "direct", frozenset(["NONE", "EDM"]): "direct",
    frozenset(["NONE", "UPNP"]): "direct", frozenset(["EIM"]): "direct", frozenset(["EIM", "EDM"]): None,
    frozenset(["EIM", "UPNP"]): "direct", frozenset(["EDM"]): "relay", frozenset(["EDM", "UPNP"]): "direct",
    frozenset(["UPNP"]): "direct",
}
MAX_PUNCHES_PER_ROUND = 3

START_TIMEOUT = 15.0       # ready + relay online
NETINFO_TIMEOUT = 10.0     # NAT type (and port mapping) known
FIRST_MSG_TIMEOUT = 30.0   # lookup, direct tries (1.5 s each), relay tunnel
UPGRADE_WINDOW = 15.0      # seconds after the reply to wait for a direct path
EIM_EDM_WINDOW = 20.0      # the same for EIM x EDM (port prediction: 3 attempts 2 s apart, each dial living 9 s)
REPLY_TIMEOUT = 15.0
SETTLE = 1.0               # seconds to wait for duplicates
CUT_MESSAGES = 10
CUT_INTERVAL = 0.3
CUT_DELIVERY_BOUND = 30.0     # asserted: all messages in, seconds after the cut (receipt timeout 10 s + redial)
CUT_DELIVERY_WAIT = 70.0      # measured up to this long (a slower failover is reported, then fails)
RECOVERY_TIMEOUT = 75.0       # upgrade rounds back off 1 s doubling to 60 s
DEADLINE = 570                # seconds for the whole run (CTest's TIMEOUT is 600)

PUNCH_GROUP_S = 3.5          # crosschat repeats refused punch dials for 3 s (PUNCH_WINDOW)
PUNCH_RE = re.compile(r"hole punch (\d+) with (\S+): dialing (\S+) from port (\d+)")
# (crosschat's format string prints "[ERRFMT]" for the direction and address at the moment)
PREDICT_RE = re.compile(r"port prediction (?:\d+ )?with (\S+): (\d+) dials(?: (?:from fresh ports to|to guessed ports of) (\S+))?")
PUNCH_DIAL_S = 3.0            # crosschat's PUNCH_CONNECT_TIMEOUT: every dial of an attempt ends within it
PREDICTION_INTERVAL_S = 2.0   # crosschat's PREDICTION_INTERVAL: the attempts of one prediction round
MAX_PREDICTION_DIALS = 256    # crosschat's PREDICTION_PROBES (the other side opens PREDICTION_SOCKETS = 64)


class Failed(Exception):
    """A fatal check failed."""


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0)


def pair_key(kind_a, kind_b):
    return frozenset([kind_a, kind_b])


class Chat:
    """One crosschat process on a site's host."""

    def __init__(self, site, proc, name):
        self.site = site
        self.proc = proc
        self.name = name
        self.id = None
        self.netinfo = None

    def send(self, line):
        return self.proc.send(line)


class NatMatrix:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab(workdir=work)
        self.checks = []
        self.failures = []
        self.root_before = netlab.root_interfaces()
        self.hosts = {}
        self.routers = {}
        self.relay_proc = None
        self.run_serial = 0
        self.results = {"config": {"relay_url": RELAY_URL, "relay_defines": RELAY_DEFINES,
                                   "upgrade_window_s": args.window, "sites": {
                                       k: {"kind": v[0], "public": v[1], "lan": f"{v[2]}.0/24" if v[2] else None}
                                       for k, v in SITES.items()}},
                        "pairs": [], "eim_edm_runs": [], "cut": None}

    # -- reporting -----------------------------------------------------------------------------

    def check(self, condition, message, fatal=False):
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  PASS  " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            self.failures.append(message)
            if fatal:
                raise Failed(message)
        return bool(condition)

    def note(self, message):
        print("        " + message, flush=True)

    # -- lab -----------------------------------------------------------------------------------

    def build(self):
        print(f"lab: internet {INET_PREFIX}.0/24 with the relay, 2 public hosts and 6 NAT routers "
              "(2 EIM, 2 EDM, 2 miniupnpd)", flush=True)
        lab = self.lab
        inet = lab.add_switch("inet")
        self.relay_host = lab.add_host("relay", inet, f"{RELAY_ADDRESS}/24")
        for name, (kind, public, lan) in SITES.items():
            if kind == "NONE":
                self.hosts[name] = lab.add_host(name, inet, f"{public}/24")
                continue
            lan_switch = lab.add_switch(f"l{name}")
            if kind == "UPNP":
                router = lab.add_upnp_router(f"r{name}", inet, f"{public}/24", lan_switch, f"{lan}.1/24")
            else:
                router = lab.add_nat_router(f"r{name}", inet, f"{public}/24", lan_switch, f"{lan}.1/24",
                                            random_ports=kind == "EDM", fully_random=kind == "EDM")
            self.routers[name] = router
            host = lab.add_host(name, lan_switch, f"{lan}.11/24")
            host.route_add("default", via=f"{lan}.1")
            self.hosts[name] = host
        self.check(lab.wait_addresses(10), "lab: IPv6 DAD done in every namespace", fatal=True)
        self.check(netlab.root_interfaces() == self.root_before, "lab: no lab interface in the root namespace",
                   fatal=True)
        defaults = sorted(ns for ns, _route in lab.routes_out())
        expected = sorted(self.hosts[n].name for n, v in SITES.items() if v[0] != "NONE")
        self.check(defaults == expected, f"lab: default routes only on NAT hosts, to their router ({defaults})",
                   fatal=True)
        for name, host in self.hosts.items():
            self.check(host.ping(RELAY_ADDRESS), f"lab: {name} reaches the relay host", fatal=True)
        self.check(not self.relay_host.ping(f"{SITES['e1'][2]}.11", timeout=0.5),
                   "lab: the relay host cannot reach a LAN address", fatal=True)
        # Unsolicited inbound is dropped at every NAT router (no mapping yet).
        listener = self.hosts["e1"].spawn([sys.executable, "-c",
                                           "import socket,time;s=socket.create_server(('0.0.0.0',47001));"
                                           "print('{\"event\":\"ready\"}',flush=True);time.sleep(30)"],
                                          name="e1-listener")
        self.check(listener.wait_event("ready", 5) is not None, "lab: test listener on e1", fatal=True)
        outcome = self.hosts["n1"].tcp_connect(SITES["e1"][1], 47001, 1.5)
        self.check(outcome == "timeout", f"lab: unsolicited TCP to re1's public address is dropped ({outcome})",
                   fatal=True)
        listener.stop(grace=0.5)
        for name in ("u1", "u2"):
            try:
                self.routers[name].miniupnpd = netlab.start_miniupnpd(self.routers[name], self.work)
            except netlab.LabError as exc:
                self.check(False, f"lab: miniupnpd in r{name} ({exc})", fatal=True)
        self.check(True, "lab: miniupnpd runs in ru1 and ru2 (UPnP IGD + NAT-PMP)")

    def start_relay(self):
        argv = [self.args.relay_bin, "--bind", RELAY_ADDRESS, "--port", str(RELAY_PORT), "--data-dir", ":memory:"]
        for define in RELAY_DEFINES:
            argv += ["--define", define]
        proc = self.relay_host.spawn(argv, name="relay", log_path=os.path.join(self.work, "relay.log"))
        listening = proc.wait_for(lambda p: any("listening on" in l.text for l in p.stderr), START_TIMEOUT)
        self.check(listening, f"crosschat-relay listens on {RELAY_URL} ({proc.stderr_tail(3)})", fatal=True)
        self.relay_proc = proc

    # -- crosschat -----------------------------------------------------------------------------

    def start_chat(self, site):
        self.run_serial += 1
        name = f"{site}-{self.run_serial}"
        argv = [self.args.crosschat, "--json", "--name", name, "--data-dir", os.path.join(self.work, name),
                "--no-lan", "--relay", RELAY_URL, "--verbose"]
        proc = self.hosts[site].spawn(argv, name=name, log_path=os.path.join(self.work, name + ".log"))
        return Chat(site, proc, name)

    def wait_started(self, chat):
        ready = chat.proc.wait_event("ready", START_TIMEOUT)
        if ready is None:
            self.check(False, f"{chat.name}: 'ready' within {START_TIMEOUT:.0f} s (stderr {chat.proc.stderr_tail(5)})",
                       fatal=True)
        chat.id = ready.data.get("id")
        online = chat.proc.wait_event("relay", START_TIMEOUT, state="online")
        if online is None:
            self.check(False, f"{chat.name}: relay online within {START_TIMEOUT:.0f} s "
                       f"({[e.data for e in chat.proc.find('relay')][-3:]})", fatal=True)
        return ms(online.t - chat.proc.started)

    def query_netinfo(self, chat, want_mapping):
        """Polls /netinfo until the NAT type is known (and, with want_mapping, a port mapping is
        reported active) or NETINFO_TIMEOUT passes; returns the last netinfo event's data."""
        deadline = time.monotonic() + NETINFO_TIMEOUT
        last = None
        for _ in range(100):
            count = len(chat.proc.find("netinfo"))
            chat.send("/netinfo")
            chat.proc.wait_for(lambda p: len(p.find("netinfo")) > count, 3.0)
            events = chat.proc.find("netinfo")
            if len(events) > count:
                last = events[-1].data
                mapping_ok = not want_mapping or "port_mapping" not in last or _mapping_active(last)
                if last.get("nat") not in (None, "", "unknown") and mapping_ok:
                    break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        chat.netinfo = last
        return last

    def stop_chats(self, chats):
        for chat in chats:
            if chat.proc.alive:
                try:
                    chat.send("/quit")
                except (BrokenPipeError, OSError):
                    pass
        codes = {c.name: c.proc.wait(5) for c in chats}
        for chat in chats:
            chat.proc.stop(grace=0.5)
        return codes

    # -- log analysis --------------------------------------------------------------------------

    @staticmethod
    def compact_punches(punch_list, t0, limit=40):
        """[(ms after t0, attempt, remote, dials)] with repeated identical dials merged."""
        out = []
        for t, attempt, _peer, remote, dials in punch_list:
            if out and attempt is not None and out[-1][1] == attempt and out[-1][2] == remote:
                out[-1][3] += dials
            else:
                out.append([ms(t - t0), attempt, remote, dials])
        return out[:limit]

    @staticmethod
    def punches(chat, since=None):
        """[(t, attempt, peer, remote, dials)] of the hole punches and port predictions chat
        dialed (from its debug log). A punch line is one dial (attempt = its number); a
        prediction line is one attempt with many dials (attempt = None)."""
        found = []
        for line in chat.proc.stderr:
            if since is not None and line.t < since:
                continue
            m = PUNCH_RE.search(line.text)
            if m:
                found.append((line.t, int(m.group(1)), m.group(2), m.group(3), 1))
                continue
            m = PREDICT_RE.search(line.text)
            if m:
                found.append((line.t, None, m.group(1), m.group(3) or "?", int(m.group(2))))
        return found

    @staticmethod
    def punch_budget(punch_list):
        """Groups the logged dials into attempts and upgrade rounds.

        crosschat logs one line per punch dial and repeats a refused dial within its punch
        window (3 s) under the same attempt number: consecutive lines with the same number and
        remote address within PUNCH_GROUP_S are one attempt. A numbered attempt not higher than
        the previous one starts a new round. A port prediction (one line, many dials) is one
        attempt; it starts a new round if it begins more than 0.5 s after the previous
        attempt's dials ended (attempts of one round follow each other at once, rounds are
        separated by a pause of at least 1 s). Returns counts and maxima.
        """
        attempts = []   # [first_t, attempt, remote, dials, is_prediction]
        for t, attempt, _peer, remote, dials in punch_list:
            last = attempts[-1] if attempts else None
            if attempt is not None and last and last[1] == attempt and last[2] == remote \
                    and t - last[0] <= PUNCH_GROUP_S:
                last[3] += dials
            else:
                attempts.append([t, attempt, remote, dials, attempt is None])
        rounds, previous = [], None
        for entry in attempts:
            t, attempt = entry[0], entry[1]
            if previous is None:
                new_round = True
            elif attempt is None:
                new_round = t - (previous[0] + PUNCH_DIAL_S) > 0.5
            else:
                new_round = previous[1] is None or attempt <= previous[1]
                if previous[1] is None:
                    new_round = t - (previous[0] + PUNCH_DIAL_S) > 0.5
            if new_round:
                rounds.append(0)
            rounds[-1] += 1
            previous = entry
        predictions = [a for a in attempts if a[4]]
        return {"attempts": len(attempts), "dials": sum(a[3] for a in attempts), "rounds": len(rounds),
                "max_per_round": max(rounds) if rounds else 0,
                "max_attempt": max((a[1] for a in attempts if a[1] is not None), default=0),
                "max_dials_per_attempt": max((a[3] for a in attempts if not a[4]), default=0),
                "predictions": len(predictions), "prediction_dials": sum(a[3] for a in predictions),
                "max_prediction_dials": max((a[3] for a in predictions), default=0)}

    # -- one pair ------------------------------------------------------------------------------

    def run_pair(self, site_a, site_b, label, expected, window):
        """a sends the first message to b. Returns the measurement dict (and records checks)."""
        kind_a, kind_b = SITES[site_a][0], SITES[site_b][0]
        print(f"pair {label}: {site_a} ({kind_a}) -> {site_b} ({kind_b})", flush=True)
        a, b = self.start_chat(site_a), self.start_chat(site_b)
        result = {"pair": label, "a": site_a, "b": site_b, "kind_a": kind_a, "kind_b": kind_b,
                  "expected": expected, "connected": False}
        try:
            result["relay_online_ms"] = [self.wait_started(a), self.wait_started(b)]
            for chat, kind in ((a, kind_a), (b, kind_b)):
                info = self.query_netinfo(chat, want_mapping=kind == "UPNP")
                result.setdefault("netinfo", {})[chat.site] = info
            self.note(f"netinfo {site_a}: nat={a.netinfo and a.netinfo.get('nat')} reflexive="
                      f"{a.netinfo and a.netinfo.get('reflexive')} mapping={_mapping_text(a.netinfo)}; "
                      f"{site_b}: nat={b.netinfo and b.netinfo.get('nat')} reflexive="
                      f"{b.netinfo and b.netinfo.get('reflexive')} mapping={_mapping_text(b.netinfo)}")
            result["a_smaller_id"] = _id_key(a.id) < _id_key(b.id)   # the smaller ID initiates hole punches
            result.update(self.exchange(a, b, label, window))
        finally:
            result["exit_codes"] = self.stop_chats([a, b])
            result["logs"] = [a.name + ".log", b.name + ".log"]
        return result

    def exchange(self, a, b, label, window):
        """First message a -> b, the reply b -> a at once (the two are then contacts of each
        other: the ladder may upgrade), wait for the upgrade, a last message a -> b shows the
        final path. Returns measurements."""
        out = {}
        text = f"nat-{label}-{secrets.token_hex(4)}-first"
        t_send = a.send(f"/msg {b.id} {text}")
        got = b.proc.wait_for(lambda p: p.first("message", text=text), FIRST_MSG_TIMEOUT)
        errors = [e.data.get("message") for e in a.proc.find("error")]
        if not self.check(got is not None, f"{label}: first message arrives within {FIRST_MSG_TIMEOUT:.0f} s"
                          + (f" (sender errors {errors[-3:]})" if errors else "")):
            return out
        out["connected"] = True
        out["first_ms"] = ms(got.t - t_send)
        out["first_path"] = got.data.get("path")
        out["first_request"] = bool(got.data.get("request"))
        # The reply at once: consent both ways.
        reply = f"nat-{label}-{secrets.token_hex(4)}-reply"
        t_reply = b.send(f"/msg {a.id} {reply}")
        back = a.proc.wait_for(lambda p: p.first("message", text=reply), REPLY_TIMEOUT)
        if back is not None:
            out["reply_ms"] = ms(back.t - t_reply)
        # The direct path, if not there already: the first 'path' event to direct on either side.
        t_direct = None
        if out["first_path"] != "direct":
            deadline = t_reply + window
            for _ in range(1000):
                hits = [e.t for c in (a, b) for e in c.proc.find("path", path="direct")]
                if hits:
                    t_direct = min(hits)
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                a.proc.wait_for(lambda p: p.first("path", path="direct"), min(remaining, 0.5))
        out["upgrade_ms"] = ms(t_direct - t_reply) if t_direct else None
        out["upgrade_from_send_ms"] = ms(t_direct - t_send) if t_direct else None
        if t_direct:
            time.sleep(0.3)   # let both sides switch
        # A last message shows the path both now use.
        last = f"nat-{label}-{secrets.token_hex(4)}-last"
        t_last = a.send(f"/msg {b.id} {last}")
        final = b.proc.wait_for(lambda p: p.first("message", text=last), REPLY_TIMEOUT)
        time.sleep(SETTLE)
        delivered = a.proc.wait_for(lambda p: p.first("delivered", id=a.proc.first("sent").data.get("id"))
                                    if p.first("sent") else None, 1.0)
        count_first = len(b.proc.find("message", text=text))
        count_reply = len(a.proc.find("message", text=reply))
        count_last = len(b.proc.find("message", text=last))
        self.check(count_first == 1 and delivered is not None,
                   f"{label}: first message arrived exactly once ({count_first}) and 'delivered' at the sender")
        self.check(out["first_request"] or out["first_path"] is None,
                   f"{label}: the first message from a stranger is a request (request={out['first_request']})")
        self.check(back is not None and count_reply == 1, f"{label}: reply arrived exactly once ({count_reply})")
        if self.check(final is not None and count_last == 1, f"{label}: last message arrived exactly once ({count_last})"):
            out["last_ms"] = ms(final.t - t_last)
            out["final_path"] = final.data.get("path")
        else:
            out["final_path"] = None
        out["path_events"] = {c.site: [(ms(e.t - t_send), e.data.get("path")) for e in c.proc.find("path")]
                              for c in (a, b)}
        out["punch"] = {c.site: self.punch_budget(self.punches(c)) for c in (a, b)}
        out["punch_lines"] = {c.site: self.compact_punches(self.punches(c), t_send) for c in (a, b)}
        return out

    # -- scenarios -----------------------------------------------------------------------------

    def matrix(self):
        pairs = []
        for i, kind_a in enumerate(KINDS):
            for kind_b in KINDS[i:]:
                sites_a = [s for s, v in SITES.items() if v[0] == kind_a]
                sites_b = [s for s, v in SITES.items() if v[0] == kind_b]
                site_a = sites_a[0]
                site_b = sites_b[1] if kind_a == kind_b else sites_b[0]
                pairs.append((f"{kind_a}-{kind_b}", site_a, site_b))
                if self.args.both_directions and kind_a != kind_b:
                    pairs.append((f"{kind_b}-{kind_a}", site_b, site_a))
        if self.args.pairs:
            wanted = {p.strip().upper() for p in self.args.pairs.split(",") if p.strip()}
            pairs = [p for p in pairs if p[0] in wanted or "-".join(reversed(p[0].split("-"))) in wanted]
        for label, site_a, site_b in pairs:
            kind_a, kind_b = SITES[site_a][0], SITES[site_b][0]
            expected = EXPECTED[pair_key(kind_a, kind_b)]
            window = max(self.args.window, EIM_EDM_WINDOW) if pair_key(kind_a, kind_b) == pair_key("EIM", "EDM") \
                else self.args.window
            result = self.run_pair(site_a, site_b, label, expected, window)
            self.judge(result)
            self.results["pairs"].append(result)
            if label in ("EIM-EDM", "EDM-EIM"):
                self.results["eim_edm_runs"].append(_run_summary(result))

    def judge(self, r):
        label = r["pair"]
        punch = {s: f"{p['attempts']} attempts/{p['dials']} dials/{p['rounds']} rounds"
                 + (f" ({p['predictions']} predictions)" if p["predictions"] else "")
                 for s, p in (r.get("punch") or {}).items()}
        self.note(f"{label}: first message {r.get('first_ms')} ms via {r.get('first_path')}, "
                  f"upgrade {r.get('upgrade_ms')} ms, final {r.get('final_path')}, punches {punch}")
        if not r.get("connected"):
            return
        if r["expected"] is not None:
            self.check(r.get("final_path") == r["expected"],
                       f"{label}: final path {r.get('final_path')} (expected {r['expected']})")
        else:
            self.note(f"{label}: final path {r.get('final_path')} (not asserted: port prediction is best effort)")
        budget = {site: p for site, p in (r.get("punch") or {}).items()}
        worst = max((p["max_per_round"] for p in budget.values()), default=0)
        attempts = max((p["max_attempt"] for p in budget.values()), default=0)
        predicted = max((p["max_prediction_dials"] for p in budget.values()), default=0)
        if any(p["predictions"] for p in budget.values()):
            self.check(predicted <= MAX_PREDICTION_DIALS,
                       f"{label}: port prediction within its probe budget (at most {MAX_PREDICTION_DIALS} dials "
                       f"per attempt: { {s: (p['predictions'], p['prediction_dials']) for s, p in budget.items()} } "
                       "as (predictions, dials))")
        self.check(worst <= MAX_PUNCHES_PER_ROUND and attempts <= MAX_PUNCHES_PER_ROUND,
                   f"{label}: hole punches within the budget (at most {MAX_PUNCHES_PER_ROUND} per round: "
                   f"{ {s: (p['attempts'], p['rounds'], p['max_per_round']) for s, p in budget.items()} } "
                   "as (attempts, rounds, max per round))")
        flood = {s: p["max_dials_per_attempt"] for s, p in budget.items() if p["max_dials_per_attempt"] > 50}
        if flood:
            self.note(f"{label}: NOTE refused punch dials repeated up to {flood} times within one attempt "
                      "(SYN retries every ~1 ms)")

    def eim_edm_repeats(self):
        if not self.results["eim_edm_runs"] and self.args.eim_edm_runs <= 1:
            return   # EIM-EDM not selected with --pairs
        extra = self.args.eim_edm_runs - len(self.results["eim_edm_runs"])
        for i in range(max(0, extra)):
            number = len(self.results["eim_edm_runs"]) + 1
            sender, receiver = ("e1", "d1") if number % 2 else ("d1", "e1")   # alternate the direction
            label = f"{SITES[sender][0]}-{SITES[receiver][0]}#{number}"
            result = self.run_pair(sender, receiver, label, None, max(self.args.window, EIM_EDM_WINDOW))
            self.judge(result)
            self.results["eim_edm_runs"].append(_run_summary(result))
            self.results.setdefault("eim_edm_details", []).append(result)

    def cut_path(self):
        print("cut path: e1 <-> e2 direct, then re1 drops TCP to/from re2; 10 messages; rule removed", flush=True)
        a, b = self.start_chat("e1"), self.start_chat("e2")
        out = {"completed": False}
        self.results["cut"] = out
        router = self.routers["e1"]
        table = "netlab_cut"
        try:
            self.wait_started(a)
            self.wait_started(b)
            self.query_netinfo(a, False)
            self.query_netinfo(b, False)
            first = f"cut-{secrets.token_hex(4)}-hello"
            t0 = a.send(f"/msg {b.id} {first}")
            got = b.proc.wait_for(lambda p: p.first("message", text=first), FIRST_MSG_TIMEOUT)
            self.check(got is not None, "cut: first message arrives", fatal=True)
            b.send(f"/msg {a.id} cut-{secrets.token_hex(4)}-reply")   # contacts of each other: upgrades may start
            direct = None
            if got.data.get("path") == "direct":
                direct = got
            else:
                direct = a.proc.wait_for(lambda p: p.first("path", path="direct"), 25.0) or \
                    b.proc.first("path", path="direct")
            self.check(direct is not None, "cut: e1 x e2 reaches a direct path before the cut", fatal=True)
            time.sleep(0.5)
            out["direct_before_ms"] = ms(direct.t - t0)
            # The cut: everything TCP between re1 and re2's public address, relay untouched.
            t_cut = time.monotonic()
            router.nft(netlab.drop_ruleset(table, SITES["e2"][1]))
            out["cut_rule"] = f"re1: drop tcp from/to {SITES['e2'][1]} (forward, input, output)"
            token = secrets.token_hex(4)
            texts = [f"cut-{token}-{i:02d}" for i in range(CUT_MESSAGES)]
            sent_t = []
            for text in texts:
                sent_t.append(a.send(f"/msg {b.id} {text}"))
                time.sleep(CUT_INTERVAL)
            all_in = b.proc.wait_for(lambda p: all(p.first("message", text=t) for t in texts),
                                     max(0.0, t_cut + CUT_DELIVERY_WAIT - time.monotonic()))
            time.sleep(SETTLE)
            received = [e for e in b.proc.find("message") if e.data.get("text", "").startswith(f"cut-{token}-")]
            order = [e.data["text"] for e in received]
            paths = [e.data.get("path") for e in received]
            out.update({"received": len(received), "order_ok": order == texts, "paths": paths,
                        "delivery_ms": [ms(e.t - s) for e, s in zip(received, sent_t)] if order == texts else None,
                        "last_arrival_after_cut_ms": ms(received[-1].t - t_cut) if received else None})
            # Failover: the first sign of a relayed session after the cut on either side (a "path"
            # event, a "peer" connected event with path relay, or a message that came relayed).
            signs = [e.t for c in (a, b) for e in c.proc.find() if e.t >= t_cut and e.data.get("path") == "relay"
                     and e.data.get("event") in ("path", "peer", "message")]
            out["failover_ms"] = ms(min(signs) - t_cut) if signs else None
            out["path_event_on_failover"] = any(e.t >= t_cut for c in (a, b) for e in c.proc.find("path", path="relay"))
            self.note(f"cut: {len(received)}/{CUT_MESSAGES} arrived, paths {paths}, failover event after "
                      f"{out['failover_ms']} ms, last message {out['last_arrival_after_cut_ms']} ms after the cut")
            self.check(all_in is not None and len(received) == CUT_MESSAGES and order == texts,
                       f"cut: all {CUT_MESSAGES} messages arrived exactly once and in order "
                       f"({len(received)} received; in order {order == texts})")
            last = out["last_arrival_after_cut_ms"]
            self.check(all_in is not None and last is not None and last <= CUT_DELIVERY_BOUND * 1000,
                       f"cut: the last message arrived {last} ms after the cut (bound {CUT_DELIVERY_BOUND:.0f} s)")
            self.check("relay" in paths, f"cut: messages after the cut went over the relay (paths {paths})")
            if not out["path_event_on_failover"]:
                self.note("cut: NOTE no 'path' event marked the change from direct to relay")
            # Heal: remove the rule and wait for the upgrade back to direct.
            out["sockets_at_heal"] = self.socket_snapshot(a, b)
            t_heal = time.monotonic()
            router.nft_delete_table("inet", table)
            back = a.proc.wait_for(
                lambda p: next((e for e in p.find("path", path="direct") if e.t >= t_heal), None), RECOVERY_TIMEOUT)
            if back is None:
                back = next((e for e in b.proc.find("path", path="direct") if e.t >= t_heal), None)
            out["recovery_ms"] = ms(back.t - t_heal) if back else None
            if back is None:
                out["diagnostics"] = self.socket_snapshot(a, b)
            self.check(back is not None, f"cut: direct again {out['recovery_ms']} ms after the rule was removed "
                       f"(bound {RECOVERY_TIMEOUT:.0f} s)")
            if back is not None:
                final = f"cut-{token}-after"
                t_final = a.send(f"/msg {b.id} {final}")
                ev = b.proc.wait_for(lambda p: p.first("message", text=final), REPLY_TIMEOUT)
                self.check(ev is not None and ev.data.get("path") == "direct",
                           f"cut: a message after the recovery arrives over direct "
                           f"({ev.data.get('path') if ev else None}, {ms(ev.t - t_final) if ev else None} ms)")
            out["path_events"] = {c.site: [(ms(e.t - t_cut), e.data.get("path")) for e in c.proc.find("path")]
                                  for c in (a, b)}
            out["punch"] = {c.site: self.punch_budget(self.punches(c, since=t_cut)) for c in (a, b)}
            out["completed"] = True
        finally:
            router.nft_delete_table("inet", table, check=False)
            out["exit_codes"] = self.stop_chats([a, b])
            out["logs"] = [a.name + ".log", b.name + ".log"]

    def socket_snapshot(self, *chats):
        """TCP sockets of the chats' hosts and the conntrack entries of their routers (diagnostics)."""
        snap = {}
        for chat in chats:
            snap[chat.site] = self.hosts[chat.site].run(["ss", "-tan"], check=False).stdout.splitlines()
            router = self.routers.get(chat.site)
            if router is not None:
                entries = router.run(["cat", "/proc/net/nf_conntrack"], check=False).stdout.splitlines()
                snap["r" + chat.site] = [" ".join(e.split()[2:]) for e in entries if "tcp" in e][:40]
        return snap

    def run(self):
        self.build()
        self.start_relay()
        self.matrix()
        self.eim_edm_repeats()
        if not self.args.no_cut:
            self.cut_path()

    # -- output --------------------------------------------------------------------------------

    def table(self):
        cells = {}
        for r in self.results["pairs"]:
            cells[(r["kind_a"], r["kind_b"])] = r
        width = 26
        lines = ["row kind sends the first message to column kind; cell: final path, first message ms "
                 "(d = direct, r = relay), upgrade to direct ms after the first message",
                 " " * 6 + "".join(k.ljust(width) for k in KINDS)]
        for i, row in enumerate(KINDS):
            text = row.ljust(6)
            for j, col in enumerate(KINDS):
                r = cells.get((row, col))
                text += (_cell(r) if r else ("" if j >= i else "·")).ljust(width)
            lines.append(text)
        return lines

    def close(self):
        self.lab.close()
        left = self.lab.leftovers()
        self.check(not left, f"cleanup: no lab namespace left ({left})")
        self.check(netlab.root_interfaces() == self.root_before, "cleanup: root namespace interfaces unchanged")


def _id_key(peer_id):
    """The order of PeerId::operator< (its 32 bytes): the base32 values of the 52 data characters
    (4 blocks of 13, each followed by a check character; dashes only group for reading)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    chars = (peer_id or "").replace("-", "")
    return [alphabet.find(c) for i, c in enumerate(chars) if i % 14 != 13]


def _mapping_active(info):
    mapping = (info or {}).get("port_mapping")
    if isinstance(mapping, dict):
        return bool(mapping.get("active") or mapping.get("external"))
    return False


def _mapping_text(info):
    if not info or "port_mapping" not in info:
        return "n/a"
    mapping = info["port_mapping"]
    if isinstance(mapping, dict):
        return f"{mapping.get('protocol') or '-'} {mapping.get('external') or '-'}" + \
            ("" if _mapping_active(info) else " (inactive)")
    return str(mapping)


def _cell(r):
    if not r.get("connected"):
        return "FAILED"
    first = f"{r['first_ms']}({'d' if r['first_path'] == 'direct' else 'r'})"
    upgrade = "-" if r.get("first_path") == "direct" else (str(r["upgrade_ms"]) if r.get("upgrade_ms") is not None
                                                            else "none")
    return f"{r.get('final_path')} {first} {upgrade}"


def _run_summary(r):
    return {"a": r.get("a"), "b": r.get("b"), "a_smaller_id": r.get("a_smaller_id"), "connected": r.get("connected"), "first_ms": r.get("first_ms"), "first_path": r.get("first_path"),
            "final_path": r.get("final_path"), "upgrade_ms": r.get("upgrade_ms"), "punch": r.get("punch")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--relay-bin", required=True, help="path to the crosschat-relay program")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs (also: NETLAB_KEEP=1)")
    parser.add_argument("--pairs", help="only these pairs, e.g. EIM-EIM,NONE-EDM")
    parser.add_argument("--eim-edm-runs", type=int, default=1,
                        help="EIM x EDM runs in all, the matrix's included (default 1: the matrix's only)")
    parser.add_argument("--both-directions", action="store_true",
                        help="also run every pair of different kinds the other way round (lower triangle)")
    parser.add_argument("--no-cut", action="store_true", help="skip the cut-path scenario")
    parser.add_argument("--window", type=float, default=UPGRADE_WINDOW,
                        help=f"seconds after the first message to wait for a direct path (default {UPGRADE_WINDOW:.0f})")
    parser.add_argument("--deadline", type=int, default=DEADLINE,
                        help=f"seconds the whole run may take (default {DEADLINE}; CTest's TIMEOUT is 600)")
    args = parser.parse_args()

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in ("nft", "miniupnpd"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"SKIPPED: the NAT matrix needs {tool} (scripts/deps.sh installs it)")
            return 77
    for option, path in (("--crosschat", args.crosschat), ("--relay-bin", args.relay_bin)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"FAILED: {option} {path} is not an executable file")
            return 1
    args.crosschat, args.relay_bin = os.path.abspath(args.crosschat), os.path.abspath(args.relay_bin)
    stale = netlab.remove_stale_labs()
    if stale:
        print(f"lab: removed namespaces left by an earlier, killed lab: {stale}")

    def on_alarm(_signum, _frame):
        raise Deadline(f"the lab ran longer than {args.deadline} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.deadline)
    work = tempfile.mkdtemp(prefix="crosschat-natmatrix.")
    lab = NatMatrix(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.run()
    except (Failed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"  FAIL  {error}", flush=True)
    except SystemExit:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        signal.alarm(0)
        lab.close()
    passed = error is None and not lab.failures
    r = lab.results
    runs = r["eim_edm_runs"]
    direct = [x for x in runs if x.get("final_path") == "direct"]
    r["eim_edm_summary"] = {"runs": len(runs), "connected": sum(1 for x in runs if x.get("connected")),
                            "direct": len(direct),
                            "upgrade_ms_median": statistics.median([x["upgrade_ms"] for x in direct
                                                                    if x.get("upgrade_ms") is not None])
                            if any(x.get("upgrade_ms") is not None for x in direct) else None}
    r.update({"passed": passed, "error": error, "failures": lab.failures, "checks": lab.checks,
              "seconds": round(time.monotonic() - started, 1), "table": lab.table()})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(r, f, indent=2)
    print()
    print("NAT matrix:")
    for line in lab.table():
        print("  " + line)
    s = r["eim_edm_summary"]
    print(f"  EIM x EDM: {s['connected']}/{s['runs']} connected, {s['direct']}/{s['runs']} direct"
          + (f", upgrade median {s['upgrade_ms_median']} ms" if s["upgrade_ms_median"] is not None else ""))
    if r.get("cut"):
        c = r["cut"]
        print(f"  cut path: {c.get('received')}/{CUT_MESSAGES} in order={c.get('order_ok')}, failover "
              f"{c.get('failover_ms')} ms, last message {c.get('last_arrival_after_cut_ms')} ms after the cut, "
              f"direct again {c.get('recovery_ms')} ms after the rule was removed")
    print(f"  checks: {sum(c['passed'] for c in lab.checks)} passed, {sum(not c['passed'] for c in lab.checks)} "
          f"failed; {r['seconds']} s")
    if args.keep or not passed:
        print(f"  work dir {work} (crosschat debug logs, relay and miniupnpd logs)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-nat:", "PASSED" if passed else f"FAILED — {error or '; '.join(lab.failures)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
