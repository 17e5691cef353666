#!/usr/bin/env bash
# The trust boundary, tried the way an attacker would: real processes, real
# HTTP (curl, with intake tokens minted by Python's standard library), the
# CLI as a process, and the SQLite file edited with sqlite3 after dropping
# its triggers.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-trust.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e-trust: FAIL: $*" >&2; [ -f "$work/serve.log" ] && tail -20 "$work/serve.log" >&2; exit 1; }
ok() { echo "e2e-trust: ok: $*"; }
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3; }

go build -o "$work/jitdesk" ./cmd/jitdesk
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db="$work/j.db"
jd() { "$work/jitdesk" --db "$db" "$@"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

jd init --issuer "$base" >/dev/null
app=$(jd --json app add shop --audience https://shop.example)
app_id=$(echo "$app" | field id)
secret=$(echo "$app" | field secret)
jd approver add alice --name "Alice Example" --group sre >/dev/null
jd approver add bob --name "Bob Okafor" --group sre >/dev/null
jd approver add dave --name "Dave Nobody" >/dev/null
jd template add shell --app shop --title "Prod shell" --type approve --group sre --break-glass 15m >/dev/null

"$work/jitdesk" --db "$db" serve --http "127.0.0.1:$port" --ssh "" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# An HS256 intake token, signed with the secret exactly as printed.
tok() {
  python3 - "$secret" "$app_id" "$base" "$1" <<'PY'
import base64, hashlib, hmac, json, sys, time, uuid
secret, iss, aud, sub = sys.argv[1:5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": iss, "aud": aud, "sub": sub, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}).encode())
sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}
submit() { # submit SUB REASON -> writes the response body to $work/r.json, prints the status
  curl -s -o "$work/r.json" -w '%{http_code}' -X POST "$base/v1/requests" -H "Authorization: Bearer $(tok "$1")" \
    -H 'Content-Type: application/json' -d "{\"template\":\"shell\",\"reason\":$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$2"),\"ttl\":\"10m\"}"
}

# 1. A requester with a zero-width character is refused, naming it.
code=$(submit $'alice\u200b' "investigate the outage")
[ "$code" = 400 ] && grep -q 'U+200B' "$work/r.json" || fail "zero-width subject: HTTP $code $(cat "$work/r.json")"
ok "intake refuses a zero-width requester with 400 naming U+200B"

# 2. Look-alikes of alice are alice: she cannot approve them from the CLI.
for sub in ALICE $'\u0430lice'; do
  code=$(submit "$sub" "investigate the outage")
  [ "$code" = 201 ] || fail "submit as $sub: HTTP $code"
  id=$(field id <"$work/r.json")
  if jd approve "$id" --as alice >"$work/out" 2>&1; then fail "alice approved $sub's request"; fi
  grep -qi "own request\|is you" "$work/out" || fail "refusal for $sub does not say why: $(cat "$work/out")"
done
ok "look-alike requesters (ALICE, Cyrillic а) are refused to alice as self-approval"

# 3. The token is a bearer secret: only its approver sees it, and that is audited.
code=$(submit mallory "hotfix the checkout page")
id=$(field id <"$work/r.json")
jd approve "$id" --as bob >"$work/token"
if jd token show "$id" --as alice >"$work/out" 2>&1; then fail "alice (did not approve) was shown the token"; fi
grep -q "shown only to the approvers" "$work/out" || fail "refusal: $(cat "$work/out")"
jd token show "$id" --as bob | grep -qF "$(cat "$work/token")" || fail "bob was not shown his token"
jd --json audit log --limit 5 | grep -q '"token.shown"' || fail "the showing was not audited"
ok "token shown only to the approver who issued it, and audited"

# 4. The product's own actors cannot be impersonated.
if jd approver add system --name "System" >"$work/out" 2>&1; then fail "approver 'system' was accepted"; fi
grep -q reserved "$work/out" || fail "reserved-name refusal: $(cat "$work/out")"
ok "'system' is a reserved actor name"

# 5. Break-glass is for those who could decide the template.
id=$(jd request create --template shell --requester dave --reason "nobody answers the pager")
if jd approve "$id" --as dave --break-glass --sign-typed "Dave Nobody" --comment "prod is down, no one answers" >"$work/out" 2>&1; then
  fail "dave (not eligible for shell) broke glass"
fi
grep -q "could decide" "$work/out" || fail "break-glass refusal: $(cat "$work/out")"
ok "break-glass refused to an approver who could not decide the template"

# 6. Request data is inert on the CLI's output.
code=$(submit mallory $'deploy \e]0;pwned\a\e[2J now')
id=$(field id <"$work/r.json")
jd request show "$id" >"$work/show" 2>&1
if grep -q $'\e' "$work/show"; then fail "request show wrote a raw ESC to the terminal"; fi
grep -qF '\x1b' "$work/show" || fail "the escape is not shown visibly: $(cat "$work/show")"
ok "a reason with terminal escapes is printed inert"

# 7. One application cannot flood everyone: its rate is its own.
jd app update shop --rate 1 --burst 2 >/dev/null
# serve caches configuration per process; the new limits are read on the next calls.
got429=0
for i in 1 2 3 4 5 6; do
  code=$(curl -s -o "$work/r.json" -D "$work/h" -w '%{http_code}' -X POST "$base/v1/requests" -H "Authorization: Bearer $(tok "u$i")" \
    -H 'Content-Type: application/json' -d '{"template":"shell","reason":"load test","ttl":"10m"}')
  if [ "$code" = 429 ]; then got429=1; grep -qi '^retry-after:' "$work/h" || fail "429 without Retry-After"; break; fi
done
[ "$got429" = 1 ] || fail "six calls at rate 1/s burst 2 were never limited"
ok "an application over its rate gets 429 with Retry-After"

# 8. The database file alone holds no usable secret.
sqlite3 "$db" 'SELECT secret FROM applications' | grep -q '^jds1:' || fail "application secret not sealed"
if sqlite3 "$db" 'SELECT secret FROM applications' | grep -qF "$secret"; then fail "the printed secret is in the database"; fi
sqlite3 "$db" 'SELECT token FROM grants' | grep -q '^jds1:' || fail "stored token not sealed"
ok "secrets and tokens are sealed at rest"

# 9. Editing the tables behind jitdesk's back is named by audit verify.
first=$(sqlite3 "$db" "SELECT id FROM grants LIMIT 1")
jd revoke "$first" --as bob --reason "done with it" >/dev/null
jd audit verify >/dev/null || fail "audit verify failed before tampering"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
sqlite3 "$db" "DROP TRIGGER IF EXISTS grants_no_delete; UPDATE grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE id = '$first';"
if jd audit verify >"$work/out" 2>&1; then fail "audit verify passed an un-revoked grant"; fi
grep -q "grant $first" "$work/out" && grep -q "not revoked in the table" "$work/out" || fail "audit verify did not name the grant: $(cat "$work/out")"
ok "audit verify names the un-revoked grant: $(cut -c1-120 "$work/out")"
echo "e2e-trust: all checks passed"
