#!/usr/bin/env python3
"""https_lab.py — chat across two NATs through an https:// relay, served directly, behind nginx and
behind HAProxy (CTest: netlab-https).

Usage: https_lab.py --crosschat PATH --relay-bin PATH [--results FILE] [--keep] [--verbose]
                    [--scenario direct|nginx|haproxy ...]

Topology (every node a network namespace of the lab; nothing touches the root namespace):

    "internet" 203.0.113.0/24:  relay host 203.0.113.10 (relay.lab.test), routers ra .1, rb .2
    LAN A 198.18.1.0/24 behind ra:  a1 198.18.1.11          LAN B 198.19.1.0/24 behind rb:  b1 198.19.1.11

The routers masquerade and drop unsolicited inbound packets (as in relay_lab.py). Every host
resolves relay.lab.test to 203.0.113.10 through its own /etc/hosts (/etc/netns/<ns>/hosts). A lab
CA (openssl) signs the relay's certificate for relay.lab.test; crosschat trusts it through
--relay-ca. crosschat runs on a1 and b1 with --relay https://relay.lab.test --relay-ca CA --no-lan
--no-hole-punching --no-port-mapping (the relay path itself is under test).

Scenarios (in this order; each starts its own relay, proxy and crosschat processes):
  direct   crosschat-relay serves TLS itself on 203.0.113.10:443 (--tls-cert/--tls-key).
           Also: a client without --relay-ca, and one that names the relay by an address its
           certificate does not hold, are refused with a relay error that names the host and why.
  nginx    nginx terminates TLS on 203.0.113.10:443 with the shipped configuration
           (Samples/RelayServer/deploy/nginx-crosschat-relay.conf: only server_name and the
           certificate paths are replaced), the relay serves plain HTTP on 127.0.0.1:5000 with
           relay.trustedProxies = 127.0.0.1 (X-Forwarded-For).
  haproxy  HAProxy in TCP mode with send-proxy-v2 on 203.0.113.10:443 (shipped
           deploy/haproxy-crosschat-relay.cfg, logging sent to stdout), the relay serves TLS on
           127.0.0.1:5000 with relay.trustedProxies = 127.0.0.1 (PROXY protocol v2).
Checks in every scenario (each wait bounded):
  1. the proxy's configuration test passes (nginx -t, haproxy -c) and it starts;
  2. a1 and b1 report the relay online at https://relay.lab.test;
  3. a1 -> b1 and b1 -> a1 by peer ID arrive exactly once with "path":"relay" and are delivered;
  4. a capture on the relay host's interface holds TLS only: none of the message texts, no API
     path ("/api/v1"), no "crosschat-" upgrade token;
  5. the relay sees the real client addresses: each client's /netinfo "reflexive" address is
     its own router's public address, never the proxy's 127.0.0.1.
  nginx and haproxy also: a flood of lookups from a1 (behind ra) is answered 429 while b1's
  lookups at the same time are not (rate limits apply to the real addresses), and the relay's
  /metrics counts the 429s; behind nginx each flood request carries a made-up X-Forwarded-For,
  which nginx appends to and the relay ignores (it takes the rightmost untrusted entry).
Exit 0 = passed, 1 = failed, 77 = skipped (not root, no namespaces, a tool missing).
"""
import argparse
import json
import os
import re
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

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEPLOY = os.path.join(REPO, "Samples", "RelayServer", "deploy")
RELAY_HOST = "relay.lab.test"
RELAY_ADDRESS = "203.0.113.10"
RELAY_URL = f"https://{RELAY_HOST}"
ROUTERS = {"a1": "203.0.113.1", "b1": "203.0.113.2"}
STEP_TIMEOUT = 20.0
MESSAGE_TIMEOUT = 45.0
SETTLE = 1.0
DEADLINE = 280   # seconds for the whole run (CTest's TIMEOUT is 300)
RELAY_DEFINES = ["relay.controlKeepaliveSeconds=2", "relay.tunnelJoinTimeoutSeconds=10"]
SCENARIOS = ("direct", "nginx", "haproxy")
FLOOD_RATE = 5   # relay.requestsPerSecondPerIp in the haproxy scenario (burst 10)


class Failed(Exception):
    """A check failed; the message says which and why."""


class Deadline(Exception):
    """The whole run took longer than DEADLINE."""


# -- certificates ------------------------------------------------------------------------------


def openssl(*args, cwd):
    result = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise netlab.LabError(f"openssl {' '.join(args)}: {result.stderr.strip()[-300:]}")


def make_certificates(work):
    """A lab CA and a server certificate for relay.lab.test signed by it (ECDSA P-256).

    Returns {"ca": path, "chain": path (server + CA), "key": path}.
    """
    directory = os.path.join(work, "pki")
    os.makedirs(directory)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=CrossChat lab CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "relay.key", "-out", "relay.csr", "-subj", f"/CN={RELAY_HOST}", cwd=directory)
    with open(os.path.join(directory, "relay.ext"), "w", encoding="utf-8") as f:
        f.write(f"subjectAltName=DNS:{RELAY_HOST}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "relay.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "relay.ext", "-out", "relay.pem", cwd=directory)
    with open(os.path.join(directory, "chain.pem"), "w", encoding="utf-8") as chain:
        for name in ("relay.pem", "ca.pem"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                chain.write(f.read())
    os.chmod(directory, 0o755)
    return {"ca": os.path.join(directory, "ca.pem"), "chain": os.path.join(directory, "chain.pem"),
            "key": os.path.join(directory, "relay.key")}


# -- proxy configurations, from the shipped files ------------------------------------------------


def substitute(text, replacements, source):
    """Replaces each (old, new) exactly once; a shipped file that changed shape fails the lab."""
    for old, new in replacements:
        if text.count(old) != 1:
            raise Failed(f"{source}: expected exactly one '{old}' to replace, found {text.count(old)}")
        text = text.replace(old, new)
    return text


def nginx_config(work, pki):
    """nginx.conf for the lab around the shipped site configuration; returns its path."""
    source = os.path.join(DEPLOY, "nginx-crosschat-relay.conf")
    with open(source, encoding="utf-8") as f:
        site = substitute(f.read(), [
            ("server_name relay.example.org;", f"server_name {RELAY_HOST};"),
            ("/etc/letsencrypt/live/relay.example.org/fullchain.pem", pki["chain"]),
            ("/etc/letsencrypt/live/relay.example.org/privkey.pem", pki["key"]),
        ], source)
    directory = os.path.join(work, "nginx")
    os.makedirs(directory)
    with open(os.path.join(directory, "crosschat-relay.conf"), "w", encoding="utf-8") as f:
        f.write(site)
    main = f"""# the lab's nginx.conf: foreground, everything in {directory}
daemon off;
master_process on;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 1024; }}
http {{
	access_log {directory}/access.log;
	client_body_temp_path {directory}/client_body;
	proxy_temp_path {directory}/proxy;
	fastcgi_temp_path {directory}/fastcgi;
	uwsgi_temp_path {directory}/uwsgi;
	scgi_temp_path {directory}/scgi;
	include {directory}/crosschat-relay.conf;
}}
"""
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(main)
    return path


def haproxy_config(work):
    """The shipped HAProxy configuration with its log sent to stdout; returns its path."""
    source = os.path.join(DEPLOY, "haproxy-crosschat-relay.cfg")
    with open(source, encoding="utf-8") as f:
        text = substitute(f.read(), [("log /dev/log daemon", "log stdout format raw daemon")], source)
    directory = os.path.join(work, "haproxy")
    os.makedirs(directory)
    path = os.path.join(directory, "haproxy.cfg")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# Run inside a namespace: HTTPS requests with the lab CA, one connection, as fast as allowed;
# with "spoof", each request carries an X-Forwarded-For naming another made-up client.
_FLOOD_SCRIPT = r"""
import http.client, json, random, ssl, sys, time
host, ca, path, seconds, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
spoof = len(sys.argv) > 6 and sys.argv[6] == "spoof"
context = ssl.create_default_context(cafile=ca)
statuses, errors = {}, []
deadline = time.monotonic() + seconds
connection = None
while time.monotonic() < deadline:
    try:
        if connection is None:
            connection = http.client.HTTPSConnection(host, 443, timeout=5, context=context)
        headers = {"X-Forwarded-For": "198.51.100.%d" % random.randint(1, 254)} if spoof else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = None
    except Exception as exc:
        errors.append(repr(exc)[:200])
        connection = None
    if pause:
        time.sleep(pause)
print(json.dumps({"statuses": statuses, "errors": errors[:5], "error_count": len(errors)}))
"""

_GET_SCRIPT = r"""
import json, ssl, sys, urllib.request
url, ca = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context(cafile=ca)) as response:
    print(json.dumps({"status": response.status, "body": response.read().decode("utf-8", "replace")}))
"""


class Instance:
    def __init__(self, name, host, address, router_address):
        self.name = name
        self.host = host
        self.address = address
        self.router_address = router_address
        self.proc = None
        self.id = None

    def __repr__(self):
        return self.name


class HttpsLab:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.lab = netlab.Lab(workdir=work)
        self.checks = []
        self.results = {"scenarios": {}}
        self.root_before = netlab.root_interfaces()
        self.procs = []   # relay and proxy of the current scenario

    # -- reporting ---------------------------------------------------------------------------

    def check(self, condition, message):
        self.checks.append({"check": message, "passed": bool(condition)})
        print(("  ok    " if condition else "  FAIL  ") + message, flush=True)
        if not condition:
            raise Failed(message)

    def note(self, message):
        print("        " + message, flush=True)

    # -- lab ---------------------------------------------------------------------------------

    def build(self):
        print("lab: internet 203.0.113.0/24 (relay.lab.test 203.0.113.10, ra, rb); a1 behind ra, b1 behind rb",
              flush=True)
        lab = self.lab
        inet = lab.add_switch("inet")
        lan_a, lan_b = lab.add_switch("lana"), lab.add_switch("lanb")
        self.relay_host = lab.add_host("relay", inet, f"{RELAY_ADDRESS}/24")
        lab.add_nat_router("ra", inet, "203.0.113.1/24", lan_a, "198.18.1.1/24")
        lab.add_nat_router("rb", inet, "203.0.113.2/24", lan_b, "198.19.1.1/24")
        self.instances = []
        for name, switch, address, gateway in (("a1", lan_a, "198.18.1.11", "198.18.1.1"),
                                               ("b1", lan_b, "198.19.1.11", "198.19.1.1")):
            host = lab.add_host(name, switch, f"{address}/24")
            host.route_add("default", via=gateway)
            self.instances.append(Instance(name, host, address, ROUTERS[name]))
        for ns in [self.relay_host] + [i.host for i in self.instances]:
            ns.set_hosts({RELAY_HOST: RELAY_ADDRESS})
        self.check(lab.wait_addresses(10), "IPv6 duplicate address detection done in every namespace")
        self.check(netlab.root_interfaces() == self.root_before, "no lab interface in the root namespace")
        for inst in self.instances:
            self.check(inst.host.ping(RELAY_ADDRESS), f"{inst.name} reaches the relay host through its NAT")
            self.check(not self.relay_host.ping(inst.address, timeout=0.5),
                       f"the relay host cannot reach {inst.name}'s LAN address")
        self.pki = make_certificates(self.work)
        self.check(True, "lab CA and a certificate for relay.lab.test (openssl)")

    # -- processes ---------------------------------------------------------------------------

    def spawn_relay(self, scenario, argv_extra):
        # In memory: the scenarios may overlap, and one data directory admits one relay.
        argv = [self.args.relay_bin, "--data-dir", ":memory:"] + argv_extra
        for define in RELAY_DEFINES:
            argv += ["--define", define]
        proc = self.relay_host.spawn(argv, name=f"relay-{scenario}",
                                     log_path=os.path.join(self.work, f"relay-{scenario}.log"))
        listening = proc.wait_for(lambda p: any("listening on" in l.text for l in p.stderr), STEP_TIMEOUT)
        self.check(listening, f"crosschat-relay starts ({proc.stderr_tail(3) if not listening else 'listening'})")
        self.procs.append(proc)
        return proc

    def spawn_proxy(self, name, argv, test_argv, ready_text):
        result = self.relay_host.run(test_argv, check=False, timeout=20)
        output = (result.stdout + result.stderr).strip()
        self.check(result.returncode == 0, f"{name}'s configuration test passes ({output[-300:]})")
        proc = self.relay_host.spawn(argv, name=name, log_path=os.path.join(self.work, f"{name}.log"))
        self.procs.append(proc)
        up = None
        for _ in range(100):
            if self.relay_host.tcp_connect(RELAY_ADDRESS, 443, 0.5) == "connected":
                up = True
                break
            if not proc.alive:
                break
            time.sleep(0.1)
        self.check(up, f"{name} listens on {RELAY_ADDRESS}:443 ({ready_text}; stderr: {proc.stderr_tail(4)})")
        return proc

    def stop_scenario_procs(self):
        for inst in self.instances:
            if inst.proc and inst.proc.alive:
                inst.proc.send("/quit")
                inst.proc.wait(10)
                inst.proc.stop()
            inst.proc = None
        for proc in reversed(self.procs):
            proc.stop(grace=5.0)
        self.procs = []

    def start_chats(self, scenario):
        for inst in self.instances:
            argv = [self.args.crosschat, "--json", "--name", inst.name,
                    "--data-dir", os.path.join(self.work, inst.name), "--relay", RELAY_URL,
                    "--relay-ca", self.pki["ca"], "--no-lan", "--no-hole-punching", "--no-port-mapping"]
            if self.args.verbose:
                argv.append("--verbose")
            inst.proc = inst.host.spawn(argv, name=f"{inst.name}-{scenario}",
                                        log_path=os.path.join(self.work, f"{inst.name}-{scenario}.log"))
        online_ms = {}
        for inst in self.instances:
            ready = inst.proc.wait_event("ready", STEP_TIMEOUT)
            self.check(ready is not None, f"{inst.name} is ready ({inst.proc.stderr_tail(4)})")
            inst.id = ready.data["id"]
            online = inst.proc.wait_event("relay", STEP_TIMEOUT, state="online")
            self.check(online is not None, f"{inst.name} reports {RELAY_URL} online "
                       f"({[e.data for e in inst.proc.find('relay')][-3:]})")
            self.check(online.data.get("url", "").rstrip("/") == RELAY_URL,
                       f"{inst.name}'s relay event names {RELAY_URL} ({online.data.get('url')})")
            online_ms[inst.name] = ms(online.t - inst.proc.started)
        self.note(f"online after {online_ms} ms")
        return online_ms

    # -- checks ------------------------------------------------------------------------------

    def exchange(self, sender, receiver, text):
        count = len(sender.proc.find("sent"))
        t_send = sender.proc.send(f"/msg {receiver.id} {text}")
        sender.proc.wait_for(lambda p: len(p.find("sent")) > count, STEP_TIMEOUT)
        sent = sender.proc.find("sent")[count:]
        self.check(sent, f"{sender.name} sent to {receiver.name}")
        message_id = sent[0].data["id"]
        got = receiver.proc.wait_event("message", MESSAGE_TIMEOUT, id=message_id)
        errors = [e.data.get("message") for e in sender.proc.find("error") if e.t >= t_send]
        self.check(got is not None and got.data.get("text") == text,
                   f"{receiver.name} received {sender.name}'s message (sender errors: {errors[-3:]})")
        self.check(got.data.get("path") == "relay", f"it came over the relay tunnel (path {got.data.get('path')!r})")
        delivered = sender.proc.wait_event("delivered", STEP_TIMEOUT, id=message_id)
        self.check(delivered is not None, f"{sender.name} got 'delivered'")
        time.sleep(SETTLE)
        self.check(len(receiver.proc.find("message", id=message_id)) == 1, "it arrived exactly once")
        return ms(got.t - t_send)

    def chat(self, scenario):
        a1, b1 = self.instances
        token = secrets.token_hex(6)
        capture = netlab.Capture(self.relay_host, "eth0", os.path.join(self.work, f"capture-{scenario}.pcap"),
                                 bpf_filter="tcp port 443",
                                 log_path=os.path.join(self.work, f"tcpdump-{scenario}.log"))
        self.check(capture.wait_listening(10), "tcpdump listens on the relay host")
        texts = [f"https-lab-{scenario}-{token}-a1-to-b1", f"https-lab-{scenario}-{token}-b1-to-a1"]
        times = [self.exchange(a1, b1, texts[0]), self.exchange(b1, a1, texts[1])]
        capture.stop()
        summary = capture.summary()
        leaked = [t for t in texts + ["/api/v1", "crosschat-control", "crosschat-tunnel"]
                  if capture.contains(t.encode("utf-8"))]
        self.check(summary["tcp_payload_bytes"] > 0, f"the capture holds the relay's TLS traffic "
                   f"({summary['tcp_payload_packets']} packets with payload, {summary['tcp_payload_bytes']} bytes)")
        self.check(not leaked, "no message text, API path or upgrade token in clear on the wire"
                   + (f" (found: {leaked})" if leaked else ""))
        return times

    def real_addresses(self):
        seen = {}
        for inst in self.instances:
            count = len(inst.proc.find("netinfo"))
            inst.proc.send("/netinfo")
            inst.proc.wait_for(lambda p: len(p.find("netinfo")) > count, STEP_TIMEOUT)
            info = inst.proc.find("netinfo")[count:]
            self.check(info, f"{inst.name} answers /netinfo")
            reflexive = info[0].data.get("reflexive", "")
            seen[inst.name] = reflexive
            self.check(reflexive.rsplit(":", 1)[0] == inst.router_address,
                       f"the relay sees {inst.name} at its router's address {inst.router_address} "
                       f"(reflexive {reflexive!r}), not the proxy's")
        return seen

    def metrics(self):
        result = self.relay_host.run([sys.executable, "-c", _GET_SCRIPT, f"{RELAY_URL}/metrics", self.pki["ca"]],
                                     check=False, timeout=15)
        self.check(result.returncode == 0, f"/metrics through the proxy ({result.stderr.strip()[-200:]})")
        body = json.loads(result.stdout)["body"]
        match = re.search(r'^crosschat_relay_rejected_total\{reason="rate_limited"\} (\d+)', body, re.M)
        return int(match.group(1)) if match else 0

    def rate_limits(self, spoof=False):
        a1, b1 = self.instances
        before = self.metrics()
        path = f"/api/v1/peers/{b1.id}"
        flood = a1.host.spawn([sys.executable, "-c", _FLOOD_SCRIPT, RELAY_HOST, self.pki["ca"], path, "4", "0"]
                              + (["spoof"] if spoof else []), name="flood")
        honest = b1.host.spawn([sys.executable, "-c", _FLOOD_SCRIPT, RELAY_HOST, self.pki["ca"], path, "4", "0.5"],
                               name="honest")
        results = {}
        for name, proc in (("flood from a1", flood), ("honest from b1", honest)):
            self.check(proc.wait(20) == 0, f"{name} finished ({proc.stderr_tail(3)})")
            output = proc.find()   # the script's one JSON line
            data = output[-1].data if output else {}
            results[name] = data
            self.note(f"{name}: statuses {data.get('statuses')}, errors {data.get('error_count')}")
        flood_429 = results["flood from a1"].get("statuses", {}).get("429", 0)
        self.check(flood_429 > 0, f"the flood from behind ra gets 429s ({results['flood from a1'].get('statuses')})"
                   + (" although each request names another client in X-Forwarded-For" if spoof else ""))
        honest_statuses = results["honest from b1"].get("statuses", {})
        self.check(honest_statuses.get("200", 0) > 0 and "429" not in honest_statuses,
                   f"b1's lookups at the same time are answered, none 429 ({honest_statuses})")
        after = self.metrics()
        self.check(after - before >= flood_429, f"/metrics counts the 429s (rate_limited {before} -> {after})")
        return results

    # -- scenarios ---------------------------------------------------------------------------

    def scenario_direct(self):
        self.spawn_relay("direct", ["--bind", RELAY_ADDRESS, "--port", "443",
                                    "--tls-cert", self.pki["chain"], "--tls-key", self.pki["key"]])
        # Refusals first: the error names the relay's host and the reason.
        refused = {}
        for label, url, extra in (("no --relay-ca (lab CA not in the system store)", RELAY_URL, []),
                                  ("address not in the certificate", f"https://{RELAY_ADDRESS}",
                                   ["--relay-ca", self.pki["ca"]])):
            inst = self.instances[0]
            proc = inst.host.spawn([self.args.crosschat, "--json", "--name", "x", "--data-dir",
                                    os.path.join(self.work, "refused"), "--relay", url, "--no-lan",
                                    "--no-hole-punching", "--no-port-mapping"] + extra, name="refused")
            event = proc.wait_for(lambda p: next((e for e in p.find("relay") if e.data.get("state") == "offline"), None),
                                  STEP_TIMEOUT)
            host = url.split("//", 1)[1]
            detail = event.data.get("detail", "") if event else ""
            self.check(event is not None and host in detail and "certificate" in detail.lower(),
                       f"{label}: the relay is reported offline with the host and the reason ({detail!r})")
            self.check(not proc.find("relay", state="online"), f"{label}: never online")
            refused[label] = detail
            proc.send("/quit")
            proc.wait(10)
            proc.stop()
        return refused

    def scenario_nginx(self):
        self.spawn_relay("nginx", ["--bind", "127.0.0.1", "--port", "5000", "--probe-port", "0",
                                   "--define", "relay.trustedProxies=127.0.0.1",
                                   "--define", f"relay.requestsPerSecondPerIp={FLOOD_RATE}"])
        config = nginx_config(self.work, self.pki)
        prefix = os.path.dirname(config)
        self.spawn_proxy("nginx", ["nginx", "-p", prefix, "-c", config],
                         ["nginx", "-t", "-p", prefix, "-c", config], "TLS terminated by nginx")

    def scenario_haproxy(self):
        self.spawn_relay("haproxy", ["--bind", "127.0.0.1", "--port", "5000", "--probe-port", "0",
                                     "--tls-cert", self.pki["chain"], "--tls-key", self.pki["key"],
                                     "--define", "relay.trustedProxies=127.0.0.1",
                                     "--define", "relay.proxyProtocol=true",
                                     "--define", f"relay.requestsPerSecondPerIp={FLOOD_RATE}"])
        config = haproxy_config(self.work)
        self.spawn_proxy("haproxy", ["haproxy", "-db", "-f", config], ["haproxy", "-c", "-f", config],
                         "TCP mode, send-proxy-v2")

    def run_scenario(self, scenario):
        print(f"scenario {scenario}:", flush=True)
        started = time.monotonic()
        result = {}
        extra = getattr(self, f"scenario_{scenario}")()
        if extra:
            result["refusals"] = extra
        result["online_ms"] = self.start_chats(scenario)
        result["message_ms"] = self.chat(scenario)
        result["reflexive"] = self.real_addresses()
        if scenario in ("nginx", "haproxy"):
            result["rate_limits"] = self.rate_limits(spoof=scenario == "nginx")
        self.stop_scenario_procs()
        result["seconds"] = round(time.monotonic() - started, 1)
        self.results["scenarios"][scenario] = result

    def close(self):
        self.stop_scenario_procs()
        self.lab.close()
        clean = not self.lab.leftovers() and netlab.root_interfaces() == self.root_before
        print(("  ok    " if clean else "  FAIL  ") + "cleanup: no lab namespace or /etc/netns entry left, "
              "root namespace unchanged", flush=True)
        return clean

    def dump_logs(self):
        for name in sorted(os.listdir(self.work)):
            if name.endswith(".log"):
                print(f"--- {name} (last lines) ---")
                with open(os.path.join(self.work, name), encoding="utf-8", errors="replace") as f:
                    for line in f.readlines()[-10:]:
                        print("    " + line.rstrip()[:300])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crosschat", required=True)
    parser.add_argument("--relay-bin", required=True)
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("NETLAB_KEEP") == "1")
    parser.add_argument("--verbose", action="store_true", help="run crosschat with --verbose")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only these scenarios (default: all, in order)")
    args = parser.parse_args()

    ok, reason = netlab.namespaces_available()
    if not ok:
        print(f"SKIPPED: netlab needs root and network namespaces ({reason})")
        return 77
    for tool in ("tcpdump", "nft", "openssl", "nginx", "haproxy"):
        if not shutil.which(tool):
            print(f"SKIPPED: the HTTPS lab needs {tool} (scripts/deps.sh installs it)")
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
    work = tempfile.mkdtemp(prefix="crosschat-httpslab.")
    os.chmod(work, 0o755)
    lab = HttpsLab(args, work)
    started = time.monotonic()
    error = None
    try:
        lab.build()
        for scenario in args.scenario or SCENARIOS:
            lab.run_scenario(scenario)
    except (Failed, Deadline, netlab.LabError) as exc:
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
    for scenario, r in lab.results["scenarios"].items():
        print(f"  {scenario:8} {r['seconds']} s; online {r.get('online_ms')} ms; messages {r.get('message_ms')} ms; "
              f"relay saw {r.get('reflexive')}")
    print(f"  checks   {sum(c['passed'] for c in lab.checks)} passed, {sum(not c['passed'] for c in lab.checks)} failed")
    if args.keep:
        print(f"  work dir {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("netlab-https:", "PASSED" if passed else f"FAILED — {error or 'cleanup incomplete'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
