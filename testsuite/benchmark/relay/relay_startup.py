#!/usr/bin/env python3
"""relay_startup.py — how long crosschat-relay takes to start with N announced records on disk.

Usage: testsuite/benchmark/relay/relay_startup.py RELAY_BINARY [RECORDS] [RUNS]   (defaults 100000, 5)

Creates a data directory (the relay makes the schema on a first, empty start), fills the records
table with RECORDS rows (real Ed25519 public keys and the peer IDs made from them, an address
each, expiring in an hour) with Python's sqlite3, then starts the relay RUNS times on CPU 0
(taskset) and reports, per run, the time the relay logs for loading its state ("state from ...
in N ms") and the wall time from exec to its "listening on" line; medians at the end.
"""
import hashlib
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

relay = os.path.abspath(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
work = tempfile.mkdtemp(prefix="crosschat-relay-startup.")
data = os.path.join(work, "data")
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def start(port=0):
    t0 = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", "0", relay, "--bind", "127.0.0.1", "--port", str(port), "--probe-port", "0",
                             "--data-dir", data, "--define", "relay.eventLoops=1", "--define", "relay.maxPeersPerIp=1000000",
                             "--define", f"relay.maxPeers={count + 1000}"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    load_ms = None
    for line in proc.stderr:
        m = re.search(r"state from .* in (\d+) ms: (\d+) records", line)
        if m:
            load_ms, loaded = int(m.group(1)), int(m.group(2))
        if "listening on" in line:
            listening = time.monotonic() - t0
            break
    else:
        raise SystemExit("the relay did not start")
    proc.terminate()
    proc.wait(20)
    return load_ms, loaded, listening * 1000


start()   # creates the directory, the database and its schema
db = sqlite3.connect(os.path.join(data, "relay.db"))
now_ms = int(time.time() * 1000)
rows = []
for i in range(count):
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    peer_id = hashlib.sha256(SPKI_PREFIX + key).digest()
    rows.append((peer_id, key, f"peer{i}", f"198.51.{i // 250 % 256}.{i % 250 + 1}:4000", 4000, 0,
                 f"198.51.{i // 250 % 256}.{i % 250 + 1}:4000", 0, f"198.51.{i // 250 % 256}.{i % 250 + 1}", "",
                 now_ms, now_ms + 3600 * 1000))
db.executemany("INSERT INTO records (peer_id, public_key, name, addresses, chat_port, directory, observed, publish_observed,"
               " source, token, last_seen_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
print(f"{count} records in {os.path.getsize(os.path.join(data, 'relay.db')) / 1e6:.1f} MB")
loads, walls = [], []
for run in range(runs):
    load_ms, loaded, wall_ms = start()
    print(f"run {run + 1}: loaded {loaded} records in {load_ms} ms (relay's own measure); exec to listening {wall_ms:.0f} ms")
    if loaded != count:
        raise SystemExit(f"loaded {loaded}, expected {count}")
    loads.append(load_ms)
    walls.append(wall_ms)
print(f"median: load {statistics.median(loads)} ms, exec to listening {statistics.median(walls):.0f} ms ({runs} runs)")
subprocess.run(["rm", "-rf", work])
