#!/usr/bin/env python3
#
# test-readme.py — the README's example output is what crosschat prints today
# (CTest: crosschat-readme).
#
# Usage: test-readme.py <path to crosschat> <README.md> [<path to crosschat-relay>] [--print]
#
# Each checked block in the README is a fenced code block right after a marker line
#     <!-- readme-check: NAME -->
# and this script knows, for each NAME, how to produce that output: it runs the programs
# (two crosschat instances finding each other on loopback with a private discovery port,
# typing what the README says was typed; the relay stories through a crosschat-relay of
# their own on 127.0.0.1, port 0) and records their transcripts, typed lines included, as a
# terminal would show them. Both sides are normalised the same way before
# comparing: peer IDs (full, shortened "ABCDEFG-…-HIJKLMN", or the 7-character short
# form) become <ID1>, <ID2>, ... in order of appearance, message IDs <MSG1>, ..., group IDs
# (64 hex digits) <GROUPn> (the group-bob-json block: bob's group events only), times
# [HH:MM:SS], addresses <ADDR> (the first LAN datagram may come by IPv4 or IPv6), port
# numbers <PORT>, data directories <DIR>, relay URLs http://<RELAY>, the list of local
# addresses in /netinfo <ADDRS>, and in the relay's /health the uptime, the bytes relayed
# (TLS record sizes vary) and the descriptor limit (the host's). A block must appear in its
# transcript as a run of consecutive lines; JSON blocks are compared event by event (an "updated" peer event is
# left out: whether the first datagram carries every address depends on the network).
# A README line that ends its JSON with "…]" or "…}" is a shortened example: its text
# up to the "…" must start the real line.
#
# Without the relay's path the relay blocks are reported SKIPPED.
#
# With --print it prints the transcripts (to paste into the README) instead of comparing.
#
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CROSSCHAT = os.path.abspath(sys.argv[1])
README = sys.argv[2]
PRINT = "--print" in sys.argv
ARGUMENTS = [argument for argument in sys.argv[3:] if not argument.startswith("--")]
RELAY = os.path.abspath(ARGUMENTS[0]) if ARGUMENTS else None
WORK = tempfile.mkdtemp(prefix="crosschat-readme.")
LAN_PORT = 20000 + (os.getpid() * 7) % 20000
DEADLINE = 20.0


class Failure(Exception):
    pass


class Relay:
    """A crosschat-relay on 127.0.0.1, on a port it picks (its log names it)."""

    def __init__(self):
        self.log = []
        # A fresh data directory: a relay's state (records, pre-keys) outlives it.
        self.process = subprocess.Popen([RELAY, "--port=0", "--bind=127.0.0.1", "--define", "relay.eventLoops=1",
                                         "--data-dir", os.path.join(WORK, "relay-data")],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        end = time.monotonic() + DEADLINE
        self.url = None
        while self.url is None:
            for line in list(self.log):
                match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", line)
                if match:
                    self.url = match.group(1)
            if self.url is None:
                if time.monotonic() > end or self.process.poll() is not None:
                    self.stop()
                    raise Failure("crosschat-relay did not say where it listens:\n" + "\n".join(self.log))
                time.sleep(0.02)

    def _read(self):
        for line in self.process.stdout:
            self.log.append(line.rstrip("\n"))

    def health(self):
        with urllib.request.urlopen(self.url + "/health", timeout=DEADLINE) as response:
            return response.read().decode("utf-8").strip()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Program:
    """One crosschat on pipes; its transcript holds its output lines and, in the order they
    happened, the lines typed into it (as a terminal shows them)."""

    def __init__(self, name, *options, story=""):
        self.name = name
        self.transcript = []
        self.lock = threading.Lock()
        # Each story starts with new identities: the README's stories are first meetings.
        self.process = subprocess.Popen(
            [CROSSCHAT, "--name", name, "--data-dir", os.path.join(WORK, story + name), "--lan-port", str(LAN_PORT),
             "--lan-interval", "2", "--no-port-mapping", *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            with self.lock:
                self.transcript.append(line.rstrip("\n"))

    def type(self, line):
        with self.lock:
            self.transcript.append(line)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def lines(self):
        with self.lock:
            return list(self.transcript)

    def wait(self, pattern, deadline=DEADLINE):
        end = time.monotonic() + deadline
        regex = re.compile(pattern)
        while time.monotonic() < end:
            if any(regex.search(line) for line in self.lines()):
                return
            time.sleep(0.02)
        raise Failure(f"{self.name}: no line matching {pattern!r}; transcript:\n" + "\n".join(self.lines()))

    def peer_id(self):
        """The full peer ID from the banner or the ready event."""
        self.wait(r"Your peer ID: |\"event\":\"ready\"")
        for line in self.lines():
            match = re.search(r"[A-Z2-7]{7}(?:-[A-Z2-7]{7}){7}", line)
            if match:
                return match.group(0)
        raise Failure(f"{self.name}: no peer ID in " + "\n".join(self.lines()))

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait(timeout=DEADLINE)
        self.reader.join(timeout=DEADLINE)


# Normalisation -------------------------------------------------------------------------

ID_FULL = re.compile(r"\b([A-Z2-7]{7})(?:-[A-Z2-7]{7}){7}\b|\b([A-Z2-7]{7})-…-[A-Z2-7]{7}\b")
ID_SHORT = re.compile(r"\b[A-Z2-7]{7}\b")
GROUP_ID = re.compile(r"\b[0-9a-f]{64}\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
ADDRESS = re.compile(r"\[[0-9a-fA-F:.%\w]+\]:\d+|\b\d{1,3}(?:\.\d{1,3}){3}:\d+\b")
TIME = re.compile(r"\[\d\d:\d\d:\d\d\]|\b\d\d:\d\d\b")
PORTS = re.compile(r"(Chat port: |UDP port |chat port |LAN discovery port )\d+")
RELAY_URL = re.compile(r"http://[\w.-]+:\d+")
LOCAL_ADDRESSES = re.compile(r"^Local addresses: .*")
HEALTH_VARYING = re.compile(r'"(uptime_s|bytes_relayed|descriptorLimit)":"?\d+"?')


class Normaliser:
    def __init__(self):
        self.ids = {}
        self.messages = {}

    def peer(self, group):
        return self.ids.setdefault(group, f"<ID{len(self.ids) + 1}>")

    def text(self, line):
        line = UUID.sub(lambda m: self.messages.setdefault(m.group(0), f"<MSG{len(self.messages) + 1}>"), line)
        line = GROUP_ID.sub(lambda m: self.messages.setdefault(m.group(0), f"<GROUP{len(self.messages) + 1}>"), line)
        line = ID_FULL.sub(lambda m: self.peer(m.group(1) or m.group(2)), line)
        line = ID_SHORT.sub(lambda m: self.peer(m.group(0)), line)
        line = RELAY_URL.sub("http://<RELAY>", line)
        line = LOCAL_ADDRESSES.sub("Local addresses: <ADDRS>", line)
        line = ADDRESS.sub("<ADDR>", line)
        line = TIME.sub("[HH:MM:SS]", line)
        line = PORTS.sub(lambda m: m.group(1) + "<PORT>", line)
        return line

    def event(self, event):
        result = {}
        for key, value in event.items():
            if key in ("port", "lan_port"):
                value = 0
            elif key == "ts":
                value = 0
            elif key == "data_dir":
                value = "<DIR>"
            elif key in ("addresses", "local"):
                value = ["<ADDR>"] if value else []
            elif key in ("address", "reflexive"):
                value = "<ADDR>" if value else ""
            elif key == "peers" and isinstance(value, list):
                value = [self.event(peer) for peer in value]
            elif isinstance(value, dict):
                value = self.event(value)
            elif isinstance(value, str):
                value = self.text(value)
            result[key] = value
        return result


def swap_departures(lines):
    """A peer that quits says goodbye on the LAN and closes the session; the two arrive in
    either order. Put "left" before "disconnected" (JSON: "lost" before "disconnected")."""
    result = list(lines)
    for i in range(len(result) - 1):
        a, b = result[i], result[i + 1]
        if ("* disconnected from" in a and b.endswith(" left")) or \
                ('"state":"disconnected"' in a and '"state":"lost"' in b):
            result[i], result[i + 1] = b, a
    return result


# The README ----------------------------------------------------------------------------

def readme_blocks():
    blocks = {}
    lines = open(README, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        match = re.match(r"<!-- readme-check: ([\w-]+) -->", lines[i].strip())
        if match:
            # (a block in a list item is indented like the marker)
            if not lines[i + 1].strip().startswith("```"):
                raise Failure(f"README line {i + 2}: a code block must follow the marker {match.group(1)}")
            end = i + 2
            while not lines[end].strip().startswith("```"):
                end += 1
            blocks[match.group(1)] = (i + 3, lines[i + 2:end])
            i = end
        i += 1
    return blocks


def check_text(name, readme_lines, transcript):
    """The block is a run of consecutive transcript lines; placeholders are numbered within
    the run, as in the block (an excerpt numbers its IDs from its own first line)."""
    n = Normaliser()
    want = [n.text(line) for line in readme_lines]
    raw = swap_departures(transcript)
    for start in range(len(raw) - len(want) + 1):
        m = Normaliser()
        if [m.text(line) for line in raw[start:start + len(want)]] == want:
            return
    m = Normaliser()
    have = [m.text(line) for line in raw]
    raise Failure(f"README block {name} is not what crosschat prints.\nREADME (normalised):\n  "
                  + "\n  ".join(want) + "\ncrosschat printed (normalised):\n  " + "\n  ".join(have))


def check_json(name, readme_lines, transcript):
    n = Normaliser()
    want = []
    for line in readme_lines:
        event = json.loads(line)
        if not (event.get("event") == "peer" and event.get("state") == "updated"):
            want.append(n.event(event))
    m = Normaliser()
    have = []
    for line in swap_departures(transcript):
        event = json.loads(line)
        if not (event.get("event") == "peer" and event.get("state") == "updated"):
            have.append(m.event(event))
    if want != have:
        raise Failure(f"README block {name} is not what crosschat --json prints.\nREADME (normalised):\n  "
                      + "\n  ".join(json.dumps(e) for e in want) + "\ncrosschat printed (normalised):\n  "
                      + "\n  ".join(json.dumps(e) for e in have))


def check_lines(name, readme_lines, produced):
    """Each README line against the produced line of the same kind (shortened lines by prefix)."""
    n = Normaliser()
    m = Normaliser()
    for wanted, real in zip(readme_lines, produced):
        w, r = n.text(wanted), m.text(real)
        shortened = re.search(r"…[\]}]+$", w)
        if shortened:
            prefix = w[:shortened.start()]
            if not r.startswith(prefix):
                raise Failure(f"README block {name}: {wanted!r}\nis not the start of what crosschat prints:\n{real!r}")
        elif w != r:
            raise Failure(f"README block {name}:\n  README:    {w}\n  crosschat: {r}")
    if len(readme_lines) != len(produced):
        raise Failure(f"README block {name} has {len(readme_lines)} lines, the check produced {len(produced)}")


# Scenarios -----------------------------------------------------------------------------

def lan_story(json_mode):
    """Two terminals, no configuration: alice and bob on one host."""
    options = ["--json"] if json_mode else []
    story = "json-" if json_mode else "text-"
    alice = Program("alice", *options, story=story)
    bob = Program("bob", *options, story=story)
    try:
        found = r'"state":"found".*"name":"%s"' if json_mode else r"^\* %s \([A-Z2-7]{7}\) is here"
        alice.wait(found % "bob")
        bob.wait(found % "alice")
        if json_mode:
            alice.type("/whoami")
            alice.wait(r'"event":"whoami"')
            alice.type("/peers")
            alice.wait(r'"event":"peers"')
        alice.type("/msg bob hello bob")
        alice.wait(r'"event":"delivered"' if json_mode else r"✓ delivered to bob")
        bob.wait(r'"text":"hello bob"' if json_mode else r"alice: hello bob")
        bob.type("hi alice")
        bob.wait(r'"event":"delivered"' if json_mode else r"✓ delivered to alice")
        alice.wait(r'"text":"hi alice"' if json_mode else r"bob: hi alice")
        if not json_mode:
            alice.type("/peers")
            alice.wait(r"via lan")
        alice.type("/quit")
        alice.close()
        bob.wait(r'"state":"disconnected"' if json_mode else r"disconnected from alice")
        bob.wait(r'"state":"lost"' if json_mode else r"alice \([A-Z2-7]{7}\) left")
        if json_mode:
            bob.close()   # end of input: bye
        else:
            bob.type("/quit")
            bob.close()
        alice_lines = [line for line in alice.lines() if not (json_mode and not line.startswith("{"))]
        bob_lines = [line for line in bob.lines() if not (json_mode and not line.startswith("{"))]
        return alice_lines, bob_lines
    finally:
        for program in (alice, bob):
            if program.process.poll() is None:
                program.process.kill()


def relay_story(json_mode):
    """Across networks: alice and bob meet only through a relay (no LAN, no hole punching,
    so the conversation stays on the relay's tunnel); bob writes to alice's full peer ID.
    Returns alice's and bob's transcripts and the relay's /health while the tunnel is up."""
    relay = Relay()
    options = ["--relay", relay.url, "--no-lan", "--no-hole-punching"] + (["--json"] if json_mode else [])
    story = "relay-json-" if json_mode else "relay-text-"
    alice = bob = None
    try:
        online = r'"event":"relay","state":"online"' if json_mode else r"^\* connected to relay "
        alice = Program("alice", *options, story=story)
        alice.wait(online)
        bob = Program("bob", *options, story=story)
        bob.wait(online)
        bob.type(f"/msg {alice.peer_id()} hello alice")
        bob.wait(r'"event":"delivered"' if json_mode else r"✓ delivered to alice")
        alice.wait(r'"text":"hello alice"' if json_mode else r"bob: hello alice")
        alice.type("hi bob")
        alice.wait(r'"event":"delivered"' if json_mode else r"✓ delivered to bob")
        bob.wait(r'"text":"hi bob"' if json_mode else r"alice: hi bob")
        bob.type("/peers")
        bob.wait(r'"event":"peers"' if json_mode else r"via relay  connected")
        health = relay.health()
        if not json_mode:
            alice.type("/netinfo")
            alice.wait(r"^Port mapping: ")
        alice.type("/quit")
        alice.close()
        bob.wait(r'"state":"disconnected"' if json_mode else r"disconnected from alice")
        if json_mode:
            bob.close()
        else:
            bob.type("/quit")
            bob.close()
        alice_lines = [line for line in alice.lines() if not (json_mode and not line.startswith("{"))]
        bob_lines = [line for line in bob.lines() if not (json_mode and not line.startswith("{"))]
        return alice_lines, bob_lines, health
    finally:
        for program in (alice, bob):
            if program is not None and program.process.poll() is None:
                program.process.kill()
        relay.stop()


def upgrade_story():
    """The same through a relay with hole punching on: on loopback the conversation moves
    to a direct path once both have written. Returns alice's netinfo event and the first
    path event bob prints."""
    relay = Relay()
    options = ["--relay", relay.url, "--no-lan", "--json"]
    alice = bob = None
    try:
        alice = Program("alice", *options, story="upgrade-")
        alice.wait(r'"event":"relay","state":"online"')
        bob = Program("bob", *options, story="upgrade-")
        bob.wait(r'"event":"relay","state":"online"')
        bob.type(f"/msg {alice.peer_id()} hello alice")
        alice.wait(r'"text":"hello alice"')
        alice.type("hi bob")
        bob.wait(r'"text":"hi bob"')
        bob.wait(r'"event":"path"')
        alice.type("/netinfo")
        alice.wait(r'"event":"netinfo"')
        netinfo = next(line for line in alice.lines() if '"event":"netinfo"' in line)
        path = next(line for line in bob.lines() if '"event":"path"' in line)
        alice.type("/quit")
        bob.type("/quit")
        alice.close()
        bob.close()
        return [netinfo, path]
    finally:
        for program in (alice, bob):
            if program is not None and program.process.poll() is None:
                program.process.kill()
        relay.stop()


def check_health(name, readme_lines, health):
    """The wrapped /health example: its text up to the "…" starts the real answer (uptime,
    bytes relayed and the descriptor limit normalised)."""
    want = "".join(line.strip() for line in readme_lines)
    have = json.dumps(json.loads(health), separators=(",", ":"), ensure_ascii=False)
    want, have = HEALTH_VARYING.sub(r'"\1":N', want), HEALTH_VARYING.sub(r'"\1":N', have)
    prefix = want.split("…")[0]
    if not have.startswith(prefix):
        raise Failure(f"README block {name} is not what crosschat-relay answers on /health:\n  README:        {prefix}\n"
                      f"  crosschat-relay: {have}")


def other_events():
    """The lines of the "Other events look like this" block, one of each."""
    produced = []
    peer = Program("alice", "--json")
    bob = Program("bob", "--json")
    try:
        peer.wait(r'"state":"found".*"name":"bob"')
        peer.type("/msg bob")
        peer.wait(r'"event":"conversation"')
        peer.type("/help")
        peer.wait(r'"event":"help"')
        peer.type("/msg nobody")
        peer.wait(r"no peer matches")
        peer.type("/quit")
        peer.close()
        bob.close()
        for kind in ('"event":"conversation"', '"event":"help"', '"event":"error"'):
            produced.append(next(line for line in peer.lines() if kind in line))
    finally:
        for program in (peer, bob):
            if program.process.poll() is None:
                program.process.kill()
    # A chat port that is taken: 4000 if free, as in the README (normalised anyway).
    import socket
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("0.0.0.0", 4000))
    except OSError:
        holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    result = subprocess.run([CROSSCHAT, "--json", "--data-dir", os.path.join(WORK, "carol"), "--port", str(port),
                             "--no-lan", "--no-port-mapping"], input="", capture_output=True, text=True, timeout=DEADLINE)
    holder.close()
    produced.append(next(line for line in result.stdout.split("\n") if '"fatal":true' in line))
    # A relay that is not there.
    dave = subprocess.Popen([CROSSCHAT, "--json", "--data-dir", os.path.join(WORK, "dave"), "--no-lan", "--no-port-mapping",
                             "--relay", "http://127.0.0.1:1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in dave.stdout:
        if '"state":"offline"' in line:
            produced.append(line.rstrip("\n"))
            break
    dave.stdin.close()
    dave.stdout.read()
    dave.wait(timeout=DEADLINE)
    return produced


def group_story():
    """bob's group events: alice founds a group on the LAN, invites bob, bob accepts, alice
    writes to it. The events the README shows: the invitation, the join, the message."""
    alice = Program("alice", "--json", story="group-")
    bob = Program("bob", "--json", story="group-")
    try:
        alice.wait(r'"state":"found".*"name":"bob"')
        alice.type("/group create netlab-crew")
        alice.wait(r'"kind":"created"')
        alice.type("/group invite netlab-crew bob")
        bob.wait(r'"kind":"invited"')
        bob.type("/group accept netlab-crew")
        bob.wait(r'"kind":"joined"')
        alice.type("/msg #netlab-crew Saturday at 9?")
        bob.wait(r'"text":"Saturday at 9\?"')
        alice.type("/quit")
        alice.close()
        bob.close()
        shown = ('"kind":"invited"', '"kind":"joined"', '"groupName":"netlab-crew"')
        return [line for line in bob.lines() if line.startswith("{") and any(kind in line for kind in shown)]
    finally:
        for program in (alice, bob):
            if program.process.poll() is None:
                program.process.kill()


def screen_story():
    """The full-screen example: alice in tmux (80x14), bob in line mode on a pipe. Returns
    the lines of alice's screen, or None without tmux."""
    import shutil
    if shutil.which("tmux") is None:
        return None
    socket_name = f"crosschat-readme-{os.getpid()}"

    def tmux(*args):
        return subprocess.run(["tmux", "-L", socket_name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=True).stdout

    def screen():
        return tmux("capture-pane", "-p", "-t", "alice")

    def wait(text):
        end = time.monotonic() + DEADLINE
        while text not in screen():
            if time.monotonic() > end:
                raise Failure(f"full-screen alice: no {text!r} on the screen:\n{screen()}")
            time.sleep(0.05)

    bob = Program("bob")
    command = (f"LANG=C.UTF-8 {CROSSCHAT} --name alice --data-dir {os.path.join(WORK, 'alice')} "
               f"--lan-port {LAN_PORT} --lan-interval 2 --no-port-mapping; sleep 600")
    tmux("new-session", "-d", "-s", "alice", "-x", "80", "-y", "14", command)
    tmux("set-option", "-t", "alice", "status", "off")
    try:
        wait("* bob (")
        tmux("send-keys", "-t", "alice", "-l", "/msg bob hello bob")
        tmux("send-keys", "-t", "alice", "Enter")
        wait("-> bob: hello bob")   # window 2 exists from here on
        tmux("send-keys", "-t", "alice", "M-2")
        wait("<alice> hello bob \u2713")
        bob.wait("alice: hello bob")
        bob.type("hi alice")
        wait("<bob> hi alice")
        bob.type("/me waves")
        wait("* bob waves")
        tmux("send-keys", "-t", "alice", "-l", "how are")
        wait("[bob] how are")
        shown = screen().rstrip("\n").split("\n")
        tmux("send-keys", "-t", "alice", "C-u", "/quit", "Enter")
        bob.type("/quit")
        bob.close()
        return shown
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True)
        if bob.process.poll() is None:
            bob.process.kill()


def startup_json_error():
    result = subprocess.run([CROSSCHAT, "--json", "--port", "70000"], input="", capture_output=True, text=True, timeout=DEADLINE)
    return [line for line in result.stdout.split("\n") if line]


def main():
    blocks = readme_blocks()
    expected = {"startup-alice", "lan-alice", "lan-bob", "lan-alice-json", "lan-bob-json", "other-events",
                "startup-error-json", "screen-alice", "relay-bob", "relay-alice", "netinfo", "relay-bob-json",
                "relay-alice-json", "netinfo-path-json", "relay-health", "group-bob-json"}
    missing = expected - set(blocks)
    if missing and not PRINT:
        raise Failure(f"README lacks the checked blocks {sorted(missing)} (markers <!-- readme-check: NAME -->)")
    unknown = set(blocks) - expected
    if unknown:
        raise Failure(f"README marks blocks this test does not know how to check: {sorted(unknown)}")

    relayed_blocks = {"relay-bob", "relay-alice", "netinfo", "relay-bob-json", "relay-alice-json",
                      "netinfo-path-json", "relay-health"}
    started = time.monotonic()
    alice, bob = lan_story(False)
    alice_json, bob_json = lan_story(True)
    others = other_events()
    group = group_story()
    startup = startup_json_error()
    screen = screen_story()
    relayed = None
    if RELAY is not None:
        relay_alice, relay_bob, health = relay_story(False)
        relay_alice_json, relay_bob_json, _ = relay_story(True)
        upgrade = upgrade_story()
        relayed = (("relay-alice", relay_alice), ("relay-bob", relay_bob), ("relay-alice-json", relay_alice_json),
                   ("relay-bob-json", relay_bob_json), ("netinfo-path-json", upgrade), ("relay-health", [health]))
    if PRINT:
        print("== screen-alice")
        print("\n".join(screen or ["(no tmux)"]))
        for title, lines in (("lan-alice", alice), ("lan-bob", bob), ("lan-alice-json", alice_json),
                             ("lan-bob-json", bob_json), ("other-events", others), ("startup-error-json", startup),
                             ("group-bob-json", group),
                             *(relayed or ())):
            print(f"== {title}")
            print("\n".join(lines))
        return
    check_text("startup-alice", blocks["startup-alice"][1], alice)
    check_text("lan-alice", blocks["lan-alice"][1], alice)
    check_text("lan-bob", blocks["lan-bob"][1], bob)
    check_json("lan-alice-json", blocks["lan-alice-json"][1], alice_json)
    check_json("lan-bob-json", blocks["lan-bob-json"][1], bob_json)
    check_lines("other-events", blocks["other-events"][1], others)
    check_lines("startup-error-json", blocks["startup-error-json"][1], startup)
    check_json("group-bob-json", blocks["group-bob-json"][1], group)
    if screen is None:
        skipped += 1
        print("screen-alice: SKIPPED (no tmux; scripts/deps.sh installs it)")
    else:
        check_text("screen-alice", blocks["screen-alice"][1], screen)
    skipped = 0
    if relayed is None:
        skipped = len(relayed_blocks)
        print(f"relay blocks {sorted(relayed_blocks)}: SKIPPED (no crosschat-relay given)")
    else:
        check_text("relay-bob", blocks["relay-bob"][1], relay_bob)
        check_text("relay-alice", blocks["relay-alice"][1], relay_alice)
        check_text("netinfo", blocks["netinfo"][1], relay_alice)
        check_json("relay-bob-json", blocks["relay-bob-json"][1], relay_bob_json)
        check_json("relay-alice-json", blocks["relay-alice-json"][1], relay_alice_json)
        check_json("netinfo-path-json", blocks["netinfo-path-json"][1], upgrade)
        check_health("relay-health", blocks["relay-health"][1], health)
    print(f"PASS: {len(blocks) - skipped} README blocks match, {skipped} skipped ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        import shutil
        shutil.rmtree(WORK, ignore_errors=True)
