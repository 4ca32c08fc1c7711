#!/usr/bin/env python3
"""group_lab.py — a group conversation across three NATs and a LAN, one member away for part of it
(CTest: netlab-group).

Usage: group_lab.py --crosschat PATH --relay-bin PATH [--results FILE] [--keep] [--verbose]

Topology (every node is a network namespace of the lab; nothing touches the root namespace):

    "internet" 203.0.113.0/24:  relay 203.0.113.10, routers ra .1, rb .2, rc .3
    LAN A 198.18.1.0/24 behind ra:  a1 198.18.1.11 (founder), a2 198.18.1.12 (a1's LAN neighbour)
    LAN B 198.19.1.0/24 behind rb:  b1 198.19.1.11
    LAN C 198.19.2.0/24 behind rc:  c1 198.19.2.11  (rc is a "symmetric" NAT: a new port per destination)

The routers masquerade and drop unsolicited inbound packets. crosschat --json --relay ... runs on
the four hosts: a1, b1 and c1 are three people behind three different NATs, a2 is a1's LAN
neighbour. a1 and a2 meet on the LAN, the others only through the relay (tunnels; the ladder
may upgrade them by hole punching). The console is driven exactly as a user would:
/group create, /group invite, /group accept, /msg #<group>, /groups, /group members,
/group history, /quit.

Checks (each wait bounded):
  1. every instance reports the relay online;
  2. a1 creates a group ("group" event kind "created") and invites a2, b1 and c1 by peer ID;
     each gets kind "invited" (a request: it is not a member until it accepts), accepts, and
     reports kind "joined"; everyone ends with 4 members (/group members);
  3. every member writes 3 messages with /msg #<group>: each arrives exactly once at each other
     member as a "message" event with "group" and the author's sequence;
  4. c1 quits; a1, a2 and b1 write 3 messages each; b1 quits too (what c1 missed must come
     from a1 or a2, across the NATs); c1 starts again on its data directory and catches up: it
     receives the 9 messages it missed, each author's in order; b1 starts again;
  5. /group history at every member: the 21 messages, every author's in the order it wrote
     them (sequences 1, 2, 3, ...), the same everywhere;
  6. b1 shares a file with the group (/send #<group> <path>, 4 MiB of random bytes): it is read
     once (/files: files_hashed 1) and offered to a1, a2 and c1, each offer a "transfer" event
     with "group"; each accepts it on its own (/accept-file) and has it complete with the
     SHA-256 computed here from the bytes on disk;
  7. the instances end cleanly on /quit, the lab leaves nothing behind.
Measured: time to join, message latency to the last member, catch-up time of the returning member,
time for the group's file to reach every member.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no nft).
"""
import argparse
import hashlib
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
STEP_TIMEOUT = 20.0      # seconds for start, relay online, a command's answer
JOIN_TIMEOUT = 60.0      # seconds for an invitation or a join across the NATs (lookup, tunnel)
MESSAGE_TIMEOUT = 45.0   # seconds for messages to reach every member
FILE_TIMEOUT = 45.0      # seconds for the group's file to reach every member
FILE_MIB = 4             # size of the group's file
CATCHUP_TIMEOUT = 90.0   # seconds for the returning member to catch up
SETTLE = 1.5             # seconds to wait for duplicates
DEADLINE = 290           # seconds for the whole run (CTest's TIMEOUT is 300)
RELAY_DEFINES = ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10"]


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


class Member:
    def __init__(self, name, host):
        self.name = name
        self.host = host
        self.proc = None
        self.id = None
        self.starts = 0
        self.transfer = None   # the group file's transfer ID (step 6)

    def __repr__(self):
        return self.name


class GroupLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab()
        self.members = []
        self.recorder = netlab.Checks()
        self.checks = self.recorder.checks
        self.relay_proc = None
        self.root_before = netlab.root_interfaces()
        self.group = None
        self.sent = []   # every message written: {"writer", "text", "t", "seq"}, in the order written
        self.results = {"config": {"relay_url": RELAY_URL, "members": 4}}

    def check(self, condition, message):
        """Every check here is fatal: later steps depend on it."""
        self.recorder.check(condition, message, fatal=True)

    def note(self, message):
        self.recorder.note(message)

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    # -- lab -----------------------------------------------------------------------------------

    def build(self):
        print("lab: internet (relay, ra, rb, rc); LAN A behind ra (a1, a2); LAN B behind rb (b1); "
              "LAN C behind rc, symmetric (c1)", flush=True)
        lab = self.lab
        inet = lab.add_switch("inet")
        lan_a = lab.add_switch("lana")
        lan_b = lab.add_switch("lanb")
        lan_c = lab.add_switch("lanc")
        self.relay_host = lab.add_host("relay", inet, f"{RELAY_ADDRESS}/24")
        lab.add_nat_router("ra", inet, "203.0.113.1/24", lan_a, "198.18.1.1/24")
        lab.add_nat_router("rb", inet, "203.0.113.2/24", lan_b, "198.19.1.1/24")
        lab.add_nat_router("rc", inet, "203.0.113.3/24", lan_c, "198.19.2.1/24", random_ports=True)
        for name, switch, address, gateway in (("a1", lan_a, "198.18.1.11", "198.18.1.1"),
                                               ("a2", lan_a, "198.18.1.12", "198.18.1.1"),
                                               ("b1", lan_b, "198.19.1.11", "198.19.1.1"),
                                               ("c1", lan_c, "198.19.2.11", "198.19.2.1")):
            host = lab.add_host(name, switch, f"{address}/24")
            host.route_add("default", via=gateway)
            self.members.append(Member(name, host))
        self.check(lab.wait_addresses(10), "IPv6 link-local addresses ready in every namespace")
        self.check(netlab.root_interfaces() == self.root_before, "no lab interface in the root namespace")
        self.check(self.member("a1").host.ping(RELAY_ADDRESS), "a1 reaches the relay through its NAT")
        self.check(not self.member("a1").host.ping("198.19.1.11", timeout=0.5), "a1 cannot reach b1's LAN address")
        self.check(not self.member("b1").host.ping("198.19.2.11", timeout=0.5), "b1 cannot reach c1's LAN address")

    def start_relay(self):
        self.relay_proc = netlab.start_relay(self.relay_host, self.args.relay_bin, RELAY_ADDRESS, RELAY_PORT,
                                             RELAY_DEFINES, os.path.join(self.work, "relay.log"), STEP_TIMEOUT)
        self.note(f"crosschat-relay listens on {RELAY_URL}")

    def start(self, m):
        m.starts += 1
        argv = [self.args.crosschat, "--json", "--name", m.name, "--data-dir", os.path.join(self.work, m.name),
                "--lan-interval", "1", "--relay", RELAY_URL, "--no-port-mapping"]
        if self.args.verbose:
            argv.append("--verbose")
        m.proc = m.host.spawn(argv, name=f"{m.name}-{m.starts}", log_path=os.path.join(self.work, m.name + ".log"))
        ready = m.proc.wait_event("ready", STEP_TIMEOUT)
        self.check(ready is not None, f"{m.name} ready (start {m.starts}; stderr {m.proc.stderr_tail(5) if not ready else 'ok'})")
        m.id = ready.data.get("id")
        online = m.proc.wait_event("relay", STEP_TIMEOUT, state="online")
        self.check(online is not None, f"{m.name} reports the relay online")

    def command(self, m, line, event, **fields):
        """Sends a command and waits for its answer event (the first one after the command)."""
        count = len(m.proc.find(event, **fields))
        m.proc.send(line)
        found = m.proc.wait_for(lambda p: len(p.find(event, **fields)) > count, STEP_TIMEOUT)
        errors = [e.data.get("message") for e in m.proc.find("error")][-3:]
        self.check(found, f"{m.name}: '{line[:60]}' answered with a '{event}' event (errors: {errors})")
        return m.proc.find(event, **fields)[count]

    # -- scenario ------------------------------------------------------------------------------

    def member_count(self, m):
        event = self.command(m, f"/group members {self.group[:12]}", "members")
        return len(event.data.get("members", []))

    def wait_members(self):
        deadline = time.monotonic() + JOIN_TIMEOUT
        for m in self.members:
            count = 0
            while time.monotonic() < deadline:
                count = self.member_count(m)
                if count == 4:
                    break
                time.sleep(1.0)
            self.check(count == 4, f"{m.name}: /group members lists 4 members ({count})")

    def write(self, writers, round_name):
        """Each writer sends 3 messages; returns [(writer, text, t)]."""
        sent = []
        for i in range(1, 4):
            for m in writers:
                text = f"netlab-group-{round_name}-{m.name}-{i}-{secrets.token_hex(3)}"
                event = self.command(m, f"/msg #{self.group[:12]} {text}", "sent", group=self.group, text=text)
                sent.append({"writer": m, "text": text, "t": event.t, "seq": event.data.get("seq")})
        return sent

    def arrived(self, sent, receivers, timeout):
        deadline = time.monotonic() + timeout
        latency = []
        for s in sent:
            for r in receivers:
                if r is s["writer"]:
                    continue
                got = r.proc.wait_event("message", max(0.0, deadline - time.monotonic()), text=s["text"])
                self.check(got is not None, f"'{s['text']}' reached {r.name}")
                self.check(got.data.get("group") == self.group and got.data.get("from") == s["writer"].id
                           and got.data.get("seq") == s["seq"], f"{r.name}: group, author and sequence of '{s['text']}'")
                latency.append(got.t - s["t"])
        time.sleep(SETTLE)
        for s in sent:
            for r in receivers:
                if r is not s["writer"]:
                    count = len(r.proc.find("message", text=s["text"]))
                    self.check(count == 1, f"'{s['text']}' arrived once at {r.name} ({count})")
        return latency

    def name_of(self, peer_id):
        return next((m.name for m in self.members if m.id == peer_id), peer_id)

    def converse(self):
        print("step 3: every member writes 3 messages to the group", flush=True)
        sent = self.write(self.members, "all")
        self.sent += sent
        latency = self.arrived(sent, self.members, MESSAGE_TIMEOUT)
        self.results["message_ms"] = stats([ms(x) for x in latency])
        self.note(f"message to each member: {self.results['message_ms']}")

    def away_and_back(self):
        print("step 4: c1 quits; a1, a2, b1 write; b1 quits; c1 comes back and catches up across the NATs", flush=True)
        b1, c1 = self.member("b1"), self.member("c1")
        c1.proc.send("/quit")
        self.check(c1.proc.wait(10) == 0, "c1 exits with 0 on /quit")
        present = [m for m in self.members if m is not c1]
        sent = self.write(present, "away")
        self.sent += sent
        self.arrived(sent, present, MESSAGE_TIMEOUT)
        # One of the authors goes too: what c1 missed (b1's messages included) must come from
        # a1 or a2, across the NATs.
        b1.proc.send("/quit")
        self.check(b1.proc.wait(10) == 0, "b1 exits with 0 on /quit")
        t_back = time.monotonic()
        self.start(c1)
        deadline = time.monotonic() + CATCHUP_TIMEOUT
        for s in sent:
            got = c1.proc.wait_event("message", max(0.0, deadline - time.monotonic()), text=s["text"])
            self.check(got is not None, f"c1 caught up with '{s['text']}'")
        self.results["catchup_ms"] = ms(max(e.t for e in c1.proc.find("message")) - t_back)
        paths = sorted({e.data.get("path") for e in c1.proc.find("peer") if e.data.get("path")})
        self.results["catchup_paths"] = paths
        self.note(f"c1 had all 9 missed messages {self.results['catchup_ms']} ms after its restart "
                  f"(sessions of c1: paths {paths})")
        self.check(c1.proc.first("peer", id=b1.id, state="connected") is None, "c1 caught up without b1")
        for writer in present:
            seqs = [e.data.get("seq") for e in c1.proc.find("message", **{"from": writer.id})]
            self.check(seqs == sorted(seqs) and len(seqs) == 3, f"c1 got {writer.name}'s messages in its order ({seqs})")
        self.start(b1)

    def same_history(self):
        print("step 5: /group history: the same messages, each author's in the order it wrote them, everywhere", flush=True)
        written = {}
        for s in self.sent:
            written.setdefault(s["writer"].id, []).append((s["seq"], s["text"]))
        for author, messages in written.items():
            seqs = [seq for seq, _ in messages]
            self.check(seqs == list(range(1, len(seqs) + 1)),
                       f"{self.name_of(author)} wrote with sequences 1..{len(seqs)} ({seqs})")
        orders = {}
        for m in self.members:
            event = self.command(m, f"/group history {self.group[:12]} 100", "history", group=self.group)
            per_author = {}
            for message in event.data.get("messages", []):
                per_author.setdefault(message["from"], []).append((message["seq"], message["text"]))
            orders[m.name] = per_author
            total = sum(len(v) for v in per_author.values())
            self.check(total == 21, f"{m.name}'s history holds the 21 messages ({total})")
        for name, per_author in orders.items():
            self.check(per_author == written,
                       f"{name}'s history: every author's messages, in the order the author wrote them")

    def group_file(self):
        print(f"step 6: b1 shares a {FILE_MIB} MiB file with the group; a1, a2 and c1 each accept it", flush=True)
        b1 = self.member("b1")
        receivers = [m for m in self.members if m is not b1]
        data = os.urandom(FILE_MIB << 20)
        sha = hashlib.sha256(data).hexdigest()
        source = os.path.join(self.work, "crew-notes.bin")
        with open(source, "wb") as f:
            f.write(data)
        t0 = time.monotonic()
        b1.proc.send(f"/send #{self.group[:12]} {source}")
        deadline = t0 + FILE_TIMEOUT
        for m in receivers:
            offer = m.proc.wait_event("transfer", max(0.0, deadline - time.monotonic()), state="offered", direction="in",
                                      group=self.group)
            self.check(offer is not None and offer.data.get("peer") == b1.id and offer.data.get("sha256") == sha
                       and offer.data.get("size") == len(data) and not offer.data.get("request"),
                       f"{m.name} gets b1's offer of the group's file, marked with the group, not as a request")
            m.transfer = offer.data["id"]
            m.proc.send(f"/accept-file {m.transfer[:8]}")
        arrival = {}
        for m in receivers:
            done = m.proc.wait_event("transfer", max(0.0, deadline - time.monotonic()), id=m.transfer, state="complete")
            self.check(done is not None, f"{m.name}: the group's file is complete")
            local = done.data.get("path", "")
            with open(local, "rb") as f:
                on_disk = hashlib.sha256(f.read()).hexdigest()
            self.check(on_disk == sha, f"{m.name}: {os.path.basename(local)} has the offered SHA-256 ({on_disk[:16]}…)")
            arrival[m.name] = ms(done.t - t0)
        ids = {m.transfer for m in receivers}
        self.check(len(ids) == len(receivers), "one transfer per member")
        stats_event = self.command(b1, "/files", "files")
        sent = [t for t in stats_event.data.get("transfers", []) if t.get("id") in ids]
        self.check(stats_event.data.get("stats", {}).get("files_hashed") == 1
                   and len(sent) == len(receivers) and all(t.get("state") == "complete" and t.get("group") == self.group
                                                           for t in sent),
                   f"b1 read the file once for the {len(receivers)} members (files_hashed "
                   f"{stats_event.data.get('stats', {}).get('files_hashed')}); each member's transfer complete")
        self.results["group_file_ms"] = arrival
        self.note(f"the group's file was complete at each member after: {arrival} ms")

    def shutdown(self):
        print("step 7: /quit", flush=True)
        for m in self.members:
            m.proc.send("/quit")
        codes = {m.name: m.proc.wait(10) for m in self.members}
        self.check(all(code == 0 for code in codes.values()), f"instances exit with 0 on /quit {codes}")
        self.relay_proc.kill(signal.SIGTERM)
        self.check(self.relay_proc.wait(10) == 0, "crosschat-relay exits with 0 on SIGTERM")

    def run(self):
        self.build()
        self.start_relay()
        print("step 1: crosschat on a1, a2, b1, c1 with --relay", flush=True)
        for m in self.members:
            self.start(m)
        print("step 2: a1 creates the group and invites a2, b1, c1; each accepts", flush=True)
        a1 = self.member("a1")
        created = self.command(a1, "/group create netlab-crew", "group", kind="created")
        self.group = created.data.get("group")
        self.check(isinstance(self.group, str) and len(self.group) == 64, f"group ID {self.group}")
        t0 = time.monotonic()
        for m in self.members[1:]:
            self.command(a1, f"/group invite {self.group} {m.id}", "group", kind="inviting", peer=m.id)
        for m in self.members[1:]:
            invited = m.proc.wait_event("group", JOIN_TIMEOUT, kind="invited", group=self.group)
            self.check(invited is not None and invited.data.get("peer") == a1.id,
                       f"{m.name} gets a1's invitation as a request (kind 'invited')")
            groups = self.command(m, "/groups", "groups")
            state = [g.get("state") for g in groups.data.get("groups", []) if g.get("id") == self.group]
            self.check(state == ["invited"], f"{m.name} is not a member before it accepts ({state})")
            m.proc.send(f"/group accept {self.group[:12]}")
        join_ms = {}
        for m in self.members[1:]:
            joined = m.proc.wait_event("group", JOIN_TIMEOUT, kind="joined", group=self.group)
            self.check(joined is not None, f"{m.name} joined (kind 'joined')")
            join_ms[m.name] = ms(joined.t - t0)
        self.results["join_ms"] = join_ms
        self.note(f"joined after the invitations: {join_ms} ms")
        self.wait_members()
        self.converse()
        self.away_and_back()
        self.same_history()
        self.group_file()
        self.shutdown()

    def close(self):
        self.lab.close()
        self.checks.append({"check": "no lab namespace left", "passed": not self.lab.leftovers()})
        self.checks.append({"check": "root namespace interfaces unchanged",
                            "passed": netlab.root_interfaces() == self.root_before})
        for c in self.checks[-2:]:
            print(("  ok    " if c["passed"] else "  FAIL  ") + "cleanup: " + c["check"], flush=True)
        return all(c["passed"] for c in self.checks[-2:])

    def dump_logs(self):
        for m in self.members:
            if not m.proc:
                continue
            print(f"--- {m.name} stderr (last lines) ---")
            for line in m.proc.stderr_tail(15):
                print("    " + line)
            print(f"--- {m.name} last events ---")
            for e in m.proc.find()[-10:]:
                print("    " + json.dumps(e.data)[:300])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True)
    parser.add_argument("--relay-bin", required=True)
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose")
    args = parser.parse_args()

    code = netlab.preflight("group lab", ["nft"], [("--crosschat", args.crosschat), ("--relay-bin", args.relay_bin)])
    if code is not None:
        return code
    args.crosschat, args.relay_bin = os.path.abspath(args.crosschat), os.path.abspath(args.relay_bin)

    def on_alarm(_signum, _frame):
        raise Deadline(f"the lab ran longer than {DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    work = tempfile.mkdtemp(prefix="crosschat-grouplab.")
    lab = GroupLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.run()
    except (netlab.CheckFailed, Deadline, netlab.LabError) as exc:
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
    r = lab.results
    print()
    print("summary:")
    if "join_ms" in r:
        print(f"  joined              {r['join_ms']} ms after the invitations")
    if "message_ms" in r:
        print(f"  message to a member {r['message_ms']}")
    if "catchup_ms" in r:
        print(f"  catch-up            c1 had the 9 missed messages {r['catchup_ms']} ms after its restart")
    print(f"  checks              {sum(c['passed'] for c in lab.checks)} passed, "
          f"{sum(not c['passed'] for c in lab.checks)} failed; {r['seconds']} s")
    if args.keep:
        print(f"  work dir            {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-group:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
