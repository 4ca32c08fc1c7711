#!/usr/bin/env python3
"""attack_lab.py — the attacks of the threat model replayed against crosschat, with an honest
peer measured during each (CTest: netlab-attack-stranger, netlab-attack-flood,
netlab-attack-poison, netlab-restart).

Usage: attack_lab.py --scenario stranger|flood|poison|restart --crosschat PATH
                     [--relay-bin PATH] [--adversary PATH] [--results FILE] [--keep] [--verbose]

The attacker is Adversary-peer (testsuite/netlab/tools/AdversaryPeer.cpp): throwaway Ed25519
identities, the session protocol spoken by hand, relay punch messages with any field.

stranger  A stranger over the relay cannot make the node send a single SYN to an address it
          names, and a direct path still forms between two NATed contacts.
            internet 203.0.113.0/24: relay .10, third party t .50 (listens on 443), stranger s .66
            LAN A 192.168.1.0/24 behind ra (EIM NAT, 203.0.113.1): victim v .11, neighbour l .20
            (listens on 8080); LAN B 192.168.2.0/24 behind rb (EIM NAT, .2): contact w .11
          s goes online at the relay with a fresh key, sends punch messages to v before v knows
          it, opens a tunnel, writes, sends punch messages (connect, sync, connect reply) that
          claim an endpoint-dependent NAT and name v's own loopback (its chat port and 22),
          l:8080, 10.77.0.1:80 and t:443 (also announced as its address at the relay), writes
          again. Meanwhile w writes to v and v replies at once. tcpdump on v (all interfaces,
          loopback included), on l and on t counts SYNs toward the named hosts during the
          attack: zero; then a control connection from v to each named host shows the counters
          see SYNs. v never sends the stranger a punch message (no address of ours revealed),
          receipts both messages (shown as requests); v and w go direct within 20 s of the
          reply. Then v accepts s (a contact turned hostile) and s attacks again: no SYN to
          loopback or to a private network that is not v's, whatever s says; what v dials
          toward l and t is reported.
flood     2,000 throwaway identities: f1, f2, f3 (500 each over direct TCP, f2's each sending 4
          group invitations and 4 file offers before its message, f3 holding the victim's
          closing sockets open) and fr (500 over relay tunnels) on one LAN with the victim v,
          contact c and the relay. v's VmRSS and descriptors (/proc/<pid>) are sampled
          every 100 ms: descriptors stay within maxSessions + maxPendingSessions of the
          baseline, memory within MEMORY_BOUND_MIB; the strangers v keeps stay within
          maxStrangers; c (restarted during the flood, so it must connect anew) writes to v
          during and after the flood: every message arrives once and in order; latencies are
          reported. While the strangers' requests fill v's caps (64 unanswered invitations from
          strangers, 32 offers), c invites v to a group and offers it a file: both reach v's
          user (not as requests), and v holds no more strangers' requests than the caps.
poison    The Latin-1 line. p sends v "caf\\xe9" as a text (raw bytes), then 5 valid texts at
          once: p gets one refusal (invalid_utf8) for that id and receipts for the 5, in order;
          v shows the 5 in order and keeps the session. v writes 5 messages to r, which refuses
          the second: v prints one error event with that id, and delivered for the others; r
          gets each once, in order. A console line in Latin-1 is refused at v's console and
          never sent. h1 (aborts the session on every text) and h2 (answers texts with bytes
          that break the framing) each get a message from v: over POISON_WINDOW s v opens at
          most maxRoundsPerMinute + 1 sessions to each.
restart   A conversation with a restart of either side in the middle: a queues messages for b
          (offline), a is killed (SIGKILL) and restarted, b comes back: each message arrives
          exactly once, in order; then b is killed while a's messages are in flight and
          restarted: none is lost or duplicated; /history after the restarts shows the whole
          conversation. Needs the durable store (skipped, exit 77, while crosschat has no
          /history command).

Every wait is bounded; every scenario has a whole-run deadline below its CTest timeout.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, a missing tool).
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import ms  # noqa: E402

# ChatNodeConfig defaults (docs: Chat/include/CrossChat/Chat/ChatNode.h); crosschat uses them.
MAX_SESSIONS = 256
MAX_SESSIONS_PER_ADDRESS = 16
MAX_PENDING_SESSIONS = 64
MAX_PENDING_PER_ADDRESS = 8
MAX_STRANGERS = 256
MAX_STRANGER_INVITATIONS = 64  # GroupService::MAX_INVITATIONS (from strangers, in all)
MAX_STRANGER_OFFERS = 32       # crosschat.files.max-pending-offers (strangers' offers, in all)
MAX_ROUNDS_PER_MINUTE = 6
MAX_DIALS_PER_MINUTE = 30
PREDICTION_PROBES = 256        # Ladder::PREDICTION_PROBES: guessed ports per prediction attempt

START_TIMEOUT = 15.0
STEP_TIMEOUT = 15.0
SETTLE = 1.0

LISTENER_SCRIPT = r"""
import socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_server(("0.0.0.0", port))
s.settimeout(0.5)
print('{"event":"ready"}', flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        c, _ = s.accept()
        c.close()
    except OSError:
        pass
"""


class Deadline(Exception):
    """The whole run took longer than its deadline."""


class Skipped(Exception):
    """The scenario cannot run here (exit 77)."""


class Chat:
    """One crosschat process."""

    def __init__(self, name, host, address, data_dir):
        self.name = name
        self.host = host
        self.address = address
        self.data_dir = data_dir
        self.proc = None
        self.id = None
        self.port = None
        self.runs = []   # every Proc this instance ran as (restarts)

    def __repr__(self):
        return self.name


def sampler_wait(sampler, predicate, timeout):
    """Waits (bounded) until the latest sample of a ProcessSampler satisfies predicate."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 1):
        if sampler.samples and predicate(sampler.samples[-1][1]):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return False


class Scenario(netlab.Checks):
    """What every scenario shares: the lab, checks, programs, reporting."""

    NAME = ""
    DEADLINE = 110
    TOOLS = ("tcpdump", "nft")

    def __init__(self, args, work):
        super().__init__()
        self.args = args
        self.work = work
        self.lab = netlab.Lab(workdir=work)
        self.results = {"scenario": self.NAME}
        self.root_before = netlab.root_interfaces()
        self.chats = []
        self.relay_proc = None
        self.tools = []

    # -- reporting -----------------------------------------------------------------------------

    def step(self, message):
        print(message, flush=True)

    # -- lab -----------------------------------------------------------------------------------

    def check_isolation(self, hosts_with_default):
        lab = self.lab
        self.check(lab.wait_addresses(10), "lab: IPv6 DAD done in every namespace", fatal=True)
        self.check(netlab.root_interfaces() == self.root_before, "lab: no lab interface in the root namespace", fatal=True)
        defaults = sorted({ns for ns, _route in lab.routes_out()})
        expected = sorted(h.name for h in hosts_with_default)
        self.check(defaults == expected, f"lab: default routes only where the scenario put them ({defaults})", fatal=True)

    def listener(self, host, port, seconds):
        proc = host.spawn([sys.executable, "-c", LISTENER_SCRIPT, str(port), str(seconds)], name=f"listen-{host.short}-{port}")
        self.check(proc.wait_event("ready", 5) is not None, f"lab: TCP listener on {host.short}:{port}", fatal=True)
        return proc

    # -- programs ------------------------------------------------------------------------------

    def start_relay(self, host, address, defines):
        self.relay_proc = netlab.start_relay(host, self.args.relay_bin, address, 5000, defines,
                                             os.path.join(self.work, "relay.log"), START_TIMEOUT)
        self.check(True, f"crosschat-relay listens on {address}:5000")
        return self.relay_proc

    def chat(self, name, host, address):
        chat = Chat(name, host, address, os.path.join(self.work, name))
        self.chats.append(chat)
        return chat

    def start_chat(self, chat, extra, wait_online=False):
        argv = [self.args.crosschat, "--json", "--name", chat.name, "--data-dir", chat.data_dir] + list(extra)
        if self.args.verbose and "--verbose" not in argv:
            argv.append("--verbose")
        run = len(chat.runs) + 1
        chat.proc = chat.host.spawn(argv, name=f"{chat.name}#{run}", log_path=os.path.join(self.work, f"{chat.name}.log"))
        chat.runs.append(chat.proc)
        ready = chat.proc.wait_event("ready", START_TIMEOUT)
        if ready is None:
            self.check(False, f"{chat.name}: 'ready' within {START_TIMEOUT:.0f} s (stderr {chat.proc.stderr_tail(6)})", fatal=True)
        chat.id, chat.port = ready.data.get("id"), ready.data.get("port")
        if wait_online:
            online = chat.proc.wait_event("relay", START_TIMEOUT, state="online")
            self.check(online is not None, f"{chat.name}: relay online within {START_TIMEOUT:.0f} s", fatal=True)
        return chat

    def adversary(self, host, name, argv, log=True):
        proc = host.spawn([self.args.adversary] + list(argv), name=name,
                          log_path=os.path.join(self.work, f"{name}.log") if log else None)
        self.tools.append(proc)
        return proc

    def wait_done(self, proc, timeout):
        done = proc.wait_event("done", timeout)
        if done is None:
            self.check(False, f"{proc.name}: finished within {timeout:.0f} s (alive {proc.alive}; last events "
                       f"{[e.data for e in proc.find()[-3:]]}; stderr {proc.stderr_tail(3)})", fatal=True)
        return done.data

    def send(self, sender, to_id, text, timeout=STEP_TIMEOUT):
        """/msg; waits for 'sent'; returns (t_send, message id)."""
        count = len(sender.proc.find("sent"))
        t_send = time.monotonic()
        sender.proc.send(f"/msg {to_id} {text}")
        sender.proc.wait_for(lambda p: len(p.find("sent")) > count, timeout)
        sent = sender.proc.find("sent")[count:]
        errors = [e.data.get("message") for e in sender.proc.find("error") if e.t >= t_send]
        self.check(sent, f"{sender.name}: 'sent' for its message {text!r}" + (f" (errors {errors})" if errors else ""),
                   fatal=True)
        return t_send, sent[0].data.get("id")

    def netinfo(self, chat, want_nat=True, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(50):
            count = len(chat.proc.find("netinfo"))
            chat.proc.send("/netinfo")
            chat.proc.wait_for(lambda p: len(p.find("netinfo")) > count, 3.0)
            events = chat.proc.find("netinfo")
            if len(events) > count:
                last = events[-1].data
                if not want_nat or last.get("nat") not in (None, "", "unknown"):
                    return last
            if time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        return last

    def quit(self, chat, timeout=10.0):
        if not chat.proc or not chat.proc.alive:
            return None
        try:
            chat.proc.send("/quit")
        except (BrokenPipeError, OSError):
            pass
        return chat.proc.wait(timeout)

    # -- teardown ------------------------------------------------------------------------------

    def close(self):
        self.lab.close()
        left = self.lab.leftovers()
        self.check(not left, f"cleanup: no lab namespace left ({left})")
        self.check(netlab.root_interfaces() == self.root_before, "cleanup: root namespace interfaces unchanged")

    def dump_logs(self):
        for chat in self.chats:
            if chat.proc is None:
                continue
            print(f"--- {chat.name} stderr (last lines) ---")
            for line in chat.proc.stderr_tail(12):
                print("    " + line)
            print(f"--- {chat.name} last events ---")
            for e in chat.proc.find()[-6:]:
                print("    " + json.dumps(e.data)[:300])
        for proc in self.tools:
            print(f"--- {proc.name} last events ---")
            for e in proc.find()[-4:]:
                print("    " + json.dumps(e.data)[:300])


# ---------------------------------------------------------------------------------------------
# stranger: no SYN toward what a stranger names; contacts still go direct


class StrangerScenario(Scenario):
    NAME = "stranger"
    DEADLINE = 110
    RELAY = "203.0.113.10"
    THIRD = "203.0.113.50"
    STRANGER = "203.0.113.66"
    NEIGHBOUR = "192.168.1.20"
    FOREIGN_PRIVATE = "10.77.0.1"
    DIRECT_WITHIN = 20.0
    HOSTILE_ROUNDS = 22            # connect + sync + connect reply each: more than the per-minute budget

    def build(self):
        self.step("lab: internet 203.0.113.0/24 (relay, third party t, stranger s); LAN A 192.168.1.0/24 behind "
                  "EIM NAT ra (victim v, neighbour l); LAN B 192.168.2.0/24 behind EIM NAT rb (contact w)")
        lab = self.lab
        inet, lana, lanb = lab.add_switch("inet"), lab.add_switch("lana"), lab.add_switch("lanb")
        self.relay_host = lab.add_host("relay", inet, f"{self.RELAY}/24")
        self.t = lab.add_host("t", inet, f"{self.THIRD}/24")
        self.s = lab.add_host("s", inet, f"{self.STRANGER}/24")
        lab.add_nat_router("ra", inet, "203.0.113.1/24", lana, "192.168.1.1/24")
        lab.add_nat_router("rb", inet, "203.0.113.2/24", lanb, "192.168.2.1/24")
        self.v = lab.add_host("v", lana, "192.168.1.11/24")
        self.v.route_add("default", via="192.168.1.1")
        self.l = lab.add_host("l", lana, f"{self.NEIGHBOUR}/24")
        self.w = lab.add_host("w", lanb, "192.168.2.11/24")
        self.w.route_add("default", via="192.168.2.1")
        self.check_isolation([self.v, self.w])
        self.check(self.v.ping(self.RELAY) and self.w.ping(self.RELAY), "lab: v and w reach the relay through their NATs",
                   fatal=True)
        self.check(not self.s.ping("192.168.1.11", timeout=0.5), "lab: the stranger cannot reach v's LAN address", fatal=True)

    def run(self):
        self.build()
        self.listener(self.t, 443, self.DEADLINE)
        self.listener(self.l, 8080, self.DEADLINE)
        self.start_relay(self.relay_host, self.RELAY, ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10"])
        url = f"http://{self.RELAY}:5000"
        common = ["--relay", url, "--lan-interval", "1", "--no-port-mapping", "--verbose"]
        v = self.start_chat(self.chat("v", self.v, "192.168.1.11"), common, wait_online=True)
        w = self.start_chat(self.chat("w", self.w, "192.168.2.11"), common, wait_online=True)
        for chat in (v, w):
            info = self.netinfo(chat)
            self.check(info and info.get("nat") == "eim", f"{chat.name}: NAT mapping eim ({info and info.get('nat')})",
                       fatal=True)
        # In this order: a prediction aims at the first candidate it may dial.
        named = [f"127.0.0.1:{v.port}", "127.0.0.1:22", f"{self.FOREIGN_PRIVATE}:80", f"{self.NEIGHBOUR}:8080",
                 f"{self.THIRD}:443"]
        self.results["named_addresses"] = named
        key_file = os.path.join(self.work, "stranger.pem")

        self.step("step 1: the stranger's attack (punches before and after its tunnel and message); "
                  "meanwhile w writes to v and v replies")
        captures = self.start_captures("1")
        t_attack = time.time()
        s_proc = self.adversary(self.s, "stranger", self.stranger_args(v, named, key_file, unknown_rounds=2))
        w_text = f"hello-v-{secrets.token_hex(3)}"
        t_w, _ = self.send(w, v.id, w_text)
        got = v.proc.wait_for(lambda p: p.first("message", text=w_text), 30.0)
        self.check(got is not None, "contacts: w's first message arrives at v", fatal=True)
        self.check(got.data.get("request") is True, f"contacts: w's first message is a request at v ({got.data.get('request')})")
        t_reply, _ = self.send(v, w.id, f"reply-w-{secrets.token_hex(3)}")
        report = self.wait_done(s_proc, 40.0)
        self.results["stranger_report"] = report
        direct = self.wait_direct(v, w, t_reply)
        t_control = time.time()
        controls = self.control_connections()
        time.sleep(0.5)
        for capture in captures.values():
            capture.stop()
        self.judge_captures(captures, t_attack, t_control, controls, stranger=True)
        self.judge_stranger(v, s_proc, report)
        self.judge_contacts(v, w, t_w, t_reply, direct)

        if self.args.no_contact_phase:
            return
        self.step("step 2: v accepts the stranger (a contact turned hostile), which attacks again")
        s_id = s_proc.first("identity").data["id"]
        v.proc.send(f"/accept {s_id}")
        time.sleep(0.3)
        captures = self.start_captures("2")
        t_attack = time.time()
        t_log = time.monotonic()
        s2 = self.adversary(self.s, "hostile-contact", self.stranger_args(v, named, key_file, unknown_rounds=0,
                                                                          rounds=self.HOSTILE_ROUNDS, interval_ms=330))
        report2 = self.wait_done(s2, 40.0)
        time.sleep(1.0)   # prediction dials send their SYNs at once
        t_end = time.time()
        for capture in captures.values():
            capture.stop()
        self.results["hostile_contact_report"] = report2
        self.judge_captures(captures, t_attack, t_end, None, stranger=False)
        short = s_id.replace("-", "")[:7]
        predictions = [l.text for l in v.proc.stderr if l.t >= t_log and "port prediction" in l.text and short in l.text]
        punch_re = re.compile(rf"hole punch (\d+) with {short}:")
        punches = {m.group(1) for m in (punch_re.search(l.text) for l in v.proc.stderr if l.t >= t_log) if m}
        budget = 3 * MAX_ROUNDS_PER_MINUTE
        self.results["hostile_contact_attempts"] = {"punch_messages": report2.get("punches_sent"),
                                                    "predictions": len(predictions), "punch_attempts": len(punches),
                                                    "budget_per_minute": budget}
        self.check(len(predictions) + len(punches) <= budget,
                   f"hostile contact: {report2.get('punches_sent')} punch messages made v dial {len(predictions)} "
                   f"port predictions and {len(punches)} hole punches (budget {budget} attempts per minute: "
                   f"MAX_PUNCH_ATTEMPTS x maxRoundsPerMinute)")

    def stranger_args(self, v, named, key_file, unknown_rounds, rounds=6, interval_ms=400):
        argv = ["--mode", "stranger", "--relay", f"http://{self.RELAY}:5000", "--victim", v.id, "--nat", "edm",
                "--key-file", key_file, "--announce", f"{self.THIRD}:443", "--unknown-rounds", str(unknown_rounds),
                "--punch-rounds", str(rounds), "--punch-interval-ms", str(interval_ms), "--hold-ms", "2500",
                "--deadline-ms", "35000"]
        for address in named:
            argv += ["--punch-address", address]
        return argv

    def start_captures(self, tag):
        captures = {
            "v": netlab.Capture(self.v, "any", os.path.join(self.work, f"v-{tag}.pcap"), "tcp"),
            "l": netlab.Capture(self.l, "eth0", os.path.join(self.work, f"l-{tag}.pcap"), "tcp"),
            "t": netlab.Capture(self.t, "eth0", os.path.join(self.work, f"t-{tag}.pcap"), "tcp"),
        }
        for name, capture in captures.items():
            self.check(capture.wait_listening(10), f"tcpdump on {name} captures", fatal=True)
        return captures

    def control_connections(self):
        """From v to each named host after the attack: the captures must see these SYNs."""
        outcomes = {
            self.THIRD: self.v.tcp_connect(self.THIRD, 443, 2.0),
            self.NEIGHBOUR: self.v.tcp_connect(self.NEIGHBOUR, 8080, 2.0),
            "127.0.0.1": self.v.tcp_connect("127.0.0.1", 22, 1.0),
        }
        self.results["control_connections"] = outcomes
        return outcomes

    def judge_captures(self, captures, t0, t1, controls, stranger):
        loopback = lambda p: p.dst.startswith("127.") or p.dst == "::1"  # noqa: E731
        phase = "stranger" if stranger else "hostile contact"
        counted = {}
        for name, capture in captures.items():
            summary = capture.summary()
            self.check(summary["dropped_by_kernel"] == 0, f"{phase}: tcpdump on {name} dropped nothing "
                       f"({summary['dropped_by_kernel']})")
            syns = [p for t, p in capture.syns(after=t0, before=t1)]
            counted[name] = {
                "loopback": sum(1 for p in syns if loopback(p)),
                "neighbour": sum(1 for p in syns if p.dst == self.NEIGHBOUR),
                "third_party": sum(1 for p in syns if p.dst == self.THIRD),
                "foreign_private": sum(1 for p in syns if p.dst == self.FOREIGN_PRIVATE),
                "neighbour_ports": len({p.dport for p in syns if p.dst == self.NEIGHBOUR}),
                "third_party_ports": len({p.dport for p in syns if p.dst == self.THIRD}),
            }
        key = "syns_stranger" if stranger else "syns_hostile_contact"
        self.results[key] = counted
        self.note(f"{phase}: SYNs toward the named hosts during the attack: {counted}")
        v, l, t = counted["v"], counted["l"], counted["t"]
        if stranger:
            total = sum(v[k] for k in ("loopback", "neighbour", "third_party", "foreign_private")) + l["neighbour"] + t["third_party"]
            self.check(total == 0, f"stranger: not a single SYN toward an address it named (v: {v['loopback']} to "
                       f"loopback, {v['neighbour']} to l, {v['foreign_private']} to {self.FOREIGN_PRIVATE}, "
                       f"{v['third_party']} to t; seen at l {l['neighbour']}, at t {t['third_party']})")
            after = {name: [p for _t, p in c.syns(after=t1)] for name, c in captures.items()}
            seen = {
                "v->t": sum(1 for p in after["v"] if p.dst == self.THIRD),
                "at t": sum(1 for p in after["t"] if p.dst == self.THIRD),
                "v->l": sum(1 for p in after["v"] if p.dst == self.NEIGHBOUR),
                "at l": sum(1 for p in after["l"] if p.dst == self.NEIGHBOUR),
                "v->loopback": sum(1 for p in after["v"] if loopback(p)),
            }
            self.results["control_syns_seen"] = seen
            self.check(all(n >= 1 for n in seen.values()) and controls[self.THIRD] == "connected"
                       and controls[self.NEIGHBOUR] == "connected",
                       f"stranger: the captures see the control connections made afterwards ({seen}, {controls})")
        else:
            self.check(v["loopback"] == 0, f"hostile contact: no SYN to v's loopback ({v['loopback']})")
            self.check(v["foreign_private"] == 0,
                       f"hostile contact: no SYN to a private network that is not v's ({v['foreign_private']} to "
                       f"{self.FOREIGN_PRIVATE})")
            self.check(v["neighbour"] == 0 and l["neighbour"] == 0,
                       f"hostile contact: no SYN to v's LAN neighbour, which it named (punch candidates must be public; "
                       f"{v['neighbour']} SYNs to {v['neighbour_ports']} ports)")
            # A public address a contact names is dialed (PROTOCOL.md: a contact's candidates), within
            # the attempt budget: at most 3 x maxRoundsPerMinute attempts of at most PREDICTION_PROBES
            # dials each, plus the upgrade rounds' direct dials (maxDialsPerMinute).
            bound = 3 * MAX_ROUNDS_PER_MINUTE * PREDICTION_PROBES + MAX_DIALS_PER_MINUTE
            self.check(t["third_party_ports"] <= bound,
                       f"hostile contact: v dialed the third party it named at {t['third_party_ports']} ports "
                       f"({t['third_party']} SYNs seen at t; bound {bound} per minute)")

    def judge_stranger(self, v, s_proc, report):
        s_id = s_proc.first("identity").data["id"]
        self.note(f"stranger: {report}")
        self.check(report.get("tunnel") and report.get("established"), "stranger: its tunnel and session to v came up")
        self.check(report.get("punches_sent", 0) >= 3 * (2 + 6) - 2,
                   f"stranger: its punch messages went out ({report.get('punches_sent')} sent, "
                   f"{report.get('punch_errors')} refused by the relay)")
        self.check(report.get("punches_received") == 0,
                   f"stranger: v sent it no punch message, so none of v's addresses ({report.get('punches_received')})")
        self.check(report.get("receipts") == 2 and not report.get("session_closed"),
                   f"stranger: both its messages got receipts on the same session ({report.get('receipts')}, "
                   f"closed {report.get('session_closed')})")
        msgs = v.proc.find("message", **{"from": s_id})
        self.check(len(msgs) == 2 and all(m.data.get("request") is True and m.data.get("path") == "relay" for m in msgs),
                   f"stranger: v shows its 2 messages as requests over the relay "
                   f"({[(m.data.get('text'), m.data.get('request'), m.data.get('path')) for m in msgs]})")
        ignored = sum(1 for line in v.proc.stderr if "ignoring a punch from" in line.text)
        self.results["v_punches_ignored_logged"] = ignored
        self.note(f"stranger: v's log says it ignored {ignored} punch messages (the ones before the tunnel are "
                  "dropped without a word: v did not know the peer)")

    def wait_direct(self, v, w, t_reply):
        event = None
        deadline = t_reply + self.DIRECT_WITHIN
        for _ in range(1000):
            hits = [e for c in (v, w) for e in c.proc.find("path", path="direct")]
            if hits:
                event = min(hits, key=lambda e: e.t)
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            v.proc.wait_for(lambda p: p.first("path", path="direct"), min(remaining, 0.5))
        return event

    def judge_contacts(self, v, w, t_w, t_reply, direct):
        reply = w.proc.wait_for(lambda p: p.first("message", **{"from": v.id}), STEP_TIMEOUT)
        self.check(reply is not None, "contacts: v's reply arrives at w")
        upgrade_ms = ms(direct.t - t_reply) if direct else None
        self.results["contacts"] = {"first_message_ms": ms(v.proc.first("message", **{"from": w.id}).t - t_w),
                                    "upgrade_ms_after_reply": upgrade_ms}
        self.check(direct is not None, f"contacts: v and w go direct {upgrade_ms} ms after the reply "
                   f"(bound {self.DIRECT_WITHIN:.0f} s)")
        if direct is not None:
            time.sleep(0.3)
            text = f"after-upgrade-{secrets.token_hex(3)}"
            t_last, _ = self.send(w, v.id, text)
            last = v.proc.wait_for(lambda p: p.first("message", text=text), STEP_TIMEOUT)
            self.check(last is not None and last.data.get("path") == "direct",
                       f"contacts: a message after the upgrade goes direct ({last.data.get('path') if last else None}, "
                       f"{ms(last.t - t_last) if last else None} ms)")


# ---------------------------------------------------------------------------------------------
# flood: 2,000 throwaway identities; memory, descriptors, strangers within the caps


class FloodScenario(Scenario):
    NAME = "flood"
    DEADLINE = 110
    PREFIX = "198.18.0"
    RELAY = "198.18.0.10"
    PER_FLOODER = 500
    LINGER_MS = 8000               # f3 keeps v's closing sockets open this long (v waits 10 s for a FIN)
    TUNNELS_HELD = 300             # fr's sessions at once (started over RAMP_MS, each held TUNNEL_HOLD_MS; a
                                   # slot turned away tries its next identity a second later)
    TUNNEL_HOLD_MS = 16000         # ... and none past this time after fr's start
    RAMP_MS = 6000
    MEMORY_BOUND_MIB = 96          # VmRSS growth over the baseline, peak
    FD_SLACK = 32                  # listener, relay channel, LAN sockets, lingering closes of the contact...
    DURING_MESSAGES = 5
    AFTER_MESSAGES = 3
    LATENCY_BOUND = 3.0            # seconds, per message during the flood (generous: 2 shared cores; a
                                   # contact locked out would wait until the held sessions end, >= 4 s)

    def build(self):
        self.step(f"lab: one LAN {self.PREFIX}.0/24: relay .10, victim v .11, contact c .12, flooders f1-f3 "
                  ".21-.23 (direct), fr .24 (relay tunnels)")
        lab = self.lab
        lan = lab.add_switch("lan")
        self.hosts = {}
        for name, last in (("relay", 10), ("v", 11), ("c", 12), ("f1", 21), ("f2", 22), ("f3", 23), ("fr", 24)):
            self.hosts[name] = lab.add_host(name, lan, f"{self.PREFIX}.{last}/24")
        self.check_isolation([])

    def run(self):
        self.build()
        h = self.hosts
        self.start_relay(h["relay"], self.RELAY, [
            "relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=5",
            # The relay's own per-IP limits would stop the attacker long before the node's: this
            # lab is about the node.
            "relay.requestsPerSecondPerIp=5000", "relay.tunnelsPerSecondPerIp=5000",
            "relay.maxTunnelsPerIp=1000", "relay.maxTunnels=1000", "relay.maxControlConnectionsPerIp=5000",
            "relay.maxHttpConnectionsPerIp=2000", "relay.maxPeersPerIp=100000"])
        url = f"http://{self.RELAY}:5000"
        common = ["--relay", url, "--lan-interval", "1", "--no-port-mapping", "--no-hole-punching"]
        v = self.start_chat(self.chat("v", h["v"], f"{self.PREFIX}.11"), common, wait_online=True)
        c = self.start_chat(self.chat("c", h["c"], f"{self.PREFIX}.12"), common, wait_online=True)

        self.step("step 1: c and v become contacts of each other; c quits")
        self.wait_found(c, v)
        t0, _ = self.send(c, v.id, "hello-before-the-flood")
        first = v.proc.wait_for(lambda p: p.first("message", text="hello-before-the-flood"), STEP_TIMEOUT)
        self.check(first is not None, "c's first message arrives at v", fatal=True)
        self.send(v, c.id, "welcome")
        back = c.proc.wait_for(lambda p: p.first("message", text="welcome"), STEP_TIMEOUT)
        self.check(back is not None, "v's reply arrives at c", fatal=True)
        baseline_latency = ms(first.t - t0)
        self.check(self.quit(c) == 0, "c quits cleanly")

        self.step(f"step 2: 4 x {self.PER_FLOODER} throwaway identities; c comes back and writes during the flood")
        sampler = netlab.ProcessSampler(v.proc.pid, 0.1).start()
        time.sleep(1.0)
        baseline = {k: sampler.median(k) for k in ("rss_kib", "fds", "threads")}
        target = f"{self.PREFIX}.11:{v.port}"
        flooders = []
        t_flood = time.monotonic()
        for name, behavior, hold, parallel in (("f1", "message", 0, 12), ("f2", "requests", 0, 12),
                                               ("f3", "linger", self.LINGER_MS, 12)):
            flooders.append(self.adversary(h[name], name, [
                "--mode", "flood", "--victim", v.id, "--connect", target, "--count", str(self.PER_FLOODER),
                "--parallel", str(parallel), "--behavior", behavior, "--hold-ms", str(hold),
                "--session-timeout-ms", "12000", "--deadline-ms", "80000"]))
        # Tunnels hold their sessions: together they try to fill maxSessions, so that no session
        # (a contact's included) would be taken any more.
        flooders.append(self.adversary(h["fr"], "fr", [
            "--mode", "flood", "--victim", v.id, "--relay", url, "--count", str(self.PER_FLOODER),
            "--parallel", str(self.TUNNELS_HELD), "--ramp-ms", str(self.RAMP_MS), "--retry-ms", "1000", "--behavior", "message",
            "--hold-ms", str(self.TUNNEL_HOLD_MS), "--hold-until-ms", str(self.TUNNEL_HOLD_MS),
            "--session-timeout-ms", "12000", "--deadline-ms", "80000"]))
        # Every tunnel slot has started once the ramp is over; the table is then full.
        time.sleep(max(0.0, t_flood + self.RAMP_MS / 1000.0 + 1.5 - time.monotonic()))
        full = sampler_wait(sampler, lambda u: u["fds"] >= baseline["fds"] + MAX_SESSIONS, 8.0)
        t_full = time.monotonic()
        self.results["sessions_full_after_s"] = round(t_full - t_flood, 1) if full else None
        self.check(full, f"the flood holds v's sessions near maxSessions before c comes back "
                   f"(descriptors {sampler.peak('fds', t_flood)}, baseline {baseline['fds']})")
        self.start_chat(c, common)
        during = self.conversation(c, v, self.DURING_MESSAGES, "during", 0.5)
        requests = self.contact_requests(c, v)
        self.results["fds_while_c_wrote"] = sampler.peak("fds", t_full)
        reports = {}
        for proc in flooders:
            reports[proc.name] = self.wait_done(proc, max(5.0, t_flood + 85.0 - time.monotonic()))
        t_flood_end = time.monotonic()
        self.results["flood_seconds"] = round(t_flood_end - t_flood, 1)
        self.results["flooders"] = reports

        self.step("step 3: after the flood")
        after = self.conversation(c, v, self.AFTER_MESSAGES, "after", 0.2)
        time.sleep(2.0)
        sampler.stop()
        self.judge(v, baseline, sampler, t_flood, t_flood_end, reports, during, after, baseline_latency)
        self.judge_requests(v, c, requests)

    def contact_requests(self, c, v):
        """During the flood, c invites v to a new group and offers it a file; returns what v saw."""
        path = os.path.join(self.work, "for-v.txt")
        with open(path, "w") as f:
            f.write("a file from a friend, during the flood\n" * 100)
        t0 = time.monotonic()
        c.proc.send("/group create friends")
        created = c.proc.wait_for(lambda p: p.first("group", kind="created"), STEP_TIMEOUT)
        self.check(created is not None, "c creates a group during the flood", fatal=True)
        group = created.data.get("group")
        c.proc.send(f"/group invite friends {v.id}")
        c.proc.send(f"/send {v.id} {path}")
        invited = v.proc.wait_for(lambda p: next((e for e in p.find("group", kind="invited")
                                                  if e.data.get("group") == group), None), 30.0)
        offered = v.proc.wait_for(lambda p: next((e for e in p.find("transfer", direction="in", state="offered")
                                                  if e.data.get("peer") == c.id), None), 30.0)
        return {"invited": invited, "offered": offered, "t0": t0, "group": group}

    def judge_requests(self, v, c, requests):
        invited, offered = requests["invited"], requests["offered"]
        self.check(invited is not None, f"c's group invitation reaches v during the strangers' invitation flood "
                   f"({ms(invited.t - requests['t0']) if invited else None} ms)")
        self.check(offered is not None and not offered.data.get("request"),
                   f"c's file offer reaches v as a contact's offer during the strangers' offer flood "
                   f"({offered.data if offered else None})")
        v.proc.send("/groups")
        groups = v.proc.wait_for(lambda p: p.first("groups"), STEP_TIMEOUT)
        waiting = [g for g in (groups.data.get("groups", []) if groups else []) if g.get("state") == "invited"]
        from_strangers = [g for g in waiting if g.get("inviter") != c.id]
        v.proc.send("/files")
        files = v.proc.wait_for(lambda p: p.first("files"), STEP_TIMEOUT)
        offers = [t for t in (files.data.get("transfers", []) if files else [])
                  if t.get("direction") == "in" and t.get("state") == "offered"]
        stranger_offers = [t for t in offers if t.get("request")]
        self.results["requests"] = {"invitations_from_strangers": len(from_strangers), "stranger_offers": len(stranger_offers),
                                    "contact_invitation_ms": ms(invited.t - requests["t0"]) if invited else None}
        self.note(f"v holds {len(from_strangers)} strangers' invitations and {len(stranger_offers)} strangers' offers")
        self.check(0 < len(from_strangers) <= MAX_STRANGER_INVITATIONS,
                   f"strangers' invitations waiting at v within the cap ({len(from_strangers)} <= {MAX_STRANGER_INVITATIONS})")
        self.check(0 < len(stranger_offers) <= MAX_STRANGER_OFFERS,
                   f"strangers' offers waiting at v within the cap ({len(stranger_offers)} <= {MAX_STRANGER_OFFERS})")
        self.check(any(g.get("inviter") == c.id for g in waiting), "c's invitation is among v's waiting ones")

    def wait_found(self, a, b):
        for x, y in ((a, b), (b, a)):
            found = x.proc.wait_for(lambda p, y=y: p.first("peer", id=y.id), STEP_TIMEOUT)
            self.check(found is not None, f"{x.name} finds {y.name} on the LAN", fatal=True)

    def conversation(self, c, v, count, tag, gap):
        """c writes count messages to v, gap seconds apart, and v answers each; returns samples."""
        token = secrets.token_hex(3)
        sent = []
        for i in range(count):
            text = f"{tag}-{token}-{i}"
            t_send, message_id = self.send(c, v.id, text, timeout=30.0)
            sent.append((text, t_send, message_id))
            time.sleep(gap)
        deadline = time.monotonic() + 30.0
        for text, _t, _id in sent:
            v.proc.wait_for(lambda p, text=text: p.first("message", text=text), max(0.0, deadline - time.monotonic()))
        reply = f"{tag}-{token}-reply"
        t_reply, _ = self.send(v, c.id, reply, timeout=30.0)
        got_reply = c.proc.wait_for(lambda p: p.first("message", text=reply), max(1.0, deadline - time.monotonic()))
        time.sleep(SETTLE)
        arrived = [e for e in v.proc.find("message") if e.data.get("text", "").startswith(f"{tag}-{token}-")]
        delivered = {e.data.get("id"): e.t for e in c.proc.find("delivered")}
        samples = []
        for text, t_send, message_id in sent:
            hit = next((e for e in arrived if e.data.get("text") == text), None)
            samples.append({"text": text, "message_ms": ms(hit.t - t_send) if hit else None,
                            "delivered_ms": ms(delivered[message_id] - t_send) if message_id in delivered else None,
                            "path": hit.data.get("path") if hit else None})
        order = [e.data.get("text") for e in arrived]
        return {"samples": samples, "in_order_once": order == [s[0] for s in sent],
                "reply_ms": ms(got_reply.t - t_reply) if got_reply else None}

    def judge(self, v, baseline, sampler, t_flood, t_flood_end, reports, during, after, baseline_latency):
        peak = {k: sampler.peak(k, t_flood) for k in ("rss_kib", "fds", "threads")}
        end = {k: sampler.median(k, t_flood_end + 1.0) for k in ("rss_kib", "fds", "threads")}
        identities = sum(r.get("started", 0) for r in reports.values())
        outcomes = {}
        for r in reports.values():
            for k, n in (r.get("outcomes") or {}).items():
                outcomes[k] = outcomes.get(k, 0) + n
        strangers_messages = len([e for e in v.proc.find("message") if e.data.get("request")])
        self.results.update({"baseline": baseline, "peak": peak, "after": end, "identities": identities,
                             "outcomes": outcomes, "stranger_messages_shown": strangers_messages,
                             "during": during, "after_flood": after, "baseline_latency_ms": baseline_latency})
        mib = lambda kib: None if kib is None else round(kib / 1024.0, 1)  # noqa: E731
        self.note(f"flood: {identities} identities in {self.results['flood_seconds']} s; outcomes {outcomes}")
        self.note(f"v: VmRSS {mib(baseline['rss_kib'])} MiB before, {mib(peak['rss_kib'])} MiB peak, "
                  f"{mib(end['rss_kib'])} MiB after; descriptors {baseline['fds']} before, {peak['fds']} peak, "
                  f"{end['fds']} after; threads {baseline['threads']} / {peak['threads']}")
        self.note(f"c during the flood: {[s['message_ms'] for s in during['samples']]} ms (/msg -> v's message); "
                  f"after: {[s['message_ms'] for s in after['samples']]} ms; before: {baseline_latency} ms")
        self.check(v.proc.alive, "v survived the flood")
        self.check(identities == 4 * self.PER_FLOODER, f"{identities} throwaway identities tried v (expected {4 * self.PER_FLOODER})")
        fd_bound = baseline["fds"] + MAX_SESSIONS + MAX_PENDING_SESSIONS + self.FD_SLACK
        self.check(peak["fds"] is not None and peak["fds"] <= fd_bound,
                   f"v's descriptors stay within the caps: peak {peak['fds']} <= {fd_bound} (baseline {baseline['fds']} + "
                   f"maxSessions {MAX_SESSIONS} + maxPendingSessions {MAX_PENDING_SESSIONS} + {self.FD_SLACK})")
        growth = mib(peak["rss_kib"] - baseline["rss_kib"]) if peak["rss_kib"] else None
        self.check(growth is not None and growth <= self.MEMORY_BOUND_MIB,
                   f"v's memory stays bounded: VmRSS peak {growth} MiB over the baseline (bound {self.MEMORY_BOUND_MIB} MiB)")
        self.check(end["fds"] is not None and end["fds"] <= baseline["fds"] + self.FD_SLACK,
                   f"v's descriptors come back after the flood ({end['fds']}, baseline {baseline['fds']})")
        peers = self.peers(v)
        strangers = [p for p in peers if p.get("relation") == "stranger"]
        self.results["peers_after"] = {"total": len(peers), "strangers": len(strangers)}
        self.check(len(strangers) <= MAX_STRANGERS, f"v keeps at most maxStrangers = {MAX_STRANGERS} strangers "
                   f"({len(strangers)} of {identities} identities; {len(peers)} peers in all)")
        contact = next((p for p in peers if p.get("relation") == "contact"), None)
        self.check(contact is not None, "v still has c as a contact")
        for tag, conv, bound in (("during", during, self.LATENCY_BOUND), ("after", after, 3.0)):
            latencies = [s["message_ms"] for s in conv["samples"]]
            self.check(conv["in_order_once"] and all(x is not None and x <= bound * 1000 for x in latencies),
                       f"c's messages {tag} the flood arrive once, in order, each within {bound:.0f} s ({latencies} ms)")
            self.check(conv["reply_ms"] is not None, f"v's reply {tag} the flood arrives at c ({conv['reply_ms']} ms)")

    def peers(self, chat):
        count = len(chat.proc.find("peers"))
        chat.proc.send("/peers")
        chat.proc.wait_for(lambda p: len(p.find("peers")) > count, STEP_TIMEOUT)
        events = chat.proc.find("peers")
        return events[-1].data.get("peers", []) if len(events) > count else []


# ---------------------------------------------------------------------------------------------
# poison: one bad line costs one error; no reconnect loop


class PoisonScenario(Scenario):
    NAME = "poison"
    DEADLINE = 100
    PREFIX = "198.18.0"
    WINDOW = 12.0
    TOOLS = ()

    def build(self):
        self.step(f"lab: one LAN {self.PREFIX}.0/24: victim v .11, poisoner p .21, refusing receiver r .22, "
                  "hostile receivers h1 .23 (aborts) and h2 .24 (garbage)")
        lab = self.lab
        lan = lab.add_switch("lan")
        self.hosts = {}
        for name, last in (("v", 11), ("p", 21), ("r", 22), ("h1", 23), ("h2", 24)):
            self.hosts[name] = lab.add_host(name, lan, f"{self.PREFIX}.{last}/24")
        self.check_isolation([])

    def run(self):
        self.build()
        h = self.hosts
        v = self.start_chat(self.chat("v", h["v"], f"{self.PREFIX}.11"), ["--lan-interval", "1", "--no-port-mapping", "--verbose"])
        receivers = {}
        for name, extra in (("r", ["--refuse-text", "refuse-me"]), ("h1", ["--on-text", "abort"]),
                            ("h2", ["--on-text", "garbage"])):
            proc = self.adversary(h[name], name, ["--mode", "receiver", "--lan", "--lan-interval-ms", "1000",
                                                  "--duration-ms", str(int(self.DEADLINE * 1000))] + extra)
            listening = proc.wait_event("listening", 10)
            self.check(listening is not None, f"{name}: receiver listening", fatal=True)
            receivers[name] = (proc, listening.data["id"])
        for name, (proc, rid) in receivers.items():
            found = v.proc.wait_for(lambda p, rid=rid: p.first("peer", id=rid), STEP_TIMEOUT)
            self.check(found is not None, f"v finds {name} on the LAN", fatal=True)

        self.step(f"step 1: v writes to h1 (aborts on every text) and h2 (garbage): reconnects counted over "
                  f"{self.WINDOW:.0f} s while the other steps run")
        t_window = time.monotonic()
        for name in ("h1", "h2"):
            self.send(v, receivers[name][1], f"hello-{name}")

        self.step("step 2: p sends v 'caf\\xe9' (Latin-1) as a text, then 5 valid texts at once")
        p = self.adversary(h["p"], "p", ["--mode", "poison", "--victim", v.id, "--connect", f"{self.PREFIX}.11:{v.port}",
                                         "--count", "5", "--hold-ms", "2000", "--deadline-ms", "30000"])
        report = self.wait_done(p, 35.0)
        self.judge_poison(v, p, report)

        self.step("step 3: v writes 5 messages to r, which refuses the second")
        rproc, rid = receivers["r"]
        token = secrets.token_hex(3)
        texts = [f"m{i}-{token}" if i != 1 else f"m{i}-{token}-refuse-me" for i in range(5)]
        ids = []
        errors_before = len(v.proc.find("error"))
        for text in texts:
            ids.append(self.send(v, rid, text)[1])
        done = v.proc.wait_for(lambda p: all(p.first("delivered", id=i) or p.first("error", id=i) for i in ids), STEP_TIMEOUT)
        time.sleep(SETTLE)
        self.judge_refusal(v, rproc, texts, ids, errors_before, done)

        self.step("step 4: a console line in Latin-1 is refused, never sent")
        count_sent = len(v.proc.find("sent"))
        count_errors = len(v.proc.find("error"))
        count_texts = len(rproc.find("text"))
        v.proc.send_bytes(f"/msg {rid} caf".encode("ascii") + b"\xe9\n")
        refused = v.proc.wait_for(lambda p: len(p.find("error")) > count_errors, 5.0)
        time.sleep(SETTLE)
        error_text = v.proc.find("error")[-1].data.get("message", "") if refused else None
        self.check(refused is not None and "UTF-8" in (error_text or ""),
                   f"console: the Latin-1 line is refused with an error ({error_text!r})")
        self.check(len(v.proc.find("sent")) == count_sent and len(rproc.find("text")) == count_texts,
                   "console: nothing was sent for it")

        self.step("step 5: reconnects to the hostile receivers")
        remaining = t_window + self.WINDOW - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        self.judge_reconnects(v, receivers, t_window)
        self.check(v.proc.alive, "v is still running")
        self.check(self.quit(v) == 0, "v quits cleanly")

    def judge_poison(self, v, p, report):
        p_id = p.first("identity").data["id"]
        self.results["poison_report"] = report
        refusals = report.get("refusals") or []
        receipts = report.get("receipts") or []
        expected = [f"poison-{i}" for i in range(1, 6)]
        self.check(report.get("raw_bytes_sent") is True, "poison: the text went out with its raw Latin-1 byte")
        self.check(len(refusals) == 1 and refusals[0].get("id") == "poison-0" and refusals[0].get("code") == "invalid_utf8",
                   f"poison: exactly one refusal, for the bad line, code invalid_utf8 ({refusals})")
        self.check(receipts == expected, f"poison: receipts for the 5 messages behind it, in order ({receipts})")
        self.check(not report.get("session_closed"), f"poison: v kept the session ({report.get('close_reason')!r})")
        shown = [e.data.get("text") for e in v.proc.find("message", **{"from": p_id})]
        self.check(shown == [f"after the bad line {i}" for i in range(1, 6)],
                   f"poison: v shows the 5 messages once each, in order, and not the bad one ({shown})")

    def judge_refusal(self, v, rproc, texts, ids, errors_before, done):
        refused_id = ids[1]
        errors = [e.data for e in v.proc.find("error")[errors_before:]]
        with_id = [e for e in errors if e.get("id") == refused_id]
        self.results["refusal"] = {"errors": errors, "ids": ids}
        self.check(done is not None, "refusal: every message ended (delivered or refused) at v")
        self.check(len(with_id) == 1 and with_id[0].get("code") == "invalid_utf8",
                   f"refusal: exactly one error event at v, with the refused message's id ({with_id})")
        others = [i for i in ids if i != refused_id]
        self.check(all(len(v.proc.find("delivered", id=i)) == 1 for i in others) and not v.proc.find("delivered", id=refused_id),
                   "refusal: 'delivered' once for each of the 4 others, not for the refused one")
        got = [e.data.get("text") for e in rproc.find("text") if e.data.get("text") in texts]
        self.check(got == texts, f"refusal: r got each message once, in order, the refused one not resent ({got})")

    def judge_reconnects(self, v, receivers, t_window):
        counts = {}
        for name in ("h1", "h2"):
            proc, _rid = receivers[name]
            sessions = [e for e in proc.find("session") if e.t >= t_window]
            counts[name] = {"sessions": len(sessions), "at_s": [round(e.t - t_window, 1) for e in sessions]}
        self.results["reconnects"] = {"window_s": self.WINDOW, **counts}
        self.note(f"reconnects within {self.WINDOW:.0f} s: {counts}")
        bound = MAX_ROUNDS_PER_MINUTE + 1
        for name, c in counts.items():
            self.check(1 <= c["sessions"] <= bound,
                       f"reconnects: v opened {c['sessions']} sessions to {name} in {self.WINDOW:.0f} s "
                       f"(at most maxRoundsPerMinute + 1 = {bound})")


# ---------------------------------------------------------------------------------------------
# restart: kill -9 of either side mid-conversation loses and duplicates nothing


class RestartScenario(Scenario):
    NAME = "restart"
    DEADLINE = 100
    PREFIX = "198.18.0"
    TOOLS = ()

    def build(self):
        self.step(f"lab: one LAN {self.PREFIX}.0/24: a .11, b .12")
        lan = self.lab.add_switch("lan")
        self.hosts = {name: self.lab.add_host(name, lan, f"{self.PREFIX}.{last}/24") for name, last in (("a", 11), ("b", 12))}
        self.check_isolation([])

    def has_store(self, chat):
        """True if crosschat answers /history (the durable store is wired in)."""
        count = len(chat.proc.find())
        chat.proc.send(f"/history {chat.id}")
        answer = chat.proc.wait_for(lambda p: next((e for e in p.find()[count:]
                                                    if e.data.get("event") in ("history", "error")), None), 5.0)
        return answer is not None and answer.data.get("event") == "history"

    def run(self):
        self.build()
        extra = ["--lan-interval", "1", "--no-port-mapping"]
        a = self.start_chat(self.chat("a", self.hosts["a"], f"{self.PREFIX}.11"), extra)
        b = self.start_chat(self.chat("b", self.hosts["b"], f"{self.PREFIX}.12"), extra)
        if not self.has_store(a):
            raise Skipped("crosschat has no /history yet: the durable store is not wired into ChatNode")
        for x, y in ((a, b), (b, a)):
            self.check(x.proc.wait_for(lambda p, y=y: p.first("peer", id=y.id), STEP_TIMEOUT) is not None,
                       f"{x.name} finds {y.name} on the LAN", fatal=True)
        conversation = []   # (sender, text) in the order written
        token = secrets.token_hex(3)

        self.step("step 1: a and b write to each other")
        for sender, receiver, text in ((a, b, f"{token}-a1"), (b, a, f"{token}-b1")):
            self.send(sender, receiver.id, text)
            conversation.append((sender.name, text))
            self.check(receiver.proc.wait_for(lambda p, t=text: p.first("message", text=t), STEP_TIMEOUT) is not None,
                       f"{text} arrives", fatal=True)

        self.step("step 2: b goes away; a queues 3 messages; kill -9 of a; a and b come back")
        self.check(self.quit(b) == 0, "b quits")
        queued = [f"{token}-a-queued-{i}" for i in range(3)]
        for text in queued:
            self.send(a, b.id, text)
            conversation.append(("a", text))
        time.sleep(0.5)
        a.proc.kill(signal.SIGKILL)
        self.check(a.proc.wait(5) is not None, "a is gone after SIGKILL")
        self.start_chat(a, extra)
        self.start_chat(b, extra)
        arrived = b.proc.wait_for(lambda p: all(p.first("message", text=t) for t in queued), 30.0)
        time.sleep(SETTLE)
        got = [e.data.get("text") for e in b.proc.find("message") if e.data.get("text") in queued]
        self.check(arrived is not None and got == queued,
                   f"the 3 messages queued before a's kill -9 arrive once each, in order ({got})")

        self.step("step 3: a writes 6 messages; b is killed (SIGKILL) after the second arrives, then restarted")
        burst = [f"{token}-a-burst-{i}" for i in range(6)]
        first_b = b.proc
        for i, text in enumerate(burst):
            self.send(a, b.id, text)
            conversation.append(("a", text))
            if i == 1:
                first_b.wait_for(lambda p: p.first("message", text=burst[1]), STEP_TIMEOUT)
                first_b.kill(signal.SIGKILL)
                first_b.wait(5)
        self.start_chat(b, extra)
        b.proc.wait_for(lambda p: all(any(run.first("message", text=t) for run in b.runs) for t in burst), 40.0)
        time.sleep(SETTLE)
        counts = {t: sum(len(run.find("message", text=t)) for run in b.runs[-2:]) for t in burst}
        order = [e.data.get("text") for run in b.runs[-2:] for e in run.find("message") if e.data.get("text") in burst]
        self.check(all(n == 1 for n in counts.values()) and order == burst,
                   f"across b's kill -9 every message arrived exactly once, in order ({counts})")

        self.step("step 4: /history after the restarts shows the whole conversation")
        time.sleep(1.0)
        for chat, peer in ((a, b), (b, a)):
            count = len(chat.proc.find("history"))
            chat.proc.send(f"/history {peer.id} 100")
            event = chat.proc.wait_for(lambda p: len(p.find("history")) > count, STEP_TIMEOUT)
            messages = chat.proc.find("history")[-1].data.get("messages", []) if event else []
            texts = [m.get("text") for m in messages]
            expected = [text for _sender, text in conversation]
            self.check(texts == expected, f"/history at {chat.name}: {len(texts)} messages, the whole conversation in "
                       f"order (missing {[t for t in expected if t not in texts]}, extra "
                       f"{[t for t in texts if t not in expected]})")
        for chat in (a, b):
            self.quit(chat)


SCENARIOS = {cls.NAME: cls for cls in (StrangerScenario, FloodScenario, PoisonScenario, RestartScenario)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--relay-bin", help="path to the crosschat-relay program (stranger, flood)")
    parser.add_argument("--adversary", help="path to the Adversary-peer program (stranger, flood, poison)")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs and captures (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose (logs in the work dir)")
    parser.add_argument("--no-contact-phase", action="store_true", help="stranger: skip the hostile-contact phase")
    args = parser.parse_args()
    cls = SCENARIOS[args.scenario]

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in cls.TOOLS:
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"SKIPPED: the {cls.NAME} scenario needs {tool} (scripts/deps.sh installs it)")
            return 77
    programs = [("--crosschat", "crosschat")]
    if cls.NAME in ("stranger", "flood"):
        programs.append(("--relay-bin", "relay_bin"))
    if cls.NAME in ("stranger", "flood", "poison"):
        programs.append(("--adversary", "adversary"))
    for option, attr in programs:
        path = getattr(args, attr)
        if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"FAILED: {option} {path} is not an executable file")
            return 1
        setattr(args, attr, os.path.abspath(path))
    stale = netlab.remove_stale_labs()
    if stale:
        print(f"lab: removed namespaces left by an earlier, killed lab: {stale}")

    def on_alarm(_signum, _frame):
        raise Deadline(f"the scenario ran longer than {cls.DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(cls.DEADLINE)
    work = tempfile.mkdtemp(prefix=f"crosschat-attack-{cls.NAME}.")
    scenario = cls(args, work)
    started = time.monotonic()
    error = None
    skipped = None
    try:
        scenario.run()
    except Skipped as exc:
        skipped = str(exc)
    except (netlab.CheckFailed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"  FAIL  {error}", flush=True)
    except SystemExit:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        signal.alarm(0)
        if error or scenario.failures:
            scenario.dump_logs()
        scenario.close()
    passed = error is None and not scenario.failures
    scenario.results.update({"passed": passed, "skipped": skipped, "error": error, "failures": scenario.failures,
                             "checks": scenario.checks, "seconds": round(time.monotonic() - started, 1)})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(scenario.results, f, indent=2)
    print(f"  checks: {sum(c['passed'] for c in scenario.checks)} passed, "
          f"{sum(not c['passed'] for c in scenario.checks)} failed; {scenario.results['seconds']} s")
    if args.keep or not passed:
        print(f"  work dir {work} (logs, captures)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    name = f"netlab-attack-{cls.NAME}" if cls.NAME != "restart" else "netlab-restart"
    if skipped and passed:
        print(f"SKIPPED: {skipped}")
        print(f"{name}: SKIPPED")
        return 77
    print(f"{name}:", "PASSED" if passed else f"FAILED — {error or '; '.join(scenario.failures)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
