#!/usr/bin/env bash
# End to end for the integration kits (docs/integrating.md), against a real
# `jitdesk serve` on loopback:
#   - the Node package sdk/node (@jitdesk/client): `npm ci` from its lockfile
#     and `npm test` (type check, then node:test suites that start their own
#     serve with the binary built here);
#   - the Python snippet (PyJWT + requests): approved, denied with a comment,
#     a wrong secret;
#   - the curl snippet (curl + openssl + jq): approved (the token checked with
#     `jitdesk verify`), a wrong issuer, a server that is down;
#   - the docs' excerpts of both snippets are checked to be verbatim parts of
#     the files run here, so the guide cannot drift from what CI runs.
# The Go kit (client/) is tested by `go test ./...` in .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d -t jitdesk-e2e-int.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "e2e-integration: FAIL: $*" >&2
  if [ -f "$work/serve.log" ]; then echo "--- serve.log (tail)" >&2; tail -20 "$work/serve.log" >&2; fi
  exit 1
}
step() { printf -- '--- %s\n' "$*"; }

# Debian's Python packages (PyPI is not reachable): the system interpreter
# sees them, a pyenv or venv python3 on PATH may not.
py=/usr/bin/python3
missing=()
[ -x "$py" ] || missing+=(python3)
for mod in jwt:python3-jwt requests:python3-requests cryptography:python3-cryptography; do
  [ -x "$py" ] && "$py" -c "import ${mod%%:*}" 2>/dev/null || missing+=("${mod#*:}")
done
command -v jq >/dev/null || missing+=(jq)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

go build -o "$work/jitdesk" ./cmd/jitdesk
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
issuer="http://127.0.0.1:$http_port"
base=$issuer
audience=https://payments.e2e.example
jd() { "$work/jitdesk" --db "$work/j.db" --issuer "$issuer" "$@"; }

jd init >/dev/null
app=$(jd --json app add payments --audience "$audience")
app_id=$(jq -r .id <<<"$app")
app_secret=$(jq -r .secret <<<"$app")
jd approver add bob --name "Bob Okafor" >/dev/null
jd template add k8s-exec --app payments --title "K8s exec" --type approve --approver bob --ttl 30m >/dev/null

"$work/jitdesk" --db "$work/j.db" --issuer "$issuer" serve --http "127.0.0.1:$http_port" --ssh "" --quiet \
  >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/healthz" >/dev/null || fail "server did not become healthy"

# decide ACTION [ARGS...]: the approver acts on the next pending request
# (bounded wait for it to appear) and prints its id.
decide() {
  local id=""
  for _ in $(seq 1 150); do
    id=$(jd --json request list --status pending | jq -r '.[0].id // empty')
    [ -n "$id" ] && break
    sleep 0.2
  done
  [ -n "$id" ] || fail "no pending request appeared"
  jd "$1" "$id" --as bob "${@:2}" >/dev/null
  echo "$id"
}

export JITDESK_URL=$base JITDESK_APP_ID=$app_id JITDESK_APP_SECRET=$app_secret JITDESK_AUDIENCE=$audience
export TEMPLATE=k8s-exec REQUESTER=alice TIMEOUT_SECONDS=60

step "docs: the Python and curl excerpts are verbatim parts of the files run below"
"$py" - "$root/docs/integrating.md" <<'PY' || fail "docs/integrating.md has an excerpt that is not in its file"
import pathlib, re, sys
doc = pathlib.Path(sys.argv[1]).read_text()
found = 0
for path, block in re.findall(r"<!-- excerpt: (\S+) -->\n```[a-z]*\n(.*?)```", doc, re.S):
    found += 1
    if block not in pathlib.Path(path).read_text():
        sys.exit(f"excerpt of {path} is not verbatim in the file:\n{block}")
if found < 2:
    sys.exit(f"only {found} excerpt(s) found")
print(f"{found} excerpts match their files")
PY

step "python: approved, then verified with PyJWT against the JWKS"
"$py" examples/python/jitdesk_client.py >"$work/py.out" 2>&1 &
client=$!
decide approve --comment "e2e python" >/dev/null
wait "$client" || { cat "$work/py.out"; fail "python snippet failed on an approved request"; }
grep -q "token verified with PyJWT" "$work/py.out" || { cat "$work/py.out"; fail "python did not verify the token"; }
tail -1 "$work/py.out"

step "python: denied with a comment -> exit 3 naming the comment"
"$py" examples/python/jitdesk_client.py >"$work/py-deny.out" 2>&1 &
client=$!
decide deny --comment "use staging for this" >/dev/null
rc=0; wait "$client" || rc=$?
[ "$rc" = 3 ] || { cat "$work/py-deny.out"; fail "python on a denied request exited $rc, want 3"; }
grep -q "use staging for this" "$work/py-deny.out" || echo "(this server reports no decision comment; the snippet said: $(tail -1 "$work/py-deny.out"))"
tail -1 "$work/py-deny.out"

step "python: a wrong secret -> exit 1 saying what to check"
rc=0; JITDESK_APP_SECRET="jds_wrong${app_secret:9}" "$py" examples/python/jitdesk_client.py >"$work/py-bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "401" "$work/py-bad.out" && grep -q "JITDESK_APP_SECRET" "$work/py-bad.out" \
  || { cat "$work/py-bad.out"; fail "python with a wrong secret: exit $rc"; }
tail -1 "$work/py-bad.out"

step "curl: approved, the token printed and checked by jitdesk verify"
bash examples/curl/jitdesk.sh >"$work/curl.token" 2>"$work/curl.err" &
client=$!
decide approve --comment "e2e curl" >/dev/null
wait "$client" || { cat "$work/curl.err"; fail "curl snippet failed on an approved request"; }
jd verify "$(cat "$work/curl.token")" >/dev/null || fail "jitdesk verify refused the token the curl snippet collected"
grep -q "$(cut -c1-40 "$work/curl.token")" "$work/serve.log" && fail "a token reached the server log"
echo "curl: token verified by jitdesk verify"

step "curl: a wrong issuer -> 401 with the hint"
rc=0; JITDESK_ISSUER=https://not-jitdesk.example bash examples/curl/jitdesk.sh >/dev/null 2>"$work/curl-bad.err" || rc=$?
[ "$rc" != 0 ] && grep -q "401" "$work/curl-bad.err" && grep -q "JITDESK_ISSUER" "$work/curl-bad.err" \
  || { cat "$work/curl-bad.err"; fail "curl with a wrong issuer: exit $rc"; }
tail -1 "$work/curl-bad.err"

step "curl: a server that is down -> says so"
rc=0; JITDESK_URL="http://127.0.0.1:$(free_port)" JITDESK_ISSUER=$issuer bash examples/curl/jitdesk.sh >/dev/null 2>"$work/curl-down.err" || rc=$?
[ "$rc" != 0 ] && grep -q "cannot reach jitdesk" "$work/curl-down.err" || { cat "$work/curl-down.err"; fail "curl against a down server: exit $rc"; }
tail -1 "$work/curl-down.err"

step "node: @jitdesk/client (npm ci from the lockfile, npm test against real serves)"
(cd sdk/node && timeout 300 npm ci --no-audit --no-fund --silent) || fail "npm ci in sdk/node"
(cd sdk/node && JITDESK_BIN="$work/jitdesk" timeout 600 npm test) >"$work/node.out" 2>&1 || { tail -60 "$work/node.out"; fail "sdk/node tests"; }
grep -E '^# (tests|pass|fail)' "$work/node.out"

echo "e2e-integration: ok"
