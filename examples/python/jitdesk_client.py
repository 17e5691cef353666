#!/usr/bin/env python3
"""A jitdesk application client in Python (PyJWT + requests).

Asks jitdesk for just-in-time access for a user, long-polls until an
approver decides, collects the access token and verifies it offline against
jitdesk's JWKS (found through the discovery document), checking typ, iss,
aud, exp and scope.

Environment: JITDESK_URL, JITDESK_APP_ID, JITDESK_APP_SECRET (exactly as
`jitdesk app add` printed it), JITDESK_AUDIENCE (the application's
--audience), TEMPLATE, REQUESTER; optional JITDESK_ISSUER (default: the
discovery document's issuer), REASON, TTL, TIMEOUT_SECONDS (default 120).

Exit codes: 0 approved and verified, 3 denied/expired/cancelled (the
approver's comment on stderr), 4 still pending at the timeout, 1 any other
error (the message says what to fix).
"""
import json
import os
import sys
import time
import uuid

import jwt  # PyJWT
import requests


class JitdeskError(Exception):
    """jitdesk answered a problem (RFC 9457) or could not be reached."""


def need(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"jitdesk_client: set {name}")
    return value


BASE = need("JITDESK_URL").rstrip("/")
APP_ID = need("JITDESK_APP_ID")
SECRET = need("JITDESK_APP_SECRET")  # the HMAC key is the string as printed
AUDIENCE = need("JITDESK_AUDIENCE")
TEMPLATE = need("TEMPLATE")
REQUESTER = need("REQUESTER")
session = requests.Session()


def discovery():
    """RFC 8414 metadata, or the conventional JWKS path on older servers."""
    r = session.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=10)
    if r.status_code == 404:
        return {"jwks_uri": f"{BASE}/.well-known/jwks.json"}
    r.raise_for_status()
    return r.json()


META = discovery()
ISSUER = os.environ.get("JITDESK_ISSUER") or META.get("issuer") or BASE


def intake_token(user):
    """A fresh single-use HS256 intake token: jitdesk burns each jti."""
    now = int(time.time())
    claims = {"iss": APP_ID, "aud": ISSUER, "sub": user, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": "JWT"})


def call(method, path, user=REQUESTER, timeout=10, **kw):
    headers = {"Authorization": f"Bearer {intake_token(user)}"}
    try:
        r = session.request(method, BASE + path, headers=headers, timeout=timeout, **kw)
    except requests.ConnectionError as e:
        raise JitdeskError(f"cannot reach jitdesk at {BASE} ({e.__class__.__name__}): check JITDESK_URL and that `jitdesk serve` is running")
    if r.status_code >= 400:
        try:
            problem = r.json()
        except ValueError:
            problem = {}
        hint = ""
        if r.status_code == 401:
            hint = " (check JITDESK_APP_ID, JITDESK_APP_SECRET as printed, JITDESK_ISSUER and the clock)"
        raise JitdeskError(f"{method} {path}: {r.status_code} {problem.get('detail', r.reason)}{hint}", r.status_code, problem)
    return r.json()


def wait(request_id, deadline):
    """Long-poll until decided, riding out restarts and honouring Retry-After."""
    delay = 0.2
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        ask = max(1, min(30, int(left)))
        try:
            req = call("GET", f"/v1/requests/{request_id}?wait={ask}s", timeout=ask + 15)
            delay = 0.2
            if req["status"] != "pending":
                return req
        except JitdeskError as e:
            status = e.args[1] if len(e.args) > 1 else None
            if status is not None and status < 500 and status != 429:
                raise
            time.sleep(min(delay, max(0, deadline - time.time())))
            delay = min(delay * 2, 5)


def verify(access_token, scope):
    """Offline verification against the JWKS: signature, typ, iss, aud, exp, scope."""
    header = jwt.get_unverified_header(access_token)
    if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError(f"typ {header.get('typ')!r} is not at+jwt")
    key = jwt.PyJWKClient(META["jwks_uri"]).get_signing_key_from_jwt(access_token).key
    claims = jwt.decode(access_token, key, algorithms=["EdDSA", "RS256", "ES256"], audience=AUDIENCE, issuer=ISSUER,
                        options={"require": ["exp", "iat", "sub", "jti"]})
    if scope not in claims.get("scope", "").split():
        raise jwt.InvalidTokenError(f"scope {claims.get('scope')!r} does not include {scope!r}")
    return claims


def main():
    deadline = time.time() + float(os.environ.get("TIMEOUT_SECONDS", "120"))
    body = {"template": TEMPLATE, "reason": os.environ.get("REASON", "python example request")}
    if os.environ.get("TTL"):
        body["ttl"] = os.environ["TTL"]
    created = call("POST", "/v1/requests", json=body)
    print(f"python: submitted request {created['id']}; waiting for a decision", flush=True)
    req = created if created["status"] != "pending" else wait(created["id"], deadline)
    if req is None:
        print(f"python: request {created['id']} still pending at the timeout", file=sys.stderr)
        return 4
    if req["status"] != "approved":
        d = req.get("decision") or {}
        print(f"python: request {req['id']} was {req['status']} by {d.get('by', req.get('decided_by', '?'))}: "
              f"{json.dumps(d.get('comment', ''))}", file=sys.stderr)
        return 3
    tok = call("GET", f"/v1/requests/{req['id']}/token")
    claims = verify(tok["access_token"], TEMPLATE)
    if claims["sub"] != REQUESTER or claims["jit"]["request_id"] != req["id"]:
        raise jwt.InvalidTokenError("token is for someone or something else")
    print(f"python: token verified with PyJWT (sub {claims['sub']}, scope {claims['scope']}, "
          f"approvers {','.join(claims['jit']['approvers'])})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (JitdeskError, jwt.PyJWTError) as e:
        print(f"python: {e.args[0] if e.args else e}", file=sys.stderr)
        sys.exit(1)
