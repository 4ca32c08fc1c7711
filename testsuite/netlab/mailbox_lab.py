#!/usr/bin/env python3
"""mailbox_lab.py — offline delivery through a private relay's mailbox, handles, tokens (CTest: netlab-mailbox).

Usage: mailbox_lab.py --crosschat PATH --relay-bin PATH [--results FILE] [--keep] [--verbose]

Topology: one switch "inet" 203.0.113.0/24 with the relay host (203.0.113.10) and two hosts, a
(203.0.113.21) and b (203.0.113.22). crosschat runs with --json --no-lan --no-port-mapping
--no-hole-punching --relay http://203.0.113.10:5000 and an access token; the relay runs with
relay.access = token and a data directory.

Steps (each wait bounded):
  1. tokens from the console: `crosschat-relay token add` for a and b, a revoked one, none:
     a crosschat without a token and one with the revoked token get a clear error event
     (token_required, token_revoked) and do not retry;
  2. a comes online once (its pre-keys reach the relay) and quits; b comes online, claims the
     handle "bob" (/handle bob), accepts a as a contact and quits;
  3. a comes back, writes `/msg bob@203.0.113.10:5000 ...` (the handle is looked up and pinned on
     first use) twice: b is offline, so both are deposited in b's mailbox ("deposited" events);
     a is killed with SIGKILL (its durable outbox keeps them; its record stays at the relay);
  4. the relay is killed with SIGKILL and restarted on the same data directory: the envelopes
     and a's record are still there (a lookup finds a without a new announce);
  5. b comes online: both messages arrive once with "path":"mailbox"; b's receipts wait in a's
     mailbox (relay /health mail_waiting); b quits;
  6. a comes online: both messages are "delivered" (never online together with b);
  7. handles: b releases "bob", a third peer c claims it; a's /whois bob reports the key change
     loudly ("key_changed": true) and a /msg bob sends nothing;
  8. no message text in the relay's traffic (tcpdump on its interface, the whole run) nor in
     its database files (relay.db, relay.db-wal); the token secrets are not in the database.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, no tcpdump).
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import ms  # noqa: E402

RELAY_ADDRESS = "203.0.113.10"
RELAY_PORT = 5000
RELAY_URL = f"http://{RELAY_ADDRESS}:{RELAY_PORT}"
STEP_TIMEOUT = 15.0
SETTLE = 1.0
DEADLINE = 110           # seconds for the whole run (CTest's TIMEOUT is 120)
RELAY_DEFINES = ["relay.access=token", "relay.controlKeepaliveSeconds=2"]


class Failed(Exception):
    """A check failed; the message says which and why."""


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


class MailboxLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.data = os.path.join(work, "relay-data")
        self.lab = netlab.Lab()
        self.checks = []
        self.procs = []
        self.relay_proc = None
        self.relay_starts = 0
        self.ids = {}
        self.tokens = {}
        self.root_before = netlab.root_interfaces()
        self.results = {}
        self.secret = secrets.token_hex(6)

    def check(self, condition, message):
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            raise Failed(message)

    def note(self, message):
        print("        " + message, flush=True)

    # -- lab and programs ----------------------------------------------------------------------

    def build(self):
        print("lab: inet 203.0.113.0/24: relay .10, a .21, b .22", flush=True)
        inet = self.lab.add_switch("inet")
        self.relay_host = self.lab.add_host("relay", inet, f"{RELAY_ADDRESS}/24")
        self.hosts = {"a": self.lab.add_host("a", inet, "203.0.113.21/24"),
                      "b": self.lab.add_host("b", inet, "203.0.113.22/24")}
        self.check(self.lab.wait_addresses(10), "addresses ready in every namespace")
        self.check(self.hosts["a"].ping(RELAY_ADDRESS) and self.hosts["b"].ping(RELAY_ADDRESS), "a and b reach the relay host")

    def relay_tool(self, *arguments):
        """crosschat-relay --data-dir DATA token ...: (exit code, stdout, stderr)."""
        done = subprocess.run([self.args.relay_bin, "--data-dir", self.data] + list(arguments),
                              capture_output=True, text=True, timeout=20)
        return done.returncode, done.stdout.strip(), done.stderr.strip()

    def start_relay(self):
        self.relay_starts += 1
        defines = RELAY_DEFINES + [f"relay.dataDir={self.data}"]
        self.relay_proc = netlab.start_relay(self.relay_host, self.args.relay_bin, RELAY_ADDRESS, RELAY_PORT, defines,
                                             log_path=os.path.join(self.work, f"relay{self.relay_starts}.log"))
        self.check(True, f"crosschat-relay listens on {RELAY_URL} (start {self.relay_starts}, relay.access=token)")

    def start_chat(self, name, host, token, wait_online=True):
        argv = [self.args.crosschat, "--json", "--name", name, "--data-dir", os.path.join(self.work, name),
                "--no-lan", "--no-port-mapping", "--no-hole-punching", "--relay", RELAY_URL]
        if token is not None:
            argv += ["--relay-token", token]
        if self.args.verbose:
            argv.append("--verbose")
        proc = self.hosts[host].spawn(argv, name=name, log_path=os.path.join(self.work, f"{name}.log"))
        self.procs.append((name, proc))
        ready = proc.wait_event("ready", STEP_TIMEOUT)
        self.check(ready is not None, f"{name} ready (stderr: {proc.stderr_tail(3) if ready is None else 'ok'})")
        self.ids[name] = ready.data.get("id")
        if wait_online:
            online = proc.wait_event("relay", STEP_TIMEOUT, state="online")
            self.check(online is not None, f"{name} reports the relay online "
                       f"({[e.data.get('detail') for e in proc.find('relay')][-2:]})")
        return proc

    def quit(self, name, proc):
        proc.send("/quit")
        code = proc.wait(10)
        self.check(code == 0, f"{name} exits with 0 on /quit ({code})")

    def api_get(self, path, token):
        """GET RELAY_URL + path from host b with a bearer token: the HTTP status (None on error)."""
        script = ("import sys, urllib.error, urllib.request\n"
                  "request = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
                  "try:\n    print(urllib.request.urlopen(request, timeout=5).status)\n"
                  "except urllib.error.HTTPError as exc:\n    print(exc.code)\n")
        result = self.hosts["b"].run([sys.executable, "-c", script, RELAY_URL + path, token], check=False, timeout=15)
        text = result.stdout.strip()
        return int(text) if text.isdigit() else None

    def health(self):
        status, _headers, body = self.hosts["a"].http_get(f"{RELAY_URL}/health", timeout=5)
        return json.loads(body) if status == 200 else {}

    # -- steps ---------------------------------------------------------------------------------

    def tokens_step(self):
        print("step 1: tokens (crosschat-relay token add/list/revoke; missing and revoked tokens refused)", flush=True)
        for name in ("a", "b", "c", "gone"):
            code, out, err = self.relay_tool("token", "add", "--name", name, "--expires", "1d")
            self.check(code == 0 and out.startswith("cxrt_"), f"token add --name {name} prints a token ({code}, {err[-120:]})")
            self.tokens[name] = out
        code, out, _err = self.relay_tool("token", "revoke", "gone")
        self.check(code == 0, f"token revoke gone ({out})")
        code, out, _err = self.relay_tool("token", "list")
        self.check(code == 0 and out.count("in force") == 3 and "revoked" in out, f"token list shows 3 in force, 1 revoked")
        self.start_relay()
        self.capture = netlab.Capture(self.relay_host, "eth0", os.path.join(self.work, "relay.pcap"),
                                      log_path=os.path.join(self.work, "tcpdump.log"))
        self.check(self.capture.wait_listening(10), "tcpdump captures on the relay host's eth0")
        for label, token, code in (("no token", None, "token_required"), ("a revoked token", self.tokens["gone"], "token_revoked")):
            proc = self.start_chat("x", "a", token, wait_online=False)
            error = proc.wait_event("error", STEP_TIMEOUT, code=code)
            self.check(error is not None, f"crosschat with {label}: error event {code!r} "
                       f"({error.data.get('message') if error else [e.data for e in proc.find('error')]})")
            time.sleep(SETTLE)
            attempts = len([e for e in proc.find("relay") if e.data.get("state") == "offline"])
            self.check(not proc.find("relay", state="online") and attempts <= 2,
                       f"... and it never gets online nor retries ({attempts} offline event(s))")
            self.quit("x", proc)

    def first_contacts(self):
        print("step 2: a online once (pre-keys); b online: /handle bob, /accept a; both quit", flush=True)
        a = self.start_chat("a", "a", self.tokens["a"])
        self.quit("a", a)
        b = self.start_chat("b", "b", self.tokens["b"])
        b.send("/handle bob")
        claimed = b.wait_event("handle", STEP_TIMEOUT, action="claim")
        self.check(claimed is not None and claimed.data.get("handle") == "bob",
                   f"b claims the handle bob ({[e.data for e in b.find('error')][-2:]})")
        b.send(f"/accept {self.ids['a']}")
        self.check(b.wait_event("contact", STEP_TIMEOUT) is not None, "b accepts a as a contact")
        self.quit("b", b)

    def deposit(self):
        print("step 3: a writes to bob@relay while b is offline: deposited in b's mailbox; a quits", flush=True)
        a = self.start_chat("a", "a", self.tokens["a"])
        self.texts = [f"mailbox-secret-{self.secret}-one", f"mailbox-secret-{self.secret}-two"]
        t0 = a.send(f"/msg bob@{RELAY_ADDRESS}:{RELAY_PORT} {self.texts[0]}")
        whois = a.wait_event("whois", STEP_TIMEOUT)
        self.check(whois is not None and whois.data.get("id") == self.ids["b"] and whois.data.get("first_use") is True,
                   f"a looks bob up: b's ID, pinned on first use ({whois.data if whois else None})")
        self.check(a.wait_event("sent", STEP_TIMEOUT) is not None, "a's first message is sent (queued)")
        a.send(self.texts[1])   # the conversation is bob now
        self.check(a.wait_for(lambda p: len(p.find("sent")) >= 2, STEP_TIMEOUT), "a's second message is queued")
        self.sent_ids = [e.data["id"] for e in a.find("sent")[:2]]
        deposited = a.wait_for(lambda p: len(p.find("deposited")) >= 2, STEP_TIMEOUT + 10)
        events = a.find("deposited")
        self.check(deposited and sorted(e.data.get("id") for e in events) == sorted(self.sent_ids)
                   and all(e.data.get("to") == self.ids["b"] for e in events),
                   f"both messages deposited in b's mailbox ({[e.data for e in events]})")
        self.results["deposit_ms"] = ms(events[-1].t - t0)
        self.check(self.health().get("mail_waiting") == 2, f"the relay holds 2 envelopes ({self.health().get('mail_waiting')})")
        # a dies without unregistering: its record stays at the relay (and its outbox on its disk).
        a.kill(signal.SIGKILL)
        a.wait(5)
        self.check(self.api_get(f"/api/v1/peers/{self.ids['a']}", self.tokens["b"]) == 200, "a's record is at the relay")

    def kill_relay(self):
        print("step 4: the relay is killed (SIGKILL) and restarted on its data directory", flush=True)
        self.relay_proc.kill(signal.SIGKILL)
        self.relay_proc.wait(5)
        t = time.monotonic()
        self.start_relay()
        self.results["relay_restart_ms"] = ms(time.monotonic() - t)
        self.check(self.health().get("mail_waiting") == 2, "the 2 envelopes survived the kill")
        self.check(self.api_get(f"/api/v1/peers/{self.ids['a']}", self.tokens["b"]) == 200,
                   "a's record survived the kill: found without a new announce")
        self.check(self.api_get(f"/api/v1/peers/{self.ids['a']}", self.tokens["gone"]) == 401, "... not with the revoked token")

    def receive(self):
        print("step 5: b comes online: both messages from the mailbox, once; receipts left for a", flush=True)
        t = time.monotonic()
        b = self.start_chat("b", "b", self.tokens["b"])
        got = b.wait_for(lambda p: len(p.find("message")) >= 2, STEP_TIMEOUT)
        time.sleep(SETTLE)
        messages = b.find("message")
        self.check(got and len(messages) == 2 and [m.data.get("text") for m in messages] == self.texts
                   and all(m.data.get("path") == "mailbox" and m.data.get("from") == self.ids["a"] for m in messages),
                   f"b gets both messages once, path mailbox, from a ({[m.data for m in messages]})")
        self.results["mailbox_receive_ms"] = ms(messages[-1].t - t)
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline and self.health().get("mail_waiting") != 2:
            time.sleep(0.2)
        self.check(self.health().get("mail_waiting") == 2, "b's envelopes are deleted, its 2 receipts wait for a")
        self.quit("b", b)

    def delivered(self):
        print("step 6: a comes online: both messages delivered", flush=True)
        t = time.monotonic()
        a = self.start_chat("a", "a", self.tokens["a"])
        self.check(a.wait_for(lambda p: len(p.find("delivered")) >= 2, STEP_TIMEOUT),
                   f"a sees both messages delivered ({[e.data for e in a.find('delivered')]})")
        self.check(sorted(e.data.get("id") for e in a.find("delivered")) == sorted(self.sent_ids), "... exactly those two")
        self.results["delivered_after_start_ms"] = ms(a.find("delivered")[-1].t - t)
        self.a = a

    def handles(self):
        print("step 7: bob released by b and claimed by c: a's /whois bob warns of the key change", flush=True)
        b = self.start_chat("b", "b", self.tokens["b"])
        b.send("/handle --release")
        self.check(b.wait_event("handle", STEP_TIMEOUT, action="release") is not None, "b releases bob")
        self.quit("b", b)
        c = self.start_chat("c", "b", self.tokens["c"])
        c.send("/handle bob")
        self.check(c.wait_event("handle", STEP_TIMEOUT, action="claim") is not None, "c claims bob")
        a = self.a
        count = len(a.find("whois"))
        a.send(f"/whois bob@{RELAY_ADDRESS}:{RELAY_PORT}")
        self.check(a.wait_for(lambda p: len(p.find("whois")) > count, STEP_TIMEOUT), "a's /whois bob answers")
        answer = a.find("whois")[-1].data
        self.check(answer.get("key_changed") is True and answer.get("id") == self.ids["c"]
                   and answer.get("pinned") == self.ids["b"] and answer.get("warning") == "handle_key_changed",
                   f"... with the key change: pinned b, relay names c ({answer})")
        sent_before = len(a.find("sent"))
        a.send(f"/msg bob@{RELAY_ADDRESS}:{RELAY_PORT} this must not go to c")
        self.check(a.wait_for(lambda p: len(p.find("whois")) > count + 1, STEP_TIMEOUT), "a's /msg bob looks bob up again")
        time.sleep(SETTLE)
        self.check(len(a.find("sent")) == sent_before, "a sends nothing to the new key")
        self.quit("c", c)
        self.quit("a", a)

    def no_plaintext(self):
        print("step 8: no text in the relay's traffic nor its database", flush=True)
        self.capture.stop()
        summary = self.capture.summary()
        self.note(f"capture: {summary['packets']} packets, {summary['tcp_payload_bytes']} TCP payload bytes")
        self.check(summary["tcp_payload_bytes"] > 0, "the capture holds the relay's traffic")
        with open(os.path.join(self.work, "relay.pcap"), "rb") as f:
            pcap = f.read()
        self.relay_proc.kill(signal.SIGTERM)
        self.check(self.relay_proc.wait(10) == 0, "crosschat-relay exits with 0 on SIGTERM")
        database = b""
        for name in ("relay.db", "relay.db-wal"):
            path = os.path.join(self.data, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    database += f.read()
        self.check(len(database) > 0, f"the relay's database files exist ({len(database)} bytes)")
        secret = self.secret.encode()
        self.check(b"POST /api/v1/mailbox/" in pcap, "the capture is readable: the deposits' HTTP requests are in it")
        self.check(secret not in pcap, "no message text in the relay's traffic")
        self.check(secret not in database, "no message text in the relay's database")
        leaked = [n for n, t in self.tokens.items() if t.encode() in database]
        self.check(not leaked, f"no token secret in the relay's database ({leaked})")

    def run(self):
        self.build()
        self.tokens_step()
        self.first_contacts()
        self.deposit()
        self.kill_relay()
        self.receive()
        self.delivered()
        self.handles()
        self.no_plaintext()

    def close(self):
        self.lab.close()
        clean = not self.lab.leftovers() and netlab.root_interfaces() == self.root_before
        print(("  ok    " if clean else "  FAIL  ") + "cleanup: no lab namespace left, root interfaces unchanged", flush=True)
        return clean

    def dump_logs(self):
        procs = list(self.procs) + ([("crosschat-relay", self.relay_proc)] if self.relay_proc else [])
        for name, proc in procs[-6:]:
            print(f"--- {name} stderr (last lines) ---")
            for line in proc.stderr_tail(10):
                print("    " + line)
            if proc is not self.relay_proc:
                for e in proc.find()[-8:]:
                    print("    " + json.dumps(e.data)[:300])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True)
    parser.add_argument("--relay-bin", required=True)
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    if not shutil.which("tcpdump"):
        print("SKIPPED: the mailbox lab needs tcpdump (scripts/deps.sh installs it)")
        return 77
    for option, path in (("--crosschat", args.crosschat), ("--relay-bin", args.relay_bin)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"FAILED: {option} {path} is not an executable file")
            return 1
    args.crosschat, args.relay_bin = os.path.abspath(args.crosschat), os.path.abspath(args.relay_bin)
    netlab.remove_stale_labs()

    def on_alarm(_signum, _frame):
        raise Deadline(f"the lab ran longer than {DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    work = tempfile.mkdtemp(prefix="crosschat-mailboxlab.")
    os.chmod(work, 0o700)
    lab = MailboxLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.run()
    except (Failed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        if error:
            lab.dump_logs()
        clean = lab.close()
    passed = error is None and clean
    lab.results.update({"passed": passed, "error": error, "checks": lab.checks, "seconds": round(time.monotonic() - started, 1)})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(lab.results, f, indent=2)
    print()
    print("summary:", json.dumps({k: v for k, v in lab.results.items() if k not in ("checks",)}))
    if args.keep:
        print(f"  work dir {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-mailbox:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
