#!/usr/bin/env python3
"""lan_lab.py — LAN chat scenario in an isolated network lab (CTest: netlab-lan).

Usage: lan_lab.py --crosschat PATH [--results FILE] [--keep] [--verbose]

Three hosts h1, h2, h3 on one bridge (198.18.0.0/24), crosschat --json on each plus a second
instance h1b on h1. Checks:
  1. discovery: every instance reports every other one ("peer" event, state "found");
     time from the later "ready" of the pair to the "found" event, median / max / samples;
  2. messages: one /msg from every instance to every other arrives exactly once (also
     after waiting a further second) and the sender gets "delivered";
  3. capture: tcpdump on every switch port and on h1's loopback during step 2 saw TCP
     payload between the hosts, and none of the message texts (the chat is TLS);
  4. expiry: after kill -9 of h3's crosschat the others report h3 "lost" within 8 s;
  5. the remaining instances end cleanly on /quit;
and that the lab never adds an interface to the root namespace and leaves no namespace.
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces or no tcpdump).
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

STEP_TIMEOUT = 15.0      # seconds any one step may wait for events
LOST_LIMIT = 8.0         # seconds: 3 x 1 s interval + slack
START_STAGGER = 0.3      # seconds between instance starts
SETTLE = 1.0             # seconds to wait for duplicates after all messages arrived
DEADLINE = 160           # seconds for the whole run (CTest's TIMEOUT is 180)


class Failed(Exception):
    """A check failed; the message says which and why."""


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


class Instance:
    """One crosschat process in the lab."""

    def __init__(self, name, host, address):
        self.name = name
        self.host = host
        self.address = address
        self.proc = None
        self.id = None
        self.ready_t = None

    def __repr__(self):
        return self.name


class LanLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab()
        self.instances = []
        self.checks = []
        self.root_before = netlab.root_interfaces()
        self.results = {"config": {"hosts": 3, "instances": 4, "lan_interval_s": args.interval,
                                   "subnet": "198.18.0.0/24", "step_timeout_s": STEP_TIMEOUT,
                                   "lost_limit_s": LOST_LIMIT}}

    # -- reporting -----------------------------------------------------------------------------

    def check(self, condition, message):
        """Records a check; raises Failed if it does not hold."""
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            raise Failed(message)

    def note(self, message):
        print("        " + message, flush=True)

    def by_id(self, peer_id):
        for inst in self.instances:
            if inst.id == peer_id:
                return inst
        return None

    def assert_running(self):
        dead = [f"{i.name} (exit {i.proc.popen.poll()})" for i in self.instances if i.proc and not i.proc.alive]
        self.check(not dead, f"all crosschat instances still running {dead if dead else ''}".rstrip())

    # -- steps ---------------------------------------------------------------------------------

    def build(self):
        print("lab: building switch + 3 hosts (198.18.0.0/24)", flush=True)
        switch = self.lab.add_switch("sw")
        hosts = {f"h{i}": self.lab.add_host(f"h{i}", switch, f"198.18.0.{i}/24") for i in (1, 2, 3)}
        self.switch, self.hosts = switch, hosts
        self.check(self.lab.wait_addresses(10), "IPv6 link-local addresses ready (DAD done) in every namespace")
        self.check(netlab.root_interfaces() == self.root_before, "no lab interface in the root namespace")
        self.check(self.lab.routes_out() == [], "no default route anywhere in the lab")
        for name, host in hosts.items():
            for other, target in hosts.items():
                if other != name:
                    self.check(host.ping(f"198.18.0.{other[1:]}"), f"lab ping {name} -> {other}")
        self.instances = [Instance("h1", hosts["h1"], "198.18.0.1"), Instance("h2", hosts["h2"], "198.18.0.2"),
                          Instance("h3", hosts["h3"], "198.18.0.3"), Instance("h1b", hosts["h1"], "198.18.0.1")]
        # For mapping captured addresses to hosts: IPv4 and link-local IPv6 of each host.
        self.host_of_address = {}
        for name, host in hosts.items():
            for _ifname, cidr in host.addresses():
                self.host_of_address[cidr.split("/")[0]] = name

    def start(self):
        print("step 0: start crosschat (h1, h2, h3, h1b; 300 ms apart)", flush=True)
        for index, inst in enumerate(self.instances):
            if index:
                time.sleep(START_STAGGER)
            argv = [self.args.crosschat, "--json", "--name", inst.name,
                    "--data-dir", os.path.join(self.work, inst.name),
                    "--lan-interval", str(self.args.interval)]
            if self.args.verbose:
                argv.append("--verbose")
            inst.proc = inst.host.spawn(argv, name=inst.name, log_path=os.path.join(self.work, inst.name + ".log"))
        for inst in self.instances:
            ready = inst.proc.wait_event("ready", STEP_TIMEOUT)
            if ready is None:
                tail = inst.proc.stderr_tail(10)
                self.check(False, f"{inst.name} printed no 'ready' within {STEP_TIMEOUT:.0f} s "
                                  f"(running={inst.proc.alive}; stderr: {tail}; stdout: "
                                  f"{[l.text for l in inst.proc.lines[-5:]]})")
            inst.id = ready.data.get("id")
            inst.ready_t = ready.t
            self.check(isinstance(inst.id, str) and inst.id, f"{inst.name} ready: id {inst.id} "
                       f"port {ready.data.get('port')} lan_port {ready.data.get('lan_port')} "
                       f"(+{ms(ready.t - self.instances[0].proc.started):.0f} ms after h1's start)")
        ids = [i.id for i in self.instances]
        self.check(len(set(ids)) == len(ids), "every instance has its own peer ID")

    def discovery(self):
        print("step 1: LAN discovery (peer 'found' events)", flush=True)
        deadline = time.monotonic() + STEP_TIMEOUT
        for observer in self.instances:
            others = {i.id for i in self.instances if i is not observer}

            def all_found(p, others=others):
                return others <= {e.data.get("id") for e in p.find("peer", state="found")}

            observer.proc.wait_for(all_found, max(0.0, deadline - time.monotonic()))
        samples = []
        missing = []
        for observer in self.instances:
            found = observer.proc.find("peer", state="found")
            self.check(all(e.data.get("id") != observer.id for e in found),
                       f"{observer.name} does not report itself as a peer")
            strangers = [e.data.get("id") for e in found if self.by_id(e.data.get("id")) is None]
            self.check(not strangers, f"{observer.name} reports no unknown peer {strangers if strangers else ''}".rstrip())
            for peer in self.instances:
                if peer is observer:
                    continue
                event = next((e for e in found if e.data.get("id") == peer.id), None)
                if event is None:
                    missing.append(f"{observer.name} never found {peer.name}")
                    continue
                later_ready = max(observer.ready_t, peer.ready_t)
                samples.append({"observer": observer.name, "peer": peer.name,
                                "ms": ms(event.t - later_ready), "via": event.data.get("via"),
                                "name": event.data.get("name"), "addresses": event.data.get("addresses")})
        self.check(not missing, f"every instance found every other instance within {STEP_TIMEOUT:.0f} s"
                   + (f" (missing: {'; '.join(missing)})" if missing else ""))
        wrong_name = [f"{s['observer']} sees {s['peer']} as {s['name']!r}" for s in samples if s["name"] != s["peer"]]
        self.check(not wrong_name, "found events carry the peer's name" + (f" ({wrong_name})" if wrong_name else ""))
        not_lan = [f"{s['observer']}<-{s['peer']} via {s['via']}" for s in samples if s["via"] != "lan"]
        self.check(not not_lan, "every peer was found via 'lan'" + (f" ({not_lan})" if not_lan else ""))
        values = [s["ms"] for s in samples]
        self.results["discovery_ms"] = dict(stats(values), samples=samples)
        st = stats(values)
        self.note(f"discovery time (found - later ready): median {st['median']} ms, max {st['max']} ms, "
                  f"min {st['min']} ms, n={st['count']}")
        for s in samples:
            self.note(f"  {s['observer']:>3} found {s['peer']:<3} after {s['ms']:7.1f} ms  {s['addresses']}")

    def messages(self):
        print("step 2+3: messages between every pair, with tcpdump on the switch ports and h1's lo", flush=True)
        self.assert_running()
        captures = {
            "switch": netlab.Capture(self.switch, "any", os.path.join(self.work, "switch.pcap"),
                                     log_path=os.path.join(self.work, "tcpdump-switch.log")),
            "h1-lo": netlab.Capture(self.hosts["h1"], "lo", os.path.join(self.work, "h1-lo.pcap"),
                                    log_path=os.path.join(self.work, "tcpdump-h1-lo.log")),
        }
        for name, capture in captures.items():
            self.check(capture.wait_listening(10), f"tcpdump ({name}) is capturing")
        token = secrets.token_hex(6)
        t_step = time.monotonic()
        sent = []  # dicts: sender, receiver, text, id, t_send
        for sender in self.instances:
            for receiver in self.instances:
                if receiver is sender:
                    continue
                text = f"netlab-secret-{token}-{sender.name}-to-{receiver.name}"
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
                sent.append({"sender": sender, "receiver": receiver, "text": text,
                             "id": event.data["id"], "t_send": t_send})
        ids = [m["id"] for m in sent]
        self.check(len(set(ids)) == len(ids), f"all {len(ids)} message ids differ")

        # Every message arrives and is reported delivered (one shared, bounded deadline).
        deadline = time.monotonic() + STEP_TIMEOUT
        for m in sent:
            m["receiver"].proc.wait_event("message", max(0.0, deadline - time.monotonic()), id=m["id"])
            m["sender"].proc.wait_event("delivered", max(0.0, deadline - time.monotonic()), id=m["id"])
        time.sleep(SETTLE)  # then recount: a duplicate would have arrived by now
        for name, capture in captures.items():
            capture.stop()

        latency, delivered_latency, problems, warnings = [], [], [], []
        for m in sent:
            s, r = m["sender"], m["receiver"]
            pair = f"{s.name}->{r.name}"
            got = r.proc.find("message", id=m["id"])
            if len(got) != 1:
                problems.append(f"{pair}: {len(got)} 'message' events with id {m['id']}")
            else:
                data = got[0].data
                if (data.get("text") != m["text"] or data.get("from") != s.id or data.get("name") != s.name
                        or data.get("path") != "direct"):
                    problems.append(f"{pair}: wrong message event {data}")
                latency.append(ms(got[0].t - m["t_send"]))
            elsewhere = [i.name for i in self.instances if i is not r
                         and any(e.data.get("text") == m["text"] for e in i.proc.find("message"))]
            if elsewhere:
                problems.append(f"{pair}: also arrived at {elsewhere}")
            done = s.proc.find("delivered", id=m["id"])
            if not done:
                problems.append(f"{pair}: no 'delivered' at {s.name}")
            else:
                if done[0].data.get("to") != r.id:
                    problems.append(f"{pair}: 'delivered' names {done[0].data.get('to')}")
                if len(done) > 1:
                    warnings.append(f"{pair}: {len(done)} 'delivered' events")
                delivered_latency.append(ms(done[0].t - m["t_send"]))
        errors = [f"{i.name}: {e.data.get('message')}" for i in self.instances
                  for e in i.proc.find("error") if e.t >= t_step]
        self.results["messages"] = {"count": len(sent), "problems": problems, "warnings": warnings,
                                    "error_events": errors,
                                    "latency_ms": stats(latency), "delivered_ms": stats(delivered_latency),
                                    "paths": sorted({str(e.data.get("path")) for i in self.instances
                                                     for e in i.proc.find("message")})}
        self.check(not problems, f"{len(sent)} messages each arrived exactly once (after {SETTLE:.0f} s more) "
                   f"with 'delivered' at the sender" + (f": {problems}" if problems else ""))
        for w in warnings:
            self.note("warning: " + w)
        for e in errors:
            self.note("error event: " + e)
        self.note(f"send -> message event: {stats(latency)} ms; send -> delivered: {stats(delivered_latency)} ms")

        # The capture saw the chat, encrypted.
        capture_results = {}
        for name, capture in captures.items():
            summary = capture.summary()
            leaked = [m["text"] for m in sent if capture.contains(m["text"].encode("utf-8"))]
            summary["leaked_texts"] = leaked
            capture_results[name] = summary
            self.note(f"capture {name}: {summary['packets']} packets, {summary['tcp_payload_packets']} TCP "
                      f"with payload ({summary['tcp_payload_bytes']} bytes), file {summary['bytes']} bytes")
            self.check(summary["dropped_by_kernel"] == 0,
                       f"capture {name}: tcpdump dropped no packet ({summary['dropped_by_kernel']})")
            self.check(not leaked, f"capture {name}: no message text in the raw bytes" + (f" (leaked: {leaked})" if leaked else ""))
        self.results["capture"] = capture_results
        self.check(capture_results["h1-lo"]["tcp_payload_packets"] > 0,
                   "capture h1-lo saw TCP payload (h1 <-> h1b chat over loopback)")
        pairs = set()
        for src, _sport, dst, _dport, length in captures["switch"].segments():
            a, b = self.host_of_address.get(src), self.host_of_address.get(dst)
            if length > 0 and a and b and a != b:
                pairs.add(tuple(sorted((a, b))))
        expected = {("h1", "h2"), ("h1", "h3"), ("h2", "h3")}
        self.check(expected <= pairs, f"capture switch saw TCP payload between every host pair "
                   f"(seen: {sorted(pairs)})")

    def expiry(self):
        print("step 4: kill -9 h3's crosschat; the others must report it lost", flush=True)
        self.assert_running()
        victim = next(i for i in self.instances if i.name == "h3")
        observers = [i for i in self.instances if i is not victim]
        t_kill = victim.proc.kill(signal.SIGKILL)
        self.check(victim.proc.wait(5) is not None, "h3's crosschat is gone after SIGKILL")
        limit = max(STEP_TIMEOUT, LOST_LIMIT + 5)
        deadline = time.monotonic() + limit
        samples, missing = [], []
        for obs in observers:
            def lost(p):
                return next((e for e in p.find("peer", state="lost", id=victim.id) if e.t >= t_kill), None)

            event = obs.proc.wait_for(lost, max(0.0, deadline - time.monotonic()))
            disc = next((e for e in obs.proc.find("peer", state="disconnected", id=victim.id) if e.t >= t_kill), None)
            if event is None:
                missing.append(obs.name)
                continue
            samples.append({"observer": obs.name, "lost_ms": ms(event.t - t_kill),
                            "disconnected_ms": ms(disc.t - t_kill) if disc else None})
        self.results["lost_ms"] = dict(stats([s["lost_ms"] for s in samples]), samples=samples,
                                       limit_ms=ms(LOST_LIMIT))
        for s in samples:
            self.note(f"{s['observer']:>3}: h3 lost after {s['lost_ms']} ms"
                      + (f" (disconnected after {s['disconnected_ms']} ms)" if s["disconnected_ms"] is not None else ""))
        self.check(not missing, f"every other instance reported h3 lost within {limit:.0f} s"
                   + (f" (missing: {missing})" if missing else ""))
        late = [s for s in samples if s["lost_ms"] > LOST_LIMIT * 1000]
        self.check(not late, f"h3 reported lost within {LOST_LIMIT:.0f} s of the kill by every instance "
                   f"(max {max(s['lost_ms'] for s in samples)} ms)")

    def shutdown(self):
        print("step 5: /quit", flush=True)
        running = [i for i in self.instances if i.proc.alive]
        for inst in running:
            inst.proc.send("/quit")
        codes = {inst.name: inst.proc.wait(5) for inst in running}
        byes = {inst.name: inst.proc.first("bye") is not None for inst in running}
        self.check(all(code == 0 for code in codes.values()), f"instances exit with 0 on /quit {codes}")
        self.check(all(byes.values()), f"instances print 'bye' on /quit {byes}")

    def run(self):
        self.build()
        self.start()
        self.discovery()
        self.messages()
        self.expiry()
        self.shutdown()

    def event_counts(self):
        """Returns {instance: {"event[/state]": count}} over everything each instance printed."""
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
        for inst in self.instances:
            if inst.proc:
                print(f"--- {inst.name} stderr (last lines) ---")
                for line in inst.proc.stderr_tail(15):
                    print("    " + line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True, help="path to the crosschat program")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1",
                        help="keep the work directory with logs and captures (also: NETLAB_KEEP=1)")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose (logs in the work dir)")
    parser.add_argument("--interval", type=int, default=1, help="crosschat --lan-interval (default 1)")
    args = parser.parse_args()

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    if not shutil.which("tcpdump"):
        print("SKIPPED: netlab needs tcpdump (scripts/deps.sh installs it)")
        return 77
    if not (os.path.isfile(args.crosschat) and os.access(args.crosschat, os.X_OK)):
        print(f"FAILED: {args.crosschat} is not an executable file")
        return 1
    args.crosschat = os.path.abspath(args.crosschat)
    stale = netlab.remove_stale_labs()
    if stale:
        print(f"lab: removed namespaces left by an earlier, killed lab: {stale}")

    def on_alarm(_signum, _frame):
        raise Deadline(f"the lab ran longer than {DEADLINE} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    work = tempfile.mkdtemp(prefix="crosschat-netlab.")
    lan = LanLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lan.run()
    except (Failed, Deadline, netlab.LabError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    except SystemExit:  # SIGINT/SIGTERM/SIGHUP: netlab's handler closed the lab already
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        signal.alarm(0)
        if error:
            lan.dump_logs()
        clean = lan.close()
    passed = error is None and clean
    lan.results.update({"passed": passed, "error": error, "checks": lan.checks,
                        "seconds": round(time.monotonic() - started, 1)})
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            json.dump(lan.results, f, indent=2)
    print()
    print("summary:")
    d, l, m = lan.results.get("discovery_ms", {}), lan.results.get("lost_ms", {}), lan.results.get("messages", {})
    if d.get("count"):
        print(f"  discovery   median {d['median']} ms, max {d['max']} ms over {d['count']} pairs")
    if m:
        print(f"  messages    {m['count']} sent; latency median {m['latency_ms'].get('median')} ms, "
              f"max {m['latency_ms'].get('max')} ms")
    if l.get("count"):
        print(f"  lost        median {l['median']} ms, max {l['max']} ms (limit {l['limit_ms']} ms)")
    print(f"  checks      {sum(c['passed'] for c in lan.checks)} passed, "
          f"{sum(not c['passed'] for c in lan.checks)} failed")
    if args.keep:
        print(f"  work dir    {work} (logs, captures)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-lan:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
