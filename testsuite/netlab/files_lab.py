#!/usr/bin/env python3
"""files_lab.py — a 100 MiB file across two NATs, the receiver killed (SIGKILL) mid-transfer and
restarted, chat measured during the transfer (CTest: netlab-files).

Usage: files_lab.py --crosschat PATH --relay-bin PATH [--size-mib N] [--rate-mbit N]
                    [--results FILE] [--keep] [--verbose]

Topology (every node a network namespace; nothing touches the root namespace):

    "internet" 203.0.113.0/24: relay 203.0.113.10, router ra 203.0.113.1, router rb 203.0.113.2
    LAN A 192.168.1.0/24 behind ra (EIM NAT, unsolicited inbound dropped): sender a .11
    LAN B 192.168.2.0/24 behind rb (EIM NAT, unsolicited inbound dropped): receiver b .11

crosschat-relay on the relay host; crosschat --json --relay URL --lan-interval 1
--no-port-mapping on a and b (b with --downloads DIR). rb's LAN port toward b is shaped to
--rate-mbit (default 240 Mbit/s, a token bucket) so that the transfer lasts a few seconds and the
kill lands in its middle whatever the machine's speed; nothing else is shaped.

Steps (each wait bounded):
  1. a writes to b by full peer ID (through the relay), b replies: contacts; the path goes
     direct after hole punching (reported; the lab continues on whatever path they have);
  2. baseline: CHAT_SAMPLES messages a -> b and b -> a, one every CHAT_GAP s, no transfer:
     latency from the /msg write to the receiver's "message" event;
  3. a generates a random file of --size-mib MiB in its work dir; /send b <path>; b sees the
     offer (a "transfer" event, state "offered") and /accept-file <id>;
  4. during the transfer chat messages both ways every CHAT_GAP s; b's "transfer" events with
     "progress":true show bytes growing, a rate and an ETA; when b reports >= KILL_AT of the
     file verified, b is killed with SIGKILL;
  5. b's downloads hold the .part file; b is restarted from its data directory: its first
     transfer event resumes at >= the bytes it had reported verified before the kill (blocks
     verified before the kill are kept);
  6. the transfer completes at both ends; the file at b has the offered SHA-256 (computed here
     from the bytes on disk) and the right size, no .part file is left;
  7. /files counters: b after the restart received no more than the bytes it still lacked
     (+ RESEND_SLACK_BLOCKS blocks for a stalled round, + the corrupted block), a sent the file
     once plus at most the window in flight at the kill (+ the corrupted block); no refused input;
     the corrupted block (a runs with the test hook crosschat.test.corrupt-block = the block at
     CORRUPT_AT of the file, in a --config-file: one bit of it flipped once before encryption,
     after b's restart) was caught by b's per-block SHA-256 check (blocks_corrupt 1) and fetched
     again — the file's SHA-256 in step 6 is the offered one;
  8. every chat message sent during the transfer arrived exactly once, each within
     CHAT_BOUND s (latencies during vs without the transfer are reported);
  9. a is restarted full screen inside tmux (its own server socket, killed at the end) and
     sends the file again; b accepts; tmux capture-pane of a's window for b shows the progress
     bar ("[#####-----] 27% 27.6 MiB of 100.0 MiB, 28.9 MB/s, 0:03 left") in at least two
     states; the second copy arrives verified under a free name ("a-file (1).bin").
Runs in ~17 s.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no nft or tc; step 9 is skipped
without tmux).
"""
import argparse
import hashlib
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
from netlab import ms, stats  # noqa: E402
from attack_lab import Deadline, Scenario, STEP_TIMEOUT  # noqa: E402

RELAY = "203.0.113.10"
DEADLINE = 110            # seconds for the whole run (CTest's TIMEOUT is 150)
DIRECT_WITHIN = 20.0      # seconds for the upgrade to direct after the reply
KILL_AT = 0.35            # b is killed once it reports this share of the file verified
CHAT_SAMPLES = 8          # baseline messages per direction
CHAT_GAP = 0.25           # seconds between chat messages
CHAT_BOUND = 1.0          # seconds: every message during the transfer arrives within this
TRANSFER_TIMEOUT = 45.0   # seconds for each half of the transfer
RESEND_SLACK_BLOCKS = 4   # blocks a restarted round may fetch twice (a stall)
MAX_WINDOW_BYTES = 32 << 20   # TransferWindow::Limits::maximum: what may be in flight at the kill
DOWNLOAD_MEMORY_BYTES = 256 << 20   # TransferConfig::downloadMemory (crosschat.files.download-memory) default
CORRUPT_AT = 0.75         # the test hook corrupts the block at this share of the file (after the kill
                          # at KILL_AT plus the window in flight: sent once, after b's restart)


def block_size_for(size):
    """TransferProtocol::blockSizeFor (Syncthing's rule): 128 KiB, doubled while the file would
    have more than 2000 blocks, at most 16 MiB."""
    block = 128 << 10
    while block < (16 << 20) and (size + block - 1) // block > 2000:
        block *= 2
    return block


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FilesScenario(Scenario):
    NAME = "files"
    DEADLINE = DEADLINE
    TOOLS = ("nft", "tc")

    def build(self):
        self.step("lab: internet 203.0.113.0/24 (relay .10); LAN A 192.168.1.0/24 behind EIM NAT ra (sender a); "
                  "LAN B 192.168.2.0/24 behind EIM NAT rb (receiver b)")
        lab = self.lab
        inet, lana, lanb = lab.add_switch("inet"), lab.add_switch("lana"), lab.add_switch("lanb")
        self.relay_host = lab.add_host("relay", inet, f"{RELAY}/24")
        self.ra = lab.add_nat_router("ra", inet, "203.0.113.1/24", lana, "192.168.1.1/24")
        self.rb = lab.add_nat_router("rb", inet, "203.0.113.2/24", lanb, "192.168.2.1/24")
        self.a = lab.add_host("a", lana, "192.168.1.11/24")
        self.a.route_add("default", via="192.168.1.1")
        self.b = lab.add_host("b", lanb, "192.168.2.11/24")
        self.b.route_add("default", via="192.168.2.1")
        self.check_isolation([self.a, self.b])
        self.check(self.a.ping(RELAY) and self.b.ping(RELAY), "lab: a and b reach the relay through their NATs", fatal=True)
        self.check(not self.a.ping("192.168.2.11", timeout=0.5), "lab: a cannot reach b's LAN address", fatal=True)
        rate = self.args.rate_mbit
        if rate > 0:
            # Egress of rb's LAN port: everything toward b (the file data) passes this bucket.
            self.rb.run(["tc", "qdisc", "add", "dev", "lan0", "root", "tbf", "rate", f"{rate}mbit",
                         "burst", "256kb", "latency", "20ms"])
            self.check(True, f"lab: rb -> b shaped to {rate} Mbit/s (tbf)")

    # -- helpers -------------------------------------------------------------------------------

    def transfer_events(self, proc, transfer_id, **fields):
        return [e for e in proc.find("transfer", id=transfer_id, **fields)]

    def files(self, chat):
        count = len(chat.proc.find("files"))
        chat.proc.send("/files")
        event = chat.proc.wait_for(lambda p: len(p.find("files")) > count, STEP_TIMEOUT)
        self.check(event is not None, f"{chat.name}: /files answers", fatal=True)
        return chat.proc.find("files")[-1].data

    def chat_once(self, sender, receiver, tag):
        """Writes one message; returns (text, t_write); the receiver's arrival is judged later."""
        text = f"{tag}-{secrets.token_hex(4)}"
        t_write = sender.proc.send(f"/msg {receiver.id} {text}")
        return text, t_write

    def latencies(self, sent, receivers):
        """sent: [(receiver chat, text, t_write)]; returns ([ms], [missing texts], {text: count})."""
        values, missing, counts = [], [], {}
        for receiver, text, t_write in sent:
            hits = [e for run in receivers[receiver.name] for e in run.find("message", text=text)]
            counts[text] = len(hits)
            if hits:
                values.append(ms(hits[0].t - t_write))
            else:
                missing.append(text)
        return values, missing, counts

    # -- the scenario --------------------------------------------------------------------------

    def run(self):
        self.build()
        self.start_relay(self.relay_host, RELAY, ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10"])
        url = f"http://{RELAY}:5000"
        common = ["--relay", url, "--lan-interval", "1", "--no-port-mapping"]
        self.downloads = os.path.join(self.work, "b-downloads")
        size = self.args.size_mib << 20
        self.corrupt_block = int(size * CORRUPT_AT) // block_size_for(size)
        a_config = os.path.join(self.work, "a.properties")
        with open(a_config, "w", encoding="utf-8") as f:
            # The sender's test hook (README, "Testing hooks"): a local setting, nothing a peer can set.
            f.write(f"crosschat.test.corrupt-block = {self.corrupt_block}\n")
        a = self.start_chat(self.chat("a", self.a, "192.168.1.11"), common + ["--config-file", a_config], wait_online=True)
        b_args = common + ["--downloads", self.downloads]
        b = self.start_chat(self.chat("b", self.b, "192.168.2.11"), b_args, wait_online=True)

        self.step("step 1: a writes to b through the relay, b replies (contacts); the path goes direct")
        hello = f"hello-{secrets.token_hex(3)}"
        t_hello, _ = self.send(a, b.id, hello)
        got = b.proc.wait_for(lambda p: p.first("message", text=hello), 30.0)
        self.check(got is not None, f"a's first message reaches b across both NATs ({got and got.data.get('path')})", fatal=True)
        t_reply, _ = self.send(b, a.id, f"reply-{secrets.token_hex(3)}")
        self.check(a.proc.wait_for(lambda p: p.first("message", **{"from": b.id}), STEP_TIMEOUT) is not None,
                   "b's reply reaches a", fatal=True)
        direct = a.proc.wait_for(lambda p: p.first("path", path="direct"), DIRECT_WITHIN)
        path = "direct" if direct else "relay"
        self.results["path"] = path
        self.results["upgrade_ms_after_reply"] = ms(direct.t - t_reply) if direct else None
        self.check(True, f"path between a and b: {path}" + (f" ({ms(direct.t - t_reply)} ms after the reply)" if direct else
                                                             " (no upgrade within 20 s: the file goes through the relay)"))

        self.step(f"step 2: baseline chat, {CHAT_SAMPLES} messages each way, one every {CHAT_GAP} s, no transfer")
        receivers = {"a": a.runs, "b": b.runs}
        baseline = []
        for i in range(CHAT_SAMPLES):
            for sender, receiver in ((a, b), (b, a)):
                text, t_write = self.chat_once(sender, receiver, f"base-{sender.name}{i}")
                baseline.append((receiver, text, t_write))
            time.sleep(CHAT_GAP)
        b.proc.wait_for(lambda p: all(p.first("message", text=t) for r, t, _ in baseline if r is b), STEP_TIMEOUT)
        a.proc.wait_for(lambda p: all(p.first("message", text=t) for r, t, _ in baseline if r is a), STEP_TIMEOUT)
        base_ms, base_missing, _ = self.latencies(baseline, receivers)
        self.results["chat_baseline_ms"] = stats(base_ms)
        self.check(not base_missing, f"baseline: {len(base_ms)} messages arrived, latency {stats(base_ms)} ms")

        self.step(f"step 3: a offers a {self.args.size_mib} MiB random file, b accepts it")
        source = os.path.join(self.work, "a-file.bin")
        digest = hashlib.sha256()
        with open(source, "wb") as f:
            for _ in range(self.args.size_mib):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        sha = digest.hexdigest()
        t_offer = a.proc.send(f"/send {b.id} {source}")
        offer = b.proc.wait_for(lambda p: p.first("transfer", state="offered", direction="in"), 30.0)
        self.check(offer is not None, f"b sees the offer ({ms(offer.t - t_offer) if offer else None} ms after /send)",
                   fatal=True)
        transfer_id = offer.data["id"]
        self.check(offer.data.get("size") == size and offer.data.get("sha256") == sha and offer.data.get("file") == "a-file.bin",
                   f"the offer names the file, its size and its SHA-256 ({offer.data.get('file')}, {offer.data.get('size')}, "
                   f"{str(offer.data.get('sha256'))[:12]}…)")
        t_accept = b.proc.send(f"/accept-file {transfer_id[:8]}")

        self.step(f"step 4: chat both ways during the transfer; b is killed (SIGKILL) at >= {KILL_AT:.0%} verified")
        during = []
        first_b = b.proc
        killed_at = None
        for _ in range(int(TRANSFER_TIMEOUT / CHAT_GAP)):
            progress = [e for e in first_b.find("transfer", id=transfer_id) if e.data.get("progress")]
            if progress and progress[-1].data.get("bytes", 0) >= KILL_AT * size:
                killed_at = progress[-1]
                break
            if not first_b.alive:
                break
            for sender, receiver in ((a, b), (b, a)):
                text, t_write = self.chat_once(sender, receiver, f"during1-{sender.name}")
                during.append((receiver, text, t_write))
            time.sleep(CHAT_GAP)
        self.check(killed_at is not None, f"b reports progress past {KILL_AT:.0%} within {TRANSFER_TIMEOUT:.0f} s", fatal=True)
        # Let the messages written just before the kill arrive before it (they are judged below).
        last_texts = [t for r, t, _ in during[-2:]]
        for chat_proc in (first_b, a.proc):
            chat_proc.wait_for(lambda p: all(any(run.first("message", text=t) for run in receivers[r.name])
                                             for r, t, _ in during[-2:]), 2.0)
        progress = [e for e in first_b.find("transfer", id=transfer_id) if e.data.get("progress")]
        verified_before = progress[-1].data.get("bytes", 0)
        t_kill = first_b.kill(signal.SIGKILL)
        self.check(first_b.wait(5) is not None, "b is gone after SIGKILL")
        self.results["killed_at_bytes"] = verified_before
        progress_events = [e.data for e in progress]
        rates = [d.get("rate", 0) for d in progress_events]
        self.results["progress_events_before_kill"] = len(progress_events)
        self.check(len(progress_events) >= 2 and all(d.get("bytes", 0) <= size for d in progress_events)
                   and sorted(d.get("bytes", 0) for d in progress_events) == [d.get("bytes", 0) for d in progress_events]
                   and max(rates) > 0 and any("eta" in d for d in progress_events),
                   f"b's progress events: {len(progress_events)} before the kill, bytes rising to {verified_before} "
                   f"({verified_before / size:.0%}), rate up to {max(rates) / 1e6:.1f} MB/s, with an ETA")
        parts = [n for n in os.listdir(self.downloads) if n.endswith(".part")] if os.path.isdir(self.downloads) else []
        self.check(len(parts) == 1, f"b's downloads hold the partial file ({parts})")
        a_progress = [e for e in a.proc.find("transfer", id=transfer_id) if e.data.get("progress")]
        self.check(bool(a_progress), f"a reports progress too ({len(a_progress)} events)")
        del last_texts

        self.step("step 5: b restarts from its data directory and the transfer resumes")
        t_restart = time.monotonic()
        self.start_chat(b, b_args)
        # Before new data: the store's record, then the blocks found in the .part that were verified
        # after the last checkpoint (IncomingTransfer recovers them by their hashes).
        started = b.proc.wait_for(lambda p: next((e for e in p.find("transfer", id=transfer_id)
                                                  if e.data.get("progress") or e.data.get("state") == "complete"), None),
                                  STEP_TIMEOUT)
        before_data = [e for e in b.proc.find("transfer", id=transfer_id) if not e.data.get("progress")]
        if started is not None:
            before_data = [e for e in before_data if e.t <= started.t]
        resume_bytes = max((e.data.get("bytes", 0) for e in before_data), default=0)
        self.results["resumed_at_bytes"] = resume_bytes
        self.check(started is not None and resume_bytes >= verified_before,
                   f"after the restart b resumes from {resume_bytes} verified bytes (>= {verified_before} reported "
                   f"before the kill; {len(before_data)} events before new data)", fatal=True)

        for _ in range(int(TRANSFER_TIMEOUT / CHAT_GAP)):
            if b.proc.first("transfer", id=transfer_id, state="complete") or not b.proc.alive:
                break
            for sender, receiver in ((a, b), (b, a)):
                text, t_write = self.chat_once(sender, receiver, f"during2-{sender.name}")
                during.append((receiver, text, t_write))
            time.sleep(CHAT_GAP)

        self.step("step 6: the file arrives complete and verified")
        done = b.proc.wait_event("transfer", TRANSFER_TIMEOUT, id=transfer_id, state="complete")
        self.check(done is not None, f"b: transfer complete ({ms(done.t - t_restart) if done else None} ms after the restart)",
                   fatal=True)
        sender_done = a.proc.wait_event("transfer", STEP_TIMEOUT, id=transfer_id, state="complete")
        self.check(sender_done is not None, "a: the transfer is complete (b confirmed the whole file)")
        local = done.data.get("path", "")
        self.check(os.path.dirname(os.path.abspath(local)) == os.path.abspath(self.downloads)
                   and os.path.basename(local) == "a-file.bin", f"the file lands in --downloads as a-file.bin ({local})")
        on_disk = sha256_of(local) if os.path.isfile(local) else None
        self.check(on_disk == sha and os.path.getsize(local) == size,
                   f"the received file has the offered SHA-256 and size ({str(on_disk)[:16]}…, "
                   f"{os.path.getsize(local) if on_disk else None} bytes)")
        left = [n for n in os.listdir(self.downloads) if n.endswith(".part")]
        self.check(not left, f"no .part file left ({left})")
        total_s = (done.t - t_accept) - (t_restart - t_kill)
        self.results["transfer_s_excluding_restart"] = round(total_s, 2)
        self.results["transfer_mb_s"] = round(size / total_s / 1e6, 1)

        self.step("step 7: counters: verified blocks were not sent again")
        b_stats = self.files(b).get("stats", {})
        a_stats = self.files(a).get("stats", {})
        self.results["stats"] = {"a": a_stats, "b_after_restart": b_stats}
        lacked = size - resume_bytes
        self.check(b_stats.get("resumed", 0) >= 1, f"b resumed the transfer from its store ({b_stats.get('resumed')}; "
                   f"{b_stats.get('blocks_recovered')} blocks verified after the last checkpoint found in the .part)")
        block = block_size_for(size)
        self.check(b_stats.get("blocks_corrupt") == 1,
                   f"the block corrupted by a's test hook (block {self.corrupt_block}) failed b's SHA-256 check once and "
                   f"was fetched again (blocks_corrupt {b_stats.get('blocks_corrupt')}; the file's SHA-256 is the offered one)")
        self.check(b_stats.get("bytes_received", size + 1) <= lacked + (RESEND_SLACK_BLOCKS + 1) * block,
                   f"b after the restart received {b_stats.get('bytes_received')} bytes for the {lacked} it lacked "
                   f"(slack {RESEND_SLACK_BLOCKS} blocks and the corrupted one)")
        overhead = a_stats.get("bytes_sent", 0) - size
        self.results["sender_overhead_bytes"] = overhead
        self.check(block <= overhead <= MAX_WINDOW_BYTES + (RESEND_SLACK_BLOCKS + 1) * block,
                   f"a sent the file once, the corrupted block twice, plus {overhead - block} bytes lost in flight at the "
                   f"kill (bound: the window, {MAX_WINDOW_BYTES >> 20} MiB)")
        self.check(b_stats.get("input_refused") == 0 and a_stats.get("input_refused") == 0, "no refused transfer input")
        peak = b_stats.get("download_memory_peak", -1)
        self.results["download_memory_peak_bytes"] = peak
        self.check(0 < peak <= DOWNLOAD_MEMORY_BYTES,
                   f"b's downloads held at most {peak} bytes in memory at once (budget "
                   f"crosschat.files.download-memory, {DOWNLOAD_MEMORY_BYTES >> 20} MiB by default)")

        self.step("step 8: chat during the transfer")
        for chat_proc in (a.proc, b.proc):
            chat_proc.wait_for(lambda p: all(any(run.first("message", text=t) for run in receivers[r.name])
                                             for r, t, _ in during), 5.0)
        time.sleep(0.5)
        # Messages to b written while b was dead arrive after its restart: not a latency sample.
        live = [(r, t, tw) for r, t, tw in during if not (r is b and t_kill - 2.0 <= tw <= t_restart)]
        during_ms, missing, counts = self.latencies(during, receivers)
        live_ms, _, _ = self.latencies(live, receivers)
        dupes = [t for t, n in counts.items() if n > 1]
        self.results["chat_during_ms"] = stats(live_ms)
        self.results["chat_during_samples"] = len(live_ms)
        self.check(not missing and not dupes,
                   f"all {len(during)} messages written during the transfer arrived exactly once (missing {missing}, "
                   f"twice {dupes})")
        self.check(live_ms and max(live_ms) < CHAT_BOUND * 1000,
                   f"chat during the transfer: {stats(live_ms)} ms (bound {CHAT_BOUND * 1000:.0f} ms); "
                   f"without the transfer {stats(base_ms)} ms")
        del during_ms
        self.check(self.quit(a) == 0, "a quits cleanly")
        self.progress_bar(a, b, source, sha, size)
        self.check(self.quit(b) == 0, "b quits cleanly")

    def tmux(self, *argv):
        return self.a.run(["tmux", "-L", self.tmux_socket] + list(argv), check=False)

    def progress_bar(self, a, b, source, sha, size):
        """Step 9: a restarted full screen in tmux sends the file again; its progress bar is seen."""
        if not shutil.which("tmux"):
            self.step("step 9: skipped (no tmux: scripts/deps.sh installs it)")
            self.results["progress_bar"] = "skipped: no tmux"
            return
        self.step("step 9: a, restarted full screen in tmux, sends the file again: its progress bar is drawn")
        self.tmux_socket = f"crosschat-files-{os.getpid()}"
        argv = [self.args.crosschat, "--name", a.name, "--data-dir", a.data_dir, "--relay", f"http://{RELAY}:5000",
                "--lan-interval", "1", "--no-port-mapping"]
        command = " ".join(f"'{x}'" for x in argv) + f" 2>>'{os.path.join(self.work, 'a-screen.log')}'"
        try:
            self.tmux("new-session", "-d", "-s", "a", "-x", "160", "-y", "40", "-e", "TERM=xterm-256color", command)
            screen = ""
            for _ in range(100):
                screen = self.tmux("capture-pane", "-p", "-t", "a").stdout or ""
                if "ready" in screen.lower() or a.id[:7] in screen:
                    break
                time.sleep(0.1)
            before = len(b.proc.find("transfer", state="offered", direction="in"))
            self.tmux("send-keys", "-t", "a", "-l", f"/send {b.id} {source}")
            self.tmux("send-keys", "-t", "a", "Enter")
            self.tmux("send-keys", "-t", "a", "M-2")   # b's window: its transfers are shown there
            offer = b.proc.wait_for(lambda p: len(p.find("transfer", state="offered", direction="in")) > before
                                    and p.find("transfer", state="offered", direction="in")[-1], 30.0)
            self.check(offer is not None, "b sees the second offer from the full-screen a", fatal=True)
            transfer_id = offer.data["id"]
            b.proc.send(f"/accept-file {transfer_id}")
            bars = []
            pattern = re.compile(r"\[[#-]{10,}\] +\d{1,3}%")
            for _ in range(int(TRANSFER_TIMEOUT / 0.2)):
                screen = self.tmux("capture-pane", "-p", "-t", "a").stdout or ""
                bars += [line.strip() for line in screen.splitlines() if pattern.search(line) and line.strip() not in bars]
                with open(os.path.join(self.work, "a-screen.txt"), "a", encoding="utf-8") as f:
                    f.write(f"--- {time.monotonic():.3f}\n{screen}\n")
                if b.proc.first("transfer", id=transfer_id, state="complete"):
                    break
                time.sleep(0.2)
            done = b.proc.wait_event("transfer", STEP_TIMEOUT, id=transfer_id, state="complete")
            self.results["progress_bar_lines"] = bars[:6]
            self.check(len(bars) >= 2, f"a's screen showed the progress bar moving ({len(bars)} distinct states, e.g. "
                       f"{bars[0][:100] if bars else None!r})")
            local = done.data.get("path", "") if done else ""
            self.check(done is not None and os.path.isfile(local) and sha256_of(local) == sha and os.path.getsize(local) == size,
                       f"the second copy arrives verified too, under a free name ({os.path.basename(local)})")
            self.tmux("send-keys", "-t", "a", "-l", "/quit")
            self.tmux("send-keys", "-t", "a", "Enter")
            for _ in range(50):
                if self.tmux("has-session", "-t", "a").returncode != 0:
                    break
                time.sleep(0.1)
        finally:
            self.tmux("kill-server")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--relay-bin", required=True, help="path to the crosschat-relay program")
    parser.add_argument("--size-mib", type=int, default=100, help="size of the file (MiB, default 100)")
    parser.add_argument("--rate-mbit", type=int, default=240, help="shape rb -> b to this rate (0: no shaping)")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose (logs in the work dir)")
    return execute(FilesScenario, parser.parse_args(), "files")


def execute(scenario_class, args, label):
    """Runs one scenario of this lab's family (also files_relay_lab.py): preflight, the deadline,
    the run, the report; returns the exit code (0 passed, 1 failed, 77 skipped)."""
    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in scenario_class.TOOLS:
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"SKIPPED: the {label} lab needs {tool} (scripts/deps.sh installs it)")
            return 77
    for option, attr in (("--crosschat", "crosschat"), ("--relay-bin", "relay_bin")):
        path = getattr(args, attr)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"FAILED: {option} {path} is not an executable file")
            return 1
        setattr(args, attr, os.path.abspath(path))
    stale = netlab.remove_stale_labs()
    if stale:
        print(f"lab: removed namespaces left by an earlier, killed lab: {stale}")

    def on_alarm(_signum, _frame):
        raise Deadline(f"the lab ran longer than {scenario_class.DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(scenario_class.DEADLINE)
    work = tempfile.mkdtemp(prefix=f"crosschat-{label}.")
    scenario = scenario_class(args, work)
    started = time.monotonic()
    error = None
    try:
        scenario.run()
    except (netlab.CheckFailed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"  FAIL  {error}", flush=True)
    finally:
        signal.alarm(0)
        if error or scenario.failures:
            scenario.dump_logs()
        scenario.close()
    passed = error is None and not scenario.failures
    scenario.results.update({"passed": passed, "error": error, "failures": scenario.failures,
                             "checks": scenario.checks, "seconds": round(time.monotonic() - started, 1)})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(scenario.results, f, indent=2)
    print(f"  checks: {sum(c['passed'] for c in scenario.checks)} passed, "
          f"{sum(not c['passed'] for c in scenario.checks)} failed; {scenario.results['seconds']} s")
    if args.keep or not passed:
        print(f"  work dir {work} (logs)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"netlab-{label}:", "PASSED" if passed else f"FAILED — {error or '; '.join(scenario.failures)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
