#!/usr/bin/env python3
"""disco_announce.py SCHEME PORT WORKDIR: announces one device to a running stdiscosrv and prints
"<known device ID> <unknown device ID>".

http:  POST / with the device certificate URL-encoded in X-SSL-Cert (as stdiscosrv's HTTPS proxy
       forwards it), from 192.0.2.7 (X-Forwarded-For).
https: POST / over TLS with the device certificate as the client certificate.
Device ID = SHA-256 of the DER certificate (the 52-character base32 form, which stdiscosrv
accepts as well as the form with check characters). Certificates are made with openssl.
"""
import base64
import hashlib
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request

scheme, port, work = sys.argv[1], sys.argv[2], sys.argv[3]


def make_cert(name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "30", "-subj", "/CN=syncthing", "-keyout", f"{work}/{name}-key.pem",
                    "-out", f"{work}/{name}-cert.pem"], check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(open(f"{work}/{name}-cert.pem").read())
    return base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=")


known = make_cert("device")
unknown = make_cert("other")
body = b'{"addresses":["tcp://192.0.2.7:22000"]}'
if scheme == "http":
    pem = open(f"{work}/device-cert.pem").read()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", method="POST", data=body,
                                     headers={"X-SSL-Cert": urllib.parse.quote(pem), "X-Forwarded-For": "192.0.2.7",
                                              "Content-Type": "application/json"})
    status = urllib.request.urlopen(request, timeout=5).status
else:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(f"{work}/device-cert.pem", f"{work}/device-key.pem")
    request = urllib.request.Request(f"https://127.0.0.1:{port}/", method="POST", data=body,
                                     headers={"Content-Type": "application/json"})
    status = urllib.request.urlopen(request, timeout=5, context=context).status
assert status == 204, status
print(known, unknown)
