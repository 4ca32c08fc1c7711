#!/usr/bin/env python3
"""relay_lab.py — cross-NAT chat through crosschat-relay in an isolated network lab (CTest: netlab-relay).

Usage: relay_lab.py --crosschat PATH --relay-bin PATH [--results FILE] [--keep] [--verbose]
                    [--no-restart]

Topology (every node is a network namespace of the lab; nothing touches the root namespace):

    "internet" 203.0.113.0/24:  relay 203.0.113.10, router ra 203.0.113.1, router rb 203.0.113.2
    LAN A 198.18.1.0/24 behind ra (198.18.1.1):  a1 198.18.1.11, a2 198.18.1.12
    LAN B 198.19.1.0/24 behind rb (198.19.1.1):  b1 198.19.1.11

The routers masquerade on their WAN interface and drop unsolicited inbound packets (nftables,
conntrack); LAN hosts route by default through their router; the relay host has no route to
the LANs and only ever sees the routers' addresses. crosschat-relay runs on the relay host,
crosschat --json --relay http://203.0.113.10:5000 --lan-interval 1 --no-hole-punching
--no-port-mapping on a1, a2 and b1 (this lab checks the relay path itself; nat_matrix.py
covers the upgrade to direct).

Checks (each wait bounded):
  1. the lab isolates: LAN hosts reach the relay, the relay reaches no LAN host, LAN A does
     not reach LAN B, a TCP connection from outside to a router's public address times out;
  2. every instance reports {"event":"relay","state":"online"} for the relay's URL;
  3. a1 and a2 find each other on the LAN and chat with path "direct";
  4. a1 -> b1 and b1 -> a1 by full peer ID arrive exactly once with path "relay", with
     "delivered" at the sender; b1 reports a1 "via":"relay"; a TCP connection from LAN A to
     each address the relay knows for b1 (announced and observed) fails (NAT);
  5. a capture on the relay host's interface during step 4 holds TCP payload from both
     routers and none of the message texts (the chat's TLS runs end to end in the tunnel);
  6. (unless --no-restart) the relay is killed, a1 sends to b1 while it is down, the relay is
     restarted: the message arrives exactly once, every instance is online again;
  7. the instances end cleanly on /quit, the lab leaves nothing behind.
Measured: time from start to relay online, from /msg to the first relayed message.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no tcpdump or nft).
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import ms, stats  # noqa: E402

RELAY_ADDRESS = "203.0.113.10"
RELAY_PORT = 5000
RELAY_URL = f"http://{RELAY_ADDRESS}:{RELAY_PORT}"
STEP_TIMEOUT = 20.0      # seconds for discovery, relay online and direct messages
RELAY_MSG_TIMEOUT = 45.0  # seconds for a cross-NAT message (lookup, failed direct try, tunnel)
RESTART_TIMEOUT = 60.0   # seconds for clients to come back and deliver after a relay restart
SETTLE = 1.5             # seconds to wait for duplicates
DEADLINE = 225           # seconds for the whole run (CTest's TIMEOUT is 240)
RELAY_DEFINES = [
    # Shorter keepalives, so that a lost relay or client is noticed within seconds.
    "relay.controlKeepaliveSeconds=2",
    "relay.tunnelJoinTimeoutSeconds=10",
]


class Failed(Exception):
    """A check failed; the message says which and why."""


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


class Instance:
    """One crosschat process in the lab."""

    def __init__(self, name, host, address, lan):
        self.name = name
        self.host = host
        self.address = address
        self.lan = lan
        self.proc = None
        self.id = None
        self.ready_t = None

    def __repr__(self):
        return self.name


class RelayLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab()
        self.instances = []
        self.checks = []
        self.failed_later = []   # non-fatal failed checks
        self.relay_proc = None
        self.relay_starts = 0
        self.root_before = netlab.root_interfaces()
        self.results = {"config": {"relay_url": RELAY_URL, "relay_defines": RELAY_DEFINES,
                                   "lan_interval_s": 1, "step_timeout_s": STEP_TIMEOUT,
                                   "relay_message_timeout_s": RELAY_MSG_TIMEOUT}}

    # -- reporting -----------------------------------------------------------------------------

    def check(self, condition, message, fatal=True):
        """Records a check; if it does not hold, raises Failed (fatal) or marks the run failed
        and goes on (fatal=False: later steps do not depend on it)."""
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            if fatal:
                raise Failed(message)
            self.failed_later.append(message)

    def note(self, message):
        print("        " + message, flush=True)

    def inst(self, name):
        return next(i for i in self.instances if i.name == name)

    def assert_running(self):
        dead = [f"{i.name} (exit {i.proc.popen.poll()})" for i in self.instances if i.proc and not i.proc.alive]
        if self.relay_proc is not None and not self.relay_proc.alive:
            dead.append(f"crosschat-relay (exit {self.relay_proc.popen.poll()})")
        self.check(not dead, f"all programs still running {dead if dead else ''}".rstrip())

    # -- lab -----------------------------------------------------------------------------------

    def build(self):
        print("lab: internet 203.0.113.0/24 (relay, ra, rb); LAN A 198.18.1.0/24 behind ra (a1, a2); "
              "LAN B 198.19.1.0/24 behind rb (b1)", flush=True)
        lab = self.lab
        inet = lab.add_switch("inet")
        lan_a = lab.add_switch("lana")
        lan_b = lab.add_switch("lanb")
        self.relay_host = lab.add_host("relay", inet, f"{RELAY_ADDRESS}/24")
        self.ra = lab.add_nat_router("ra", inet, "203.0.113.1/24", lan_a, "198.18.1.1/24")
        self.rb = lab.add_nat_router("rb", inet, "203.0.113.2/24", lan_b, "198.19.1.1/24")
        hosts = {"a1": (lan_a, "198.18.1.11", "198.18.1.1", "A"), "a2": (lan_a, "198.18.1.12", "198.18.1.1", "A"),
                 "b1": (lan_b, "198.19.1.11", "198.19.1.1", "B")}
        self.hosts = {}
        for name, (switch, address, gateway, lan) in hosts.items():
            host = lab.add_host(name, switch, f"{address}/24")
            host.route_add("default", via=gateway)
            self.hosts[name] = host
            self.instances.append(Instance(name, host, address, lan))
        self.check(lab.wait_addresses(10), "IPv6 link-local addresses ready (DAD done) in every namespace")
        self.check(netlab.root_interfaces() == self.root_before, "no lab interface in the root namespace")
        defaults = sorted({ns for ns, _route in lab.routes_out()})
        expected = sorted(self.hosts[n].name for n in self.hosts)
        self.check(defaults == expected, f"default routes only on the LAN hosts, towards their router ({defaults})")

        print("step 1: isolation and NAT behaviour", flush=True)
        for name, host in self.hosts.items():
            self.check(host.ping(RELAY_ADDRESS), f"{name} reaches the relay host (through its NAT router)")
        for name, inst in ((i.name, i) for i in self.instances):
            self.check(not self.relay_host.ping(inst.address, timeout=0.5),
                       f"the relay host cannot reach {name} ({inst.address}): no route to the LANs")
        self.check(not self.hosts["a1"].ping("198.19.1.11", timeout=0.5), "a1 cannot reach b1's LAN address")
        self.check(not self.hosts["b1"].ping("198.18.1.11", timeout=0.5), "b1 cannot reach a1's LAN address")
        self.check(self.hosts["a1"].ping("198.18.1.12"), "a1 reaches a2 on LAN A")
        # Unsolicited inbound is dropped (a real NAT's silence, not a refusal).
        listener = self.hosts["b1"].spawn([sys.executable, "-c",
                                           "import socket,time;s=socket.create_server(('0.0.0.0',47001));"
                                           "print('{\"event\":\"ready\"}',flush=True);time.sleep(20)"],
                                          name="b1-listener")
        self.check(listener.wait_event("ready", 5) is not None, "test listener on b1 started")
        outcome = self.relay_host.tcp_connect("203.0.113.2", 47001, 2.0)
        self.check(outcome == "timeout", f"TCP from the internet to rb's public address times out "
                   f"(unsolicited inbound dropped): {outcome}")
        outcome = self.hosts["a1"].tcp_connect("203.0.113.2", 47001, 2.0)
        self.check(outcome == "timeout", f"TCP from LAN A to rb's public address times out: {outcome}")
        outcome = self.hosts["b1"].tcp_connect("198.19.1.11", 47001, 2.0)
        self.check(outcome == "connected", f"the test listener itself accepts on LAN B: {outcome}")
        listener.stop(grace=0.5)

    # -- programs ------------------------------------------------------------------------------

    def start_relay(self):
        self.relay_starts += 1
        # A data directory of its own: the restart step (6) kills it and finds its state again.
        argv = [self.args.relay_bin, "--bind", RELAY_ADDRESS, "--port", str(RELAY_PORT),
                "--data-dir", os.path.join(self.work, "relay-data")]
        for define in RELAY_DEFINES:
            argv += ["--define", define]
        proc = self.relay_host.spawn(argv, name=f"relay{self.relay_starts}",
                                     log_path=os.path.join(self.work, "relay.log"))
        listening = proc.wait_for(lambda p: any("listening on" in l.text for l in p.stderr), STEP_TIMEOUT)
        self.check(listening, f"crosschat-relay listens on {RELAY_URL} (start {self.relay_starts}; "
                   f"stderr: {proc.stderr_tail(3) if not listening else 'ok'})")
        self.relay_proc = proc
        return proc

    def start_chats(self):
        print("step 2: crosschat on a1, a2, b1 with --relay; each reports the relay online", flush=True)
        for inst in self.instances:
            argv = [self.args.crosschat, "--json", "--name", inst.name,
                    "--data-dir", os.path.join(self.work, inst.name), "--lan-interval", "1",
                    "--relay", RELAY_URL,
                    # This lab checks the relay path itself; nat_matrix.py covers the upgrade to direct.
                    "--no-hole-punching", "--no-port-mapping",
                    # Published, so that the relay hands out b1's addresses (it never does unless
                    # asked) and step 4 can show that the NATs block them.
                    "--publish-address"]
            if self.args.verbose:
                argv.append("--verbose")
            inst.proc = inst.host.spawn(argv, name=inst.name, log_path=os.path.join(self.work, inst.name + ".log"))
        for inst in self.instances:
            ready = inst.proc.wait_event("ready", STEP_TIMEOUT)
            if ready is None:
                self.check(False, f"{inst.name} printed no 'ready' within {STEP_TIMEOUT:.0f} s "
                                  f"(running={inst.proc.alive}; stderr: {inst.proc.stderr_tail(8)}; "
                                  f"stdout: {[l.text for l in inst.proc.lines[-5:]]})")
            inst.id, inst.ready_t = ready.data.get("id"), ready.t
            self.check(isinstance(inst.id, str) and inst.id, f"{inst.name} ready: id {inst.id}")
        samples = {}
        for inst in self.instances:
            online = inst.proc.wait_event("relay", STEP_TIMEOUT, state="online")
            states = [e.data for e in inst.proc.find("relay")]
            self.check(online is not None, f"{inst.name} reports the relay online within {STEP_TIMEOUT:.0f} s "
                       f"(relay events: {states[-4:]})")
            self.check(online.data.get("url", "").rstrip("/") == RELAY_URL,
                       f"{inst.name}'s relay event names {RELAY_URL} ({online.data.get('url')})")
            samples[inst.name] = ms(online.t - inst.proc.started)
            self.note(f"{inst.name}: relay online {samples[inst.name]} ms after start "
                      f"(detail: {online.data.get('detail')!r})")
        self.results["relay_online_ms"] = dict(stats(list(samples.values())), samples=samples)

    # -- chat ----------------------------------------------------------------------------------

    def send(self, sender, receiver, text):
        """Sends /msg; waits for 'sent'; returns {sender, receiver, text, id, t_send}."""
        count_sent = len(sender.proc.find("sent"))
        count_errors = len(sender.proc.find("error"))
        t_send = sender.proc.send(f"/msg {receiver.id} {text}")
        sender.proc.wait_for(lambda p: len(p.find("sent")) > count_sent, STEP_TIMEOUT)
        events = sender.proc.find("sent")[count_sent:]
        errors = [e.data.get("message") for e in sender.proc.find("error")[count_errors:]]
        self.check(events, f"{sender.name} reports 'sent' for its message to {receiver.name}"
                   + (f" (errors: {errors})" if errors else ""))
        event = events[0]
        self.check(event.data.get("to") == receiver.id and event.data.get("id"),
                   f"{sender.name}'s 'sent' names {receiver.name} and a message id ({event.data})")
        return {"sender": sender, "receiver": receiver, "text": text, "id": event.data["id"], "t_send": t_send}

    def verify_arrivals(self, sent, path, timeout):
        """Waits for every message and its 'delivered'; checks each arrived once with path.

        Returns [{"pair", "message_ms", "delivered_ms"}].
        """
        deadline = time.monotonic() + timeout
        for m in sent:
            m["receiver"].proc.wait_event("message", max(0.0, deadline - time.monotonic()), id=m["id"])
            m["sender"].proc.wait_event("delivered", max(0.0, deadline - time.monotonic()), id=m["id"])
        time.sleep(SETTLE)
        problems, samples = [], []
        for m in sent:
            s, r = m["sender"], m["receiver"]
            pair = f"{s.name}->{r.name}"
            got = r.proc.find("message", id=m["id"])
            done = s.proc.find("delivered", id=m["id"])
            if len(got) != 1:
                errors = [e.data.get("message") for e in s.proc.find("error") if e.t >= m["t_send"]]
                problems.append(f"{pair}: {len(got)} 'message' events (sender errors: {errors[-3:]})")
                continue
            data = got[0].data
            if data.get("text") != m["text"] or data.get("from") != s.id:
                problems.append(f"{pair}: wrong message event {data}")
            paths = path if isinstance(path, tuple) else (path,)
            if data.get("path") not in paths:
                problems.append(f"{pair}: path {data.get('path')!r}, expected {' or '.join(map(repr, paths))}")
            elsewhere = [i.name for i in self.instances if i is not r
                         and any(e.data.get("text") == m["text"] for e in i.proc.find("message"))]
            if elsewhere:
                problems.append(f"{pair}: also arrived at {elsewhere}")
            if not done:
                problems.append(f"{pair}: no 'delivered' at {s.name}")
            samples.append({"pair": pair, "message_ms": ms(got[0].t - m["t_send"]),
                            "delivered_ms": ms(done[0].t - m["t_send"]) if done else None})
        self.check(not problems, f"{len(sent)} message(s) arrived exactly once with path {path!r} and "
                   f"'delivered' at the sender" + (f": {problems}" if problems else ""))
        for s in samples:
            self.note(f"{s['pair']}: /msg -> message {s['message_ms']} ms, -> delivered {s['delivered_ms']} ms")
        return samples

    def same_lan(self):
        print("step 3: a1 <-> a2 on LAN A: found via 'lan', messages with path 'direct'", flush=True)
        a1, a2 = self.inst("a1"), self.inst("a2")
        for obs, peer in ((a1, a2), (a2, a1)):
            found = obs.proc.wait_for(lambda p, peer=peer: p.first("peer", id=peer.id, via="lan"), STEP_TIMEOUT)
            self.check(found is not None, f"{obs.name} finds {peer.name} via 'lan'")
        token = secrets.token_hex(6)
        sent = [self.send(a1, a2, f"netlab-lan-{token}-a1-to-a2"), self.send(a2, a1, f"netlab-lan-{token}-a2-to-a1")]
        self.results["direct_messages"] = self.verify_arrivals(sent, "direct", STEP_TIMEOUT)
        b1 = self.inst("b1")
        lan_leak = [o.name for o in (a1, a2) if o.proc.first("peer", id=b1.id, via="lan")] + \
                   [p.name for p in (a1, a2) if b1.proc.first("peer", id=p.id, via="lan")]
        self.check(not lan_leak, f"no LAN discovery across the NATs ({lan_leak})")

    def nat_blocks_direct(self):
        """Asks the relay (from a1, through NAT A) what it knows of b1 and tries every address."""
        a1, b1 = self.inst("a1"), self.inst("b1")
        status, _headers, body = a1.host.http_get(f"{RELAY_URL}/api/v1/peers/{b1.id}", timeout=5)
        self.check(status == 200, f"lookup of b1 at the relay from a1: HTTP {status}")
        record = json.loads(body)
        candidates = set()
        for address in list(record.get("addresses") or []) + [record.get("observed")]:
            if isinstance(address, str) and address.rsplit(":", 1)[-1].isdigit():
                candidates.add(address)
        self.note(f"relay's record of b1: addresses {record.get('addresses')}, observed {record.get('observed')}, "
                  f"online {record.get('online')}")
        self.check(candidates, f"the relay knows at least one address with a port for b1 ({sorted(candidates)})")
        observed_host = str(record.get("observed") or "").rsplit(":", 1)[0]
        self.check(observed_host == "203.0.113.2", f"the relay observed b1 at rb's public address ({observed_host})")
        outcomes = {}
        for address in sorted(candidates):
            host, port = address.rsplit(":", 1)
            outcomes[address] = a1.host.tcp_connect(host.strip("[]"), int(port), 2.0)
        self.results["direct_attempts_a1_to_b1"] = outcomes
        self.check(all(o != "connected" for o in outcomes.values()),
                   f"a direct TCP connection from a1 to each of b1's addresses fails (NAT): {outcomes}")

    def cross_nat(self):
        print("step 4+5: a1 <-> b1 across the NATs by peer ID (path 'relay'), capture on the relay host", flush=True)
        self.assert_running()
        self.nat_blocks_direct()
        a1, b1 = self.inst("a1"), self.inst("b1")
        capture = netlab.Capture(self.relay_host, "eth0", os.path.join(self.work, "relay.pcap"),
                                 log_path=os.path.join(self.work, "tcpdump-relay.log"))
        self.check(capture.wait_listening(10), "tcpdump on the relay host's eth0 is capturing")
        token = secrets.token_hex(6)
        first = self.send(a1, b1, f"netlab-relay-secret-{token}-a1-to-b1")
        samples = self.verify_arrivals([first], "relay", RELAY_MSG_TIMEOUT)
        second = self.send(b1, a1, f"netlab-relay-secret-{token}-b1-to-a1")
        samples += self.verify_arrivals([second], "relay", RELAY_MSG_TIMEOUT)
        third = self.send(a1, b1, f"netlab-relay-secret-{token}-a1-to-b1-again")
        samples += self.verify_arrivals([third], "relay", RELAY_MSG_TIMEOUT)
        capture.stop()
        self.results["relayed_messages"] = samples
        self.results["first_relayed_message_ms"] = samples[0]["message_ms"]

        summary = capture.summary()
        texts = [m["text"] for m in (first, second, third)]
        leaked = [t for t in texts if capture.contains(t.encode("utf-8"))]
        from_routers = {}
        for src, sport, dst, dport, length in capture.segments():
            if length > 0 and RELAY_PORT in (sport, dport):
                other = dst if src == RELAY_ADDRESS else src
                from_routers[other] = from_routers.get(other, 0) + length
        summary.update({"leaked_texts": leaked, "payload_bytes_by_peer": from_routers})
        self.results["capture_relay"] = summary
        self.note(f"capture relay eth0: {summary['packets']} packets, {summary['tcp_payload_packets']} TCP with "
                  f"payload ({summary['tcp_payload_bytes']} bytes); payload bytes by address {from_routers}")
        self.check(summary["dropped_by_kernel"] == 0, f"tcpdump dropped no packet ({summary['dropped_by_kernel']})")
        self.check(from_routers.get("203.0.113.1", 0) > 0 and from_routers.get("203.0.113.2", 0) > 0,
                   "the relay exchanged TCP payload with both NAT routers during the messages")
        lan_sources = [a for a in from_routers if a.startswith(("198.18.", "198.19."))]
        self.check(not lan_sources, f"the relay saw only the routers' addresses, no LAN address ({lan_sources})")
        self.check(not leaked, "no message text in the relay host's capture" + (f" (leaked: {leaked})" if leaked else ""))

        via_a1 = a1.proc.first("peer", id=b1.id, via="relay")
        self.check(via_a1 is not None, f"a1 reports b1 with \"via\":\"relay\" "
                   f"({[e.data for e in a1.proc.find('peer', id=b1.id)][-2:]})", fatal=False)
        via_b1 = b1.proc.first("peer", id=a1.id, via="relay")
        self.check(via_b1 is not None, f"b1 (invited through the relay) reports a1 with \"via\":\"relay\" "
                   f"({[e.data for e in b1.proc.find('peer', id=a1.id)][-2:]})", fatal=False)

    def relay_restart(self):
        print("step 6: kill the relay, a1 -> b1 while it is down, restart it: delivered once", flush=True)
        self.assert_running()
        a1, b1 = self.inst("a1"), self.inst("b1")
        t_kill = self.relay_proc.kill(signal.SIGKILL)
        self.check(self.relay_proc.wait(5) is not None, "crosschat-relay is gone after SIGKILL")
        for inst in (a1, b1):
            offline = inst.proc.wait_for(
                lambda p: next((e for e in p.find("relay") if e.t >= t_kill and e.data.get("state") != "online"), None),
                STEP_TIMEOUT)
            self.check(offline is not None, f"{inst.name} reports the relay no longer online")
            self.note(f"{inst.name}: relay {offline.data.get('state')} after {ms(offline.t - t_kill)} ms "
                      f"({offline.data.get('detail')!r})")
        text = f"netlab-relay-secret-{secrets.token_hex(6)}-while-relay-down"
        t_before = time.monotonic()
        message = self.send(a1, b1, text)
        time.sleep(2.0)
        early = b1.proc.find("message", id=message["id"])
        self.check(not early, "the message did not arrive while the relay was down")
        t_restart = time.monotonic()
        self.start_relay()
        online_again = {}
        for inst in self.instances:
            back = inst.proc.wait_for(
                lambda p: next((e for e in p.find("relay", state="online") if e.t >= t_restart), None), RESTART_TIMEOUT)
            self.check(back is not None, f"{inst.name} reports the relay online again within {RESTART_TIMEOUT:.0f} s")
            online_again[inst.name] = ms(back.t - t_restart)
            self.note(f"{inst.name}: online again {online_again[inst.name]} ms after the restart")
        # Whichever is first once the relay is back: a tunnel to b1, or b1 reading the envelope
        # a1 left in its relay mailbox (a1 deposits for a contact it cannot reach). Once either way.
        samples = self.verify_arrivals([message], ("relay", "mailbox"), RESTART_TIMEOUT)
        self.results["restart"] = {"message_ms_after_restart": ms(
            b1.proc.first("message", id=message["id"]).t - t_restart), "sent_before_restart_ms": ms(t_restart - t_before),
            "online_again_ms": online_again, "samples": samples}

    def shutdown(self):
        print("step 7: /quit", flush=True)
        running = [i for i in self.instances if i.proc.alive]
        for inst in running:
            inst.proc.send("/quit")
        codes = {inst.name: inst.proc.wait(10) for inst in running}
        self.check(all(code == 0 for code in codes.values()), f"instances exit with 0 on /quit {codes}")
        self.relay_proc.kill(signal.SIGTERM)
        code = self.relay_proc.wait(10)
        self.check(code == 0, f"crosschat-relay exits with 0 on SIGTERM ({code})")

    def run(self):
        self.build()
        self.start_relay()
        self.start_chats()
        self.same_lan()
        self.cross_nat()
        if not self.args.no_restart:
            self.relay_restart()
        self.shutdown()

    # -- teardown ------------------------------------------------------------------------------

    def event_counts(self):
        counts = {}
        for inst in self.instances:
            if inst.proc is None:
                continue
            per = {}
            for e in inst.proc.find():
                key = e.data.get("event", "?") + (f"/{e.data['state']}" if "state" in e.data else "")
                per[key] = per.get(key, 0) + 1
            counts[inst.name] = dict(sorted(per.items()))
        return counts

    def close(self):
        self.results["event_counts"] = self.event_counts()
        self.lab.close()
        self.checks.append({"check": "no lab namespace left", "passed": not self.lab.leftovers()})
        self.checks.append({"check": "root namespace interfaces unchanged",
                            "passed": netlab.root_interfaces() == self.root_before})
        for c in self.checks[-2:]:
            print(("  ok    " if c["passed"] else "  FAIL  ") + "cleanup: " + c["check"], flush=True)
        return all(c["passed"] for c in self.checks[-2:])

    def dump_logs(self):
        procs = [(i.name, i.proc) for i in self.instances if i.proc]
        if self.relay_proc:
            procs.append(("crosschat-relay", self.relay_proc))
        for name, proc in procs:
            print(f"--- {name} stderr (last lines) ---")
            for line in proc.stderr_tail(15):
                print("    " + line)
            if proc is not self.relay_proc:
                print(f"--- {name} last events ---")
                for e in proc.find()[-8:]:
                    print("    " + json.dumps(e.data)[:300])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--relay-bin", required=True, help="path to the crosschat-relay program")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs and captures (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose (logs in the work dir)")
    parser.add_argument("--no-restart", action="store_true", help="skip the relay restart step")
    args = parser.parse_args()

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in ("tcpdump", "nft"):
        if not shutil.which(tool):
            print(f"SKIPPED: the relay lab needs {tool} (scripts/deps.sh installs it)")
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
        raise Deadline(f"the lab ran longer than {DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    work = tempfile.mkdtemp(prefix="crosschat-relaylab.")
    lab = RelayLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.run()
        if lab.failed_later:
            error = f"Failed: {len(lab.failed_later)} check(s): " + "; ".join(lab.failed_later)
    except (Failed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    except SystemExit:  # SIGINT/SIGTERM/SIGHUP: netlab's handler closed the lab already
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
    r = lab.results
    print()
    print("summary:")
    if r.get("relay_online_ms", {}).get("count"):
        o = r["relay_online_ms"]
        print(f"  relay online        median {o['median']} ms, max {o['max']} ms after start ({o['samples']})")
    if "first_relayed_message_ms" in r:
        print(f"  first relayed msg   {r['first_relayed_message_ms']} ms from /msg (lookup, failed direct try, tunnel, TLS)")
        print(f"  relayed messages    {[(s['pair'], s['message_ms']) for s in r['relayed_messages']]}")
    if r.get("direct_messages"):
        print(f"  direct (same LAN)   {[(s['pair'], s['message_ms']) for s in r['direct_messages']]}")
    if "restart" in r:
        print(f"  after relay restart online again {r['restart']['online_again_ms']} ms; the message sent while it "
              f"was down arrived {r['restart']['message_ms_after_restart']} ms after the restart")
    print(f"  checks              {sum(c['passed'] for c in lab.checks)} passed, "
          f"{sum(not c['passed'] for c in lab.checks)} failed")
    if args.keep:
        print(f"  work dir            {work} (logs, captures)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-relay:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
