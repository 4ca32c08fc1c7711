#!/usr/bin/env python3
"""strelay_pump.py — bulk throughput through Syncthing's relay (strelaysrv), relay protocol v1.

Usage:
  strelay_pump.py relay  --relay HOST:PORT --cert-a A.pem --key-a A.key --cert-b B.pem --key-b B.key
                         [--bytes N] [--chunk N] [--timeout S]
  strelay_pump.py direct [--bytes N] [--chunk N] [--timeout S]

relay: device A joins the relay (protocol mode: TLS with ALPN "bep-relay" and A's client
certificate, JoinRelayRequest -> Response success); device B asks for a session with A
(ConnectRequest with A's device ID = SHA-256 of A's DER certificate -> SessionInvitation);
A receives its SessionInvitation on the joined connection; both open a plain TCP connection to
the relay and send JoinSessionRequest with their key (session mode). B then sends N bytes
(default 256 MiB) in chunks, A counts them; the time runs from both sessions joined until A has
counted every byte. Messages are XDR: header {magic 0x9E79BC40, type, length}, opaque<> =
length + bytes padded to 4, bool/uint = 4 bytes big-endian (syncthing/docs specs/relay-v1.rst).

direct: the baseline — the same pump (sender thread, receiver in the main thread) over one direct
loopback TCP connection.

Prints progress to stderr and one JSON line to stdout. Every wait is bounded by --timeout
(default 120 s). Exit 0 = completed, 1 = failed.
"""
import argparse
import hashlib
import json
import socket
import ssl
import struct
import sys
import threading
import time

MAGIC = 0x9E79BC40
PING, PONG, JOIN_RELAY, JOIN_SESSION, RESPONSE, CONNECT, INVITATION, RELAY_FULL = range(8)


def xdr_opaque(data):
    return struct.pack("!I", len(data)) + data + b"\0" * (-len(data) % 4)


def message(kind, body=b""):
    return struct.pack("!III", MAGIC, kind, len(body)) + body


def recv_exact(sock, size):
    data = bytearray()
    for _ in range(100000):
        if len(data) >= size:
            break
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the relay")
        data += chunk
    return bytes(data)


def read_message(sock):
    """Reads one message; returns (type, body). Skips pings (answered) and pongs (bounded)."""
    for _ in range(100):
        magic, kind, length = struct.unpack("!III", recv_exact(sock, 12))
        if magic != MAGIC or length > 1024:
            raise ValueError(f"bad relay message header {magic:#x} {kind} {length}")
        body = recv_exact(sock, length)
        if kind == PING:
            sock.sendall(message(PONG))
            continue
        if kind == PONG:
            continue
        return kind, body
    raise ValueError("too many pings")


class XdrReader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def uint(self):
        value = struct.unpack("!I", self.data[self.pos:self.pos + 4])[0]
        self.pos += 4
        return value

    def opaque(self):
        length = self.uint()
        if length > 1024:
            raise ValueError("opaque too long")
        value = self.data[self.pos:self.pos + length]
        self.pos += length + (-length % 4)
        return value


def parse_response(body):
    r = XdrReader(body)
    return r.uint(), r.opaque().decode("utf-8", "replace")


def parse_invitation(body):
    r = XdrReader(body)
    return {"from": r.opaque(), "key": r.opaque(), "address": r.opaque(), "port": r.uint() & 0xFFFF,
            "server_socket": bool(r.uint())}


def tls_connect(host, port, cert, key, timeout):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE        # the relay's certificate is self-signed
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["bep-relay"])
    raw = socket.create_connection((host, port), timeout=timeout)
    return context.wrap_socket(raw)


def device_id(cert_path):
    with open(cert_path, encoding="ascii") as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest()


def join_session(host, port, invitation, timeout):
    address = invitation["address"]
    if address and any(address):
        host = socket.inet_ntop(socket.AF_INET if len(address) == 4 else socket.AF_INET6, address)
    sock = socket.create_connection((host, invitation["port"]), timeout=timeout)
    sock.sendall(message(JOIN_SESSION, xdr_opaque(invitation["key"])))
    kind, body = read_message(sock)
    if kind != RESPONSE or parse_response(body)[0] != 0:
        raise ConnectionError(f"JoinSessionRequest refused: type {kind} {parse_response(body) if kind == RESPONSE else body}")
    return sock


def pump(sender, receiver, total, chunk, timeout):
    """Sends total bytes from sender (a thread) and counts them at receiver; returns (seconds, received)."""
    block = memoryview(b"x" * chunk)
    failure = []

    def send():
        sent = 0
        try:
            while sent < total:
                n = min(chunk, total - sent)
                sender.sendall(block[:n])
                sent += n
        except OSError as exc:
            failure.append(str(exc))

    receiver.settimeout(timeout)
    sender.settimeout(timeout)
    buffer = bytearray(1 << 20)
    received = 0
    start = time.monotonic()
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    deadline = start + timeout
    while received < total and time.monotonic() < deadline:
        n = receiver.recv_into(buffer)
        if n == 0:
            break
        received += n
    seconds = time.monotonic() - start
    thread.join(timeout=5)
    if failure:
        print(f"strelay_pump: sender: {failure[0]}", file=sys.stderr)
    return seconds, received


def run_relay(args):
    host, port = args.relay.rsplit(":", 1)
    port = int(port)
    id_a = device_id(args.cert_a)
    a = tls_connect(host, port, args.cert_a, args.key_a, args.timeout)
    print(f"strelay_pump: A joined TLS ({a.version()}, ALPN {a.selected_alpn_protocol()})", file=sys.stderr)
    a.sendall(message(JOIN_RELAY))
    kind, body = read_message(a)
    if kind != RESPONSE or parse_response(body)[0] != 0:
        raise ConnectionError(f"JoinRelayRequest refused: {kind} {body!r}")
    b = tls_connect(host, port, args.cert_b, args.key_b, args.timeout)
    b.sendall(message(CONNECT, xdr_opaque(id_a)))
    kind, body = read_message(b)
    if kind != INVITATION:
        raise ConnectionError(f"ConnectRequest answered with type {kind}: {parse_response(body) if kind == RESPONSE else body!r}")
    invitation_b = parse_invitation(body)
    b.close()
    kind, body = read_message(a)
    if kind != INVITATION:
        raise ConnectionError(f"A got type {kind} instead of a SessionInvitation")
    invitation_a = parse_invitation(body)
    print(f"strelay_pump: invitations: A server_socket={invitation_a['server_socket']}, "
          f"B server_socket={invitation_b['server_socket']}, session port {invitation_a['port']}", file=sys.stderr)
    session_a = join_session(host, port, invitation_a, args.timeout)
    session_b = join_session(host, port, invitation_b, args.timeout)
    seconds, received = pump(session_b, session_a, args.bytes, args.chunk, args.timeout)
    for s in (session_a, session_b, a):
        s.close()
    return seconds, received


def run_direct(args):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(args.timeout)
    sender = socket.create_connection(server.getsockname(), timeout=args.timeout)
    receiver, _ = server.accept()
    seconds, received = pump(sender, receiver, args.bytes, args.chunk, args.timeout)
    for s in (sender, receiver, server):
        s.close()
    return seconds, received


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["relay", "direct"])
    parser.add_argument("--relay", default="127.0.0.1:22067")
    parser.add_argument("--cert-a")
    parser.add_argument("--key-a")
    parser.add_argument("--cert-b")
    parser.add_argument("--key-b")
    parser.add_argument("--bytes", type=int, default=256 * 1024 * 1024)
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    error = ""
    seconds, received = 0.0, 0
    try:
        seconds, received = run_relay(args) if args.mode == "relay" else run_direct(args)
        if received < args.bytes:
            error = "incomplete"
    except (OSError, ValueError, ConnectionError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    mib = received / (1024 * 1024)
    rate = mib / seconds if seconds > 0 else 0.0
    name = "strelaysrv" if args.mode == "relay" else "python-direct"
    print(f"strelay_pump {name}: {mib:.0f} MiB in {seconds:.3f} s = {rate:.1f} MiB/s {error}", file=sys.stderr)
    print(json.dumps({"mode": name, "bytes": args.bytes, "received": received, "chunk": args.chunk,
                      "seconds": round(seconds, 4), "mib_per_s": round(rate, 1), "error": error}))
    return 0 if not error else 1


if __name__ == "__main__":
    sys.exit(main())
