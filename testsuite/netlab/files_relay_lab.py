#!/usr/bin/env python3
"""files_relay_lab.py — a file through the relay at the relay's byte-rate limit, the path cut and
the transfer resumed through the relay, then the path upgraded to direct mid-transfer: faster,
without starting over (CTest: netlab-files-relay).

Usage: files_relay_lab.py --crosschat PATH --relay-bin PATH [--size-mib N] [--relay-rate-kib N]
                          [--rate-mbit N] [--results FILE] [--keep] [--verbose]

Topology: the one of files_lab.py (relay on the "internet", sender a behind the EIM NAT ra,
receiver b behind the EIM NAT rb, rb -> b shaped to --rate-mbit, default 120 Mbit/s), plus a
"cut cable" between the two NATs' public addresses on ra (nftables, every TCP packet between
203.0.113.1 and 203.0.113.2 dropped): no direct path, no hole punch — everything between a and b
goes through the relay until the lab removes it. The relay runs with
relay.tunnelRateBytesPerSecond = --relay-rate-kib KiB/s (default 2048; each tunnel direction has
its own bucket, burst twice the rate).

Steps (each wait bounded):
  1. a writes to b, b replies (contacts) — through the relay: the peer events say "relay";
  2. a offers a --size-mib MiB random file (default 64), b accepts;
  3. on the relay: every progress report of b stays within what the relay's token bucket lets
     through since the accept (rate × time + the burst, 2 × rate, + one block; the limit counts
     TLS and framing too, so the file's bytes are fewer), and b's rate over RELAY_WINDOW s, from
     BURST_SKIP s after its first report, is at least RATE_FLOOR × the limit (the transfer uses
     the tunnel; the rate is reported);
  4. the break: the relay host aborts every TCP connection of b's NAT (`ss -K dst 203.0.113.2`:
     the relay's sockets fail, b gets a reset) — the tunnel, and b's control connection; a sees b
     disconnected;
     the cable between the NATs is still cut, so a and b meet again through the relay and the
     transfer resumes there from the bytes verified before the break (never lower) — on the
     relay, still within the new tunnel's bucket (+ RESEND_SLACK_BLOCKS blocks: reports of blocks
     that came before the cut);
  5. the upgrade: the cable between the NATs is put back; the next upgrade round hole-punches a
     direct path (a "path" event "direct") while the file is still moving; b's rate after the
     upgrade is at least SPEEDUP × its rate on the relay;
  6. the file is complete at both ends, its SHA-256 (computed here from the bytes on disk) the
     offered one, no .part left; counters: every block verified once (blocks_verified = the
     file's blocks, no block dropped as corrupt), b received the file once plus at most what was
     in flight at the break and the switch (RESEND_SLACK_BLOCKS blocks each), and so did a send it
     (a verified block is never asked for, so never sent, again); no refused input.
Runs in ~15 s.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no nft or tc).
"""
import argparse
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import ms  # noqa: E402
from attack_lab import STEP_TIMEOUT  # noqa: E402
from files_lab import FilesScenario, RELAY, block_size_for, execute, sha256_of  # noqa: E402

DEADLINE = 100            # seconds for the whole run (CTest's TIMEOUT is 140)
RELAY_WINDOW = 3.0        # seconds of transfer on the relay measured before the break
BURST_SKIP = 1.0          # seconds after the first progress before the measurement (the bucket's burst)
RATE_FLOOR = 0.3          # the file's rate through the relay is at least this × the relay's limit
BURST = 2                 # the relay's tunnel bucket holds this many seconds of its rate (TunnelSession)
RESUME_WITHIN = 25.0      # seconds for the transfer to move again after the break
RELAY_AFTER_RESUME = 2.0  # seconds of resumed transfer on the relay before the cable is put back
UPGRADE_WITHIN = 25.0     # seconds for the upgrade to direct once the cable is back
SPEEDUP = 2.0             # b's rate after the upgrade vs through the relay
TRANSFER_TIMEOUT = 40.0   # seconds for the rest of the transfer after the upgrade
RESEND_SLACK_BLOCKS = 16  # blocks in flight (asked for, not verified) that a break may cost, per break


def rate_between(events, t0, t1):
    """Bytes/s of verified data between two times, from progress events (None if too few)."""
    inside = [e for e in events if t0 <= e.t <= t1]
    if len(inside) < 2 or inside[-1].t - inside[0].t < 0.5:
        return None
    return (inside[-1].data.get("bytes", 0) - inside[0].data.get("bytes", 0)) / (inside[-1].t - inside[0].t)


def bucket_excess(events, t0, bytes0, limit, slack):
    """The largest amount by which verified bytes since (t0, bytes0) exceed what a token bucket of
    rate limit and burst BURST × limit, full at t0, lets through (plus slack); <= 0 if within."""
    return max(((e.data.get("bytes", 0) - bytes0) - (limit * (e.t - t0) + BURST * limit + slack) for e in events),
               default=0)


class FilesRelayScenario(FilesScenario):
    NAME = "files-relay"
    DEADLINE = DEADLINE

    def progress(self, proc, transfer_id):
        return [e for e in proc.find("transfer", id=transfer_id) if e.data.get("progress")]

    def run(self):
        self.build()
        self.ra.nft(netlab.drop_ruleset("cable", "203.0.113.2"))
        self.check(True, "lab: the cable between the NATs is cut (ra drops TCP to and from rb's public address)")
        limit = self.args.relay_rate_kib << 10
        self.start_relay(self.relay_host, RELAY, ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10",
                                                  f"relay.tunnelRateBytesPerSecond={limit}"])
        self.check(True, f"the relay limits each tunnel direction to {limit / 1e6:.2f} MB/s")
        url = f"http://{RELAY}:5000"
        common = ["--relay", url, "--lan-interval", "1", "--no-port-mapping"]
        self.downloads = os.path.join(self.work, "b-downloads")
        a = self.start_chat(self.chat("a", self.a, "192.168.1.11"), common, wait_online=True)
        b = self.start_chat(self.chat("b", self.b, "192.168.2.11"), common + ["--downloads", self.downloads],
                            wait_online=True)

        self.step("step 1: a writes to b, b replies: contacts, through the relay")
        t_hello, _ = self.send(a, b.id, "hello")
        got = b.proc.wait_for(lambda p: p.first("message", text="hello"), 30.0)
        self.check(got is not None, f"a's message reaches b ({got and got.data.get('path')})", fatal=True)
        self.send(b, a.id, "reply")
        self.check(a.proc.wait_for(lambda p: p.first("message", **{"from": b.id}), STEP_TIMEOUT) is not None,
                   "b's reply reaches a", fatal=True)
        connected = a.proc.find("peer", id=b.id, state="connected")
        self.check(connected and all(e.data.get("path") == "relay" for e in connected),
                   f"a's session with b is relayed ({[e.data.get('path') for e in connected]})", fatal=True)

        size = self.args.size_mib << 20
        blocks = (size + block_size_for(size) - 1) // block_size_for(size)
        self.step(f"step 2: a offers a {self.args.size_mib} MiB random file ({blocks} blocks), b accepts it")
        source = os.path.join(self.work, "relayed.bin")
        digest = hashlib.sha256()
        with open(source, "wb") as f:
            for _ in range(self.args.size_mib):
                chunk = os.urandom(1 << 20)
                digest.update(chunk)
                f.write(chunk)
        sha = digest.hexdigest()
        a.proc.send(f"/send {b.id} {source}")
        offer = b.proc.wait_for(lambda p: p.first("transfer", state="offered", direction="in"), 30.0)
        self.check(offer is not None, "b sees the offer", fatal=True)
        transfer_id = offer.data["id"]
        t_accept = b.proc.send(f"/accept-file {transfer_id[:8]}")

        self.step(f"step 3: the transfer through the relay, measured over {RELAY_WINDOW} s after the burst")
        first = b.proc.wait_for(lambda p: next(iter(self.progress(p, transfer_id)), None), STEP_TIMEOUT)
        self.check(first is not None, "b reports progress", fatal=True)
        t_from = first.t + BURST_SKIP
        time.sleep(max(0.0, t_from + RELAY_WINDOW - time.monotonic()))
        relay_rate = rate_between(self.progress(b.proc, transfer_id), t_from, time.monotonic())
        self.results["relay_limit_bytes_s"] = limit
        self.results["relay_rate_bytes_s"] = relay_rate and round(relay_rate)
        self.check(relay_rate is not None and relay_rate >= RATE_FLOOR * limit,
                   f"through the relay the file moves at {relay_rate and relay_rate / 1e6:.2f} MB/s, the relay's limit "
                   f"being {limit / 1e6:.2f} MB/s (at least {RATE_FLOOR}× it)", fatal=True)
        block = block_size_for(size)
        excess = bucket_excess(self.progress(b.proc, transfer_id), t_accept, 0, limit, block)
        self.check(excess <= 0, f"every report of b since the accept is within the relay's bucket (rate × time + "
                   f"{BURST} s of burst + a block): {-excess:.0f} bytes to spare at the closest", fatal=True)

        self.step("step 4: the break: the relay aborts its connections to b's NAT; the transfer resumes through the relay")
        before_cut = self.progress(b.proc, transfer_id)[-1].data.get("bytes", 0)
        disconnected_before = len(a.proc.find("peer", id=b.id, state="disconnected"))
        t_cut = time.monotonic()
        # ss -K: the relay's kernel aborts its sockets toward b's NAT and sends b a reset.
        self.relay_host.run(["ss", "-K", "dst", "203.0.113.2"])
        lost = a.proc.wait_for(lambda p: next(iter(p.find("peer", id=b.id, state="disconnected")[disconnected_before:]), None),
                               5.0)
        self.check(lost is not None, f"a sees b disconnected ({lost and ms(lost.t - t_cut)} ms after the cut)", fatal=True)
        back = a.proc.wait_for(lambda p: next((e for e in p.find("peer", id=b.id, state="connected") if e.t > lost.t), None),
                               RESUME_WITHIN)
        self.check(back is not None and back.data.get("path") == "relay",
                   f"a and b meet again through the relay ({back and back.data.get('path')}, "
                   f"{back and ms(back.t - t_cut)} ms after the cut)", fatal=True)
        # What b had verified before the new session (reports of data that came before the cut included).
        at_break = max((e.data.get("bytes", 0) for e in self.progress(b.proc, transfer_id) if e.t <= back.t), default=0)
        moving = b.proc.wait_for(lambda p: next((e for e in self.progress(p, transfer_id)
                                                 if e.t > back.t and e.data.get("bytes", 0) > at_break), None),
                                 RESUME_WITHIN)
        self.check(moving is not None, f"the transfer moves again on the new relayed session ({moving and ms(moving.t - back.t)} "
                   f"ms after it)", fatal=True)
        after = [e for e in self.progress(b.proc, transfer_id) if e.t > back.t]
        self.results["break"] = {"bytes_before": before_cut, "bytes_at_break": at_break,
                                 "reconnected_ms_after_cut": ms(back.t - t_cut), "resumed_ms_after_cut": ms(moving.t - t_cut)}
        self.check(all(e.data.get("bytes", 0) >= at_break for e in after),
                   f"it resumes from the {at_break} bytes verified before the break, never lower "
                   f"({min(e.data.get('bytes', 0) for e in after)} at the first report after it)")
        time.sleep(RELAY_AFTER_RESUME)
        resumed_rate = rate_between(self.progress(b.proc, transfer_id), moving.t + BURST_SKIP, time.monotonic())
        self.results["relay_rate_after_break_bytes_s"] = resumed_rate and round(resumed_rate)
        excess = bucket_excess([e for e in self.progress(b.proc, transfer_id) if e.t > back.t], back.t, at_break, limit,
                               RESEND_SLACK_BLOCKS * block)
        self.check(excess <= 0, f"resumed through the relay, still within its limit ({resumed_rate and resumed_rate / 1e6:.2f} "
                   f"MB/s; every report within the new tunnel's bucket, {-excess:.0f} bytes to spare at the closest)")
        self.check(not a.proc.find("path", id=b.id), "no direct path while the cable is cut")

        self.step("step 5: the cable between the NATs is back: the path upgrades to direct mid-transfer")
        t_cable = time.monotonic()
        bytes_at_cable = self.progress(b.proc, transfer_id)[-1].data.get("bytes", 0)
        self.ra.nft_delete_table("inet", "cable")
        direct = a.proc.wait_for(lambda p: p.first("path", id=b.id, path="direct"), UPGRADE_WITHIN)
        done_early = b.proc.first("transfer", id=transfer_id, state="complete")
        self.check(direct is not None, f"the path goes direct ({direct and ms(direct.t - t_cable)} ms after the cable "
                   f"is back)", fatal=True)
        at_upgrade = max((e.data.get("bytes", 0) for e in self.progress(b.proc, transfer_id) if e.t <= direct.t),
                         default=0)
        self.results["upgrade"] = {"ms_after_cable": ms(direct.t - t_cable), "bytes_at_cable": bytes_at_cable,
                                   "bytes_at_upgrade": at_upgrade}
        self.check(done_early is None and at_upgrade < size,
                   f"mid-transfer: {at_upgrade} of {size} bytes ({at_upgrade / size:.0%}) verified at the upgrade")
        done = b.proc.wait_event("transfer", TRANSFER_TIMEOUT, id=transfer_id, state="complete")
        self.check(done is not None, f"b: transfer complete ({done and ms(done.t - direct.t)} ms after the upgrade)",
                   fatal=True)
        direct_events = [e for e in self.progress(b.proc, transfer_id) if e.t > direct.t]
        # From the last report before the upgrade to completion (the whole file verified then).
        last_relayed = max((e for e in self.progress(b.proc, transfer_id) if e.t <= direct.t), key=lambda e: e.t)
        direct_rate = (size - last_relayed.data.get("bytes", 0)) / max(done.t - last_relayed.t, 1e-3)
        reference = max(r for r in (relay_rate, resumed_rate) if r is not None)
        self.results["direct_rate_bytes_s"] = round(direct_rate)
        self.results["direct_progress_events"] = len(direct_events)
        self.check(direct_rate >= SPEEDUP * reference,
                   f"after the upgrade the file moves at {direct_rate / 1e6:.2f} MB/s, {direct_rate / reference:.1f}× the "
                   f"relay's {reference / 1e6:.2f} MB/s (bound {SPEEDUP}×), from {last_relayed.data.get('bytes', 0)} bytes "
                   "on, not from 0")
        self.check(all(e.data.get("bytes", 0) >= last_relayed.data.get("bytes", 0) for e in direct_events),
                   "no progress report after the upgrade is below the bytes verified before it")

        self.step("step 6: the file is complete and verified; every block was sent for what it lacked only")
        sender_done = a.proc.wait_event("transfer", STEP_TIMEOUT, id=transfer_id, state="complete")
        self.check(sender_done is not None, "a: the transfer is complete (b confirmed the whole file)")
        local = done.data.get("path", "")
        on_disk = sha256_of(local) if os.path.isfile(local) else None
        self.check(on_disk == sha and os.path.getsize(local) == size,
                   f"the received file has the offered SHA-256 and size ({str(on_disk)[:16]}…)")
        left = [n for n in os.listdir(self.downloads) if n.endswith(".part")]
        self.check(not left, f"no .part file left ({left})")
        b_stats = self.files(b).get("stats", {})
        a_stats = self.files(a).get("stats", {})
        self.results["stats"] = {"a": a_stats, "b": b_stats}
        self.check(b_stats.get("blocks_verified") == blocks and b_stats.get("blocks_corrupt") == 0,
                   f"b verified each of the {blocks} blocks once (blocks_verified {b_stats.get('blocks_verified')}, "
                   f"corrupt {b_stats.get('blocks_corrupt')})")
        received_extra = b_stats.get("bytes_received", 0) - size
        sent_extra = a_stats.get("bytes_sent", 0) - size
        self.results["extra_bytes"] = {"received": received_extra, "sent": sent_extra,
                                       "sent_blocks": a_stats.get("blocks_sent", 0) - blocks}
        bound = 2 * RESEND_SLACK_BLOCKS * block
        self.check(0 <= received_extra <= bound and 0 <= sent_extra <= bound,
                   f"b received the file once plus {received_extra} bytes, a sent it once plus {sent_extra} bytes: what "
                   f"was in flight at the break and at the switch (bound {RESEND_SLACK_BLOCKS} blocks each, {bound} bytes)")
        self.check(b_stats.get("input_refused") == 0 and a_stats.get("input_refused") == 0, "no refused transfer input")
        self.check(self.quit(a) == 0, "a quits cleanly")
        self.check(self.quit(b) == 0, "b quits cleanly")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--relay-bin", required=True, help="path to the crosschat-relay program")
    parser.add_argument("--size-mib", type=int, default=64, help="size of the file (MiB, default 64)")
    parser.add_argument("--relay-rate-kib", type=int, default=2048,
                        help="relay.tunnelRateBytesPerSecond in KiB/s (default 2048)")
    parser.add_argument("--rate-mbit", type=int, default=120, help="shape rb -> b to this rate (0: no shaping)")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose (logs in the work dir)")
    return execute(FilesRelayScenario, parser.parse_args(), "files-relay")


if __name__ == "__main__":
    sys.exit(main())
