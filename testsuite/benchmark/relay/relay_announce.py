#!/usr/bin/env python3
"""relay_announce.py URL: announces a fresh identity to a crosschat-relay (http:// or https://,
certificate not checked) with a signed POST /api/v1/announce and prints its peer ID, as the
relay reports it. Needs python3-cryptography (Ed25519).

The request is signed as docs/PROTOCOL.md ("Request signing") specifies: Ed25519 over
"CXR1\\nPOST\\n/api/v1/announce\\n<hex SHA-256 of the body>\\n<timestamp ms>\\n<nonce>".
"""
import base64
import hashlib
import json
import os
import ssl
import sys
import time
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

url = sys.argv[1].rstrip("/")
key = Ed25519PrivateKey.generate()
raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
body = b'{"name":"bench","addresses":["192.0.2.7:4001"]}'
path = "/api/v1/announce"
timestamp = str(int(time.time() * 1000))
nonce = os.urandom(16).hex()
signing = "\n".join(["CXR1", "POST", path, hashlib.sha256(body).hexdigest(), timestamp, nonce]).encode()
headers = {
    "Content-Type": "application/json",
    "X-CrossChat-Key": base64.b64encode(raw).decode(),
    "X-CrossChat-Timestamp": timestamp,
    "X-CrossChat-Nonce": nonce,
    "X-CrossChat-Signature": base64.b64encode(key.sign(signing)).decode(),
}
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
request = urllib.request.Request(url + path, method="POST", data=body, headers=headers)
answer = json.loads(urllib.request.urlopen(request, timeout=10, context=context).read())
print(answer["id"])
