#!/usr/bin/env python3
"""strelay_idle.py — N idle devices joined to Syncthing's relay (strelaysrv), for its memory per peer.

Usage: strelay_idle.py --relay HOST:PORT [--count N] [--concurrency C] [--timeout S]
                       [--relay-pid PID] [--settle S]

Each device has its own certificate (EC P-256, made with the `cryptography` package, so that
every device ID differs: the relay refuses a second join of the same ID), connects in protocol
mode (TLS, ALPN "bep-relay", client certificate), sends JoinRelayRequest and waits for
ResponseSuccess (syncthing/docs specs/relay-v1.rst), then stays connected and idle (a Ping every
20 s keeps it inside the relay's ping interval). At most C joins run at once. With --relay-pid,
reads the relay's VmRSS before the first device and S seconds after the last joined, and prints
(after - before) / N. Bounded by --timeout (default 120 s). One JSON line on stdout.
"""
import argparse
import asyncio
import datetime
import json
import os
import resource
import ssl
import struct
import sys
import tempfile
import time

MAGIC = 0x9E79BC40
PING, PONG, JOIN_RELAY, RESPONSE = 0, 1, 2, 4


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def make_contexts(count, directory):
    """Returns count client SSLContexts, each with its own self-signed EC certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncthing")])
    now = datetime.datetime.now(datetime.timezone.utc)
    contexts = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(i + 1).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
        path = os.path.join(directory, f"d{i}.pem")
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(path)
        context.set_alpn_protocols(["bep-relay"])
        contexts.append(context)
        os.unlink(path)
    return contexts


async def join(host, port, context, timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    writer.write(struct.pack("!III", MAGIC, JOIN_RELAY, 0))
    await writer.drain()
    for _ in range(10):
        magic, kind, length = struct.unpack("!III", await asyncio.wait_for(reader.readexactly(12), timeout))
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        if magic != MAGIC:
            raise ValueError("bad magic")
        if kind == RESPONSE:
            code = struct.unpack("!I", body[:4])[0]
            if code != 0:
                raise ConnectionError(f"join refused with code {code}")
            return reader, writer
        if kind == PING:
            writer.write(struct.pack("!III", MAGIC, PONG, 0))
    raise ConnectionError("no response to JoinRelayRequest")


async def run(args):
    host, port = args.relay.rsplit(":", 1)
    before = rss_kib(args.relay_pid) if args.relay_pid else -1
    with tempfile.TemporaryDirectory(prefix="strelay-idle.") as directory:
        t0 = time.monotonic()
        contexts = make_contexts(args.count, directory)
        print(f"strelay_idle: {args.count} certificates in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    deadline = time.monotonic() + args.timeout
    semaphore = asyncio.Semaphore(args.concurrency)
    joined, errors = [], {}

    async def one(context):
        async with semaphore:
            if time.monotonic() > deadline:
                return
            try:
                joined.append(await join(host, int(port), context, max(1.0, deadline - time.monotonic())))
            except (OSError, ValueError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                key = f"{type(exc).__name__}: {exc}"[:120]
                errors[key] = errors.get(key, 0) + 1

    async def keepalive():
        for _ in range(int(args.timeout / 20) + 10):
            await asyncio.sleep(20)
            for _reader, writer in joined:
                writer.write(struct.pack("!III", MAGIC, PING, 0))

    pinger = asyncio.ensure_future(keepalive())
    start = time.monotonic()
    await asyncio.gather(*(one(c) for c in contexts))
    seconds = time.monotonic() - start
    print(f"strelay_idle: {len(joined)} of {args.count} joined in {seconds:.1f} s; errors {errors}", file=sys.stderr)
    await asyncio.sleep(args.settle)
    after = rss_kib(args.relay_pid) if args.relay_pid else -1
    cpu_per_peer_s = None
    if args.idle > 0 and args.relay_pid and joined:
        ticks_before = cpu_ticks(args.relay_pid)
        await asyncio.sleep(args.idle)
        ticks = cpu_ticks(args.relay_pid) - ticks_before
        cpu_per_peer_s = round(ticks / os.sysconf("SC_CLK_TCK") * 1e6 / len(joined) / args.idle, 3)
    alive = sum(1 for reader, _w in joined if not reader.at_eof())
    self_kib = rss_kib(os.getpid())
    pinger.cancel()
    for _reader, writer in joined:
        writer.close()
    result = {"mode": "strelaysrv-idle", "count": args.count, "joined": len(joined), "alive_after_settle": alive,
              "seconds_to_all_joined": round(seconds, 2), "relay_rss_before_kib": before,
              "relay_rss_after_kib": after, "client_rss_kib": self_kib, "errors": errors,
              "idle_s": args.idle, "relay_cpu_us_per_peer_s": cpu_per_peer_s}
    if before > 0 and after > 0 and joined:
        result["relay_bytes_per_peer"] = round((after - before) * 1024 / len(joined), 1)
    print(json.dumps(result))
    return 0 if len(joined) == args.count and alive == args.count else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relay", default="127.0.0.1:22067")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--relay-pid", type=int, default=0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--idle", type=float, default=0.0,
                        help="then measure the relay's CPU time for this many seconds of idleness")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, args.count + 1024)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
