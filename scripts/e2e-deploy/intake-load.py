"""Intake load for scripts/e2e-deploy.sh: THREADS keep-alive HTTPS
connections POST requests to jitdesk, each with its own HS256 intake token
(Python's standard library only), until STOP_FILE exists or MAX requests
were sent. Each answer's status code is appended to CODES_FILE, one a line,
as it arrives, so the caller can see how many were answered before, during
and after something it does meanwhile.

usage: intake-load.py BASE CAFILE SECRET APP_ID ISSUER CODES_FILE STOP_FILE MAX THREADS
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

base, cafile, secret, app_id, issuer, codes_file, stop_file = sys.argv[1:8]
limit, threads = int(sys.argv[8]), int(sys.argv[9])
url = urllib.parse.urlsplit(base)
ctx = ssl.create_default_context(cafile=cafile)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
lock = threading.Lock()
sent = 0
out = open(codes_file, "a", buffering=1)


def token(sub):
    now = int(time.time())
    body = b64(json.dumps({"iss": app_id, "aud": issuer, "sub": sub, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}).encode())
    return head + "." + body + "." + b64(hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest())


def worker():
    global sent
    conn = None
    while not os.path.exists(stop_file):
        with lock:
            if sent >= limit:
                return
            sent += 1
            n = sent
        if conn is None:
            conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
        try:
            conn.request("POST", "/v1/requests", body=json.dumps({"template": "k8s", "reason": f"load {n}"}),
                         headers={"Authorization": "Bearer " + token(f"load{n}"), "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            code = str(resp.status)
        except (OSError, http.client.HTTPException) as e:
            code = "error " + type(e).__name__
            conn.close()
            conn = None
        with lock:
            out.write(code + "\n")


ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
