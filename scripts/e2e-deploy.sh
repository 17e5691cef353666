#!/usr/bin/env bash
# Ready to deploy (issue 15), end to end with real processes on loopback:
#   - `serve --config FILE` (TOML) with HTTPS from a self-signed openssl
#     certificate, a separate diagnostics address and log settings;
#     `--print-config` shows where each value came from (file, env, flag)
#     and an unknown key is an error naming its line;
#   - curl over HTTPS (--cacert): /healthz, /readyz, the RFC 8414 metadata
#     document, the JWKS's ETag and 304;
#   - Node's jose discovers the JWKS through the metadata document and keeps
#     one cached key set through `keys rotate` and `keys activate`: every
#     token verifies, the new kid was in its cache before the first token
#     signed with it, and it never fetched the JWKS while its cache was
#     fresh (counted by the verifier and by jitdesk's own route counter);
#     a key set frozen before the rotation shows what staging protects from;
#   - /metrics on the diagnostics address: counters move after decisions;
#   - `jitdesk backup` while a loop submits requests over HTTPS: mode 0600,
#     its report, and `audit verify` of the copy;
#   - a webhook verified by examples/node/webhook-receiver.mjs (npm
#     standardwebhooks); a forged one refused;
#   - SIGHUP with a new certificate: new connections get it, a long-poll
#     parked on the old connection is still answered; renewed files with no
#     signal are served too;
#   - SIGTERM with a long-poll parked: it is answered 200 with the current
#     state and serve exits 0.
# Bounded waits only; everything it starts is stopped in the trap. A check
# that finds jitdesk wrong is reported and the rest still run; the script
# then exits 1 listing them.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-e2e-deploy.XXXXXX)
pids=()
cleanup() {
  { exec 7>&-; } 2>/dev/null || true # the jose verifier's command pipe
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "e2e-deploy: FAIL: $*" >&2
  if [ -f "$work/serve.log" ]; then echo "--- serve.log (tail)" >&2; tail -15 "$work/serve.log" >&2; fi
  exit 1
}
defects=()
defect() { # a check that found jitdesk wrong: reported now and at the end, the rest still runs
  echo "e2e-deploy: FAIL (continuing): $*" >&2
  defects+=("$*")
}
ok() { echo "e2e-deploy: ok: $*"; }
step() { printf -- '--- [%ss] %s\n' "$SECONDS" "$*"; }

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d examples/node/node_modules/jose ] || [ ! -d examples/node/node_modules/standardwebhooks ]; then
  (cd examples/node && timeout 300 npm ci --no-audit --no-fund --silent) || fail "npm ci in examples/node"
fi
jose_entry=$(cd examples/node && node -e 'console.log(require("module").createRequire(process.cwd() + "/package.json").resolve("jose"))')

go build -o "$work/jitdesk" ./cmd/jitdesk
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); ssh_port=$(free_port); diag_port=$(free_port); hook_port=$(free_port)
base="https://127.0.0.1:$http_port"
issuer=$base
diag="http://127.0.0.1:$diag_port"
audience=https://payments.e2e.example
db="$work/j.db"
jd() { "$work/jitdesk" --db "$db" "$@"; }
json() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(v if not isinstance(v,(dict,list,bool)) else json.dumps(v))' "$1"; }

# A self-signed certificate for 127.0.0.1, as an operator makes one.
make_cert() { # make_cert NAME: $work/NAME.pem and $work/NAME.key
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/$1.key" -out "$work/$1.pem" 2>/dev/null || fail "openssl req $1"
}
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
make_cert cert1
cacert="$work/cert1.pem"
# The certificate files serve reads (replaced in place on SIGHUP).
cp "$work/cert1.pem" "$work/tls.pem"; cp "$work/cert1.key" "$work/tls.key"; chmod 600 "$work/tls.key"
https() { curl -sS --max-time 20 --cacert "$cacert" "$@"; }

step "setup: init, an application, an approver, a template"
jd init --issuer "$issuer" >/dev/null
app=$(jd --json app add payments --audience "$audience")
app_id=$(json id <<<"$app"); app_secret=$(json secret <<<"$app")
# Limits above the load loop's rate, so its answers are about the backup.
jd app update payments --rate 2000 --burst 1000 --max-pending 5000 >/dev/null
jd approver add bob --name "Bob Okafor" >/dev/null
jd template add k8s --app payments --title "K8s exec" --type approve --approver bob --ttl 30m >/dev/null

cfg="$work/jitdesk.toml"
cat >"$cfg" <<EOF
# jitdesk serve, as deployed by e2e-deploy.sh
db = "$db"
http = "127.0.0.1:$http_port"
ssh = "127.0.0.1:$ssh_port"
host-key = "$work/host_key"
tls-cert = "$work/tls.pem"
tls-key = "$work/tls.key"
diag-addr = "127.0.0.1:$diag_port"
trusted-proxy = ["10.0.0.0/8", "192.168.0.1"]
log-level = "debug"
log-format = "json"
webhook-retention = "48h"
idle-timeout = "7m"
quiet = true
EOF

step "--print-config: the effective configuration and where each value came from"
"$work/jitdesk" serve --config "$cfg" --print-config >"$work/print.toml" 2>"$work/print.err" || { cat "$work/print.err"; fail "serve --print-config"; }
for want in "http = \"127.0.0.1:$http_port\"" "ssh = \"127.0.0.1:$ssh_port\"" "tls-cert = \"$work/tls.pem\"" \
  "tls-key = \"$work/tls.key\"" "diag-addr = \"127.0.0.1:$diag_port\"" 'log-level = "debug"' 'log-format = "json"' \
  'webhook-retention = "48h0m0s"' 'idle-timeout = "7m0s"' 'trusted-proxy = ["10.0.0.0/8", "192.168.0.1"]'; do
  line=$(grep -F -- "$want" "$work/print.toml" | head -1)
  [ -n "$line" ] || { cat "$work/print.toml" >&2; fail "--print-config lacks: $want"; }
  grep -q "# file $cfg:[0-9]" <<<"$line" || fail "--print-config does not say '$want' came from the file: $line"
done
grep -E '^(http|tls-cert|log-level) ' "$work/print.toml" | sed 's/^/  /'
# Precedence: a JITDESK_* variable over the file, a flag over both.
JITDESK_IDLE_TIMEOUT=9m "$work/jitdesk" serve --config "$cfg" --log-level warn --print-config >"$work/print2.toml"
grep -q '^idle-timeout = "9m0s"  # env JITDESK_IDLE_TIMEOUT' "$work/print2.toml" || fail "env does not win over the file: $(grep idle-timeout "$work/print2.toml")"
grep -q '^log-level = "warn"  # flag --log-level' "$work/print2.toml" || fail "a flag does not win over the file: $(grep log-level "$work/print2.toml")"
ok "--print-config: values from $(basename "$cfg") with their line; JITDESK_IDLE_TIMEOUT beats the file, --log-level beats both"
# An unknown key is an error naming its line.
printf 'http = "127.0.0.1:1"\nlog_level = "info"\nhttps = "127.0.0.1:2"\n' >"$work/bad.toml"
if "$work/jitdesk" serve --config "$work/bad.toml" --print-config >/dev/null 2>"$work/bad.err"; then fail "an unknown key in the config file was accepted"; fi
grep -q "bad.toml:3" "$work/bad.err" && grep -q '"https"' "$work/bad.err" || fail "the unknown-key error does not name the line and key: $(cat "$work/bad.err")"
ok "unknown key refused: $(cat "$work/bad.err")"
# No secret in the printed configuration: a database URL's password.
JITDESK_DB='postgres://jitdesk:e2e-s3cret-pw@127.0.0.1:1/jitdesk' "$work/jitdesk" serve --config "$cfg" --print-config >"$work/print3.toml" 2>&1 || true
if grep -q "e2e-s3cret-pw" "$work/print3.toml"; then
  defect "serve --print-config prints the database URL's password: $(grep -m1 '^db' "$work/print3.toml")"
else
  ok "--print-config redacts the database URL's password: $(grep -m1 '^db' "$work/print3.toml")"
fi

step "serve --config over HTTPS"
"$work/jitdesk" serve --config "$cfg" >"$work/serve.log" 2>&1 &
serve=$!
pids+=("$serve")
for _ in $(seq 1 100); do
  https -o /dev/null "$base/healthz" 2>/dev/null && break
  kill -0 "$serve" 2>/dev/null || fail "serve exited"
  sleep 0.1
done
[ "$(https "$base/healthz" | json status)" = ok ] || fail "/healthz over HTTPS"
ready=$(https "$base/readyz")
[ "$(json status <<<"$ready")" = ready ] || fail "/readyz: $ready"
ok "/healthz ok and /readyz $ready over HTTPS (curl --cacert, the self-signed certificate)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$http_port/healthz" || true)
[ "$code" != 200 ] || fail "plain HTTP on the HTTPS port answered 200"
if curl -sS -o /dev/null --max-time 10 "$base/healthz" 2>/dev/null; then fail "curl trusted the self-signed certificate without --cacert"; fi
rid=$(https -D - -o /dev/null -H 'X-Request-Id: e2e-deploy-42' "$base/healthz" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-request-id"{print $2}')
[ "$rid" = e2e-deploy-42 ] || fail "X-Request-Id not echoed: '$rid'"
grep -q '"request_id":"e2e-deploy-42"' "$work/serve.log" || fail "the request id is not in the log"
ok "plain HTTP and an untrusted CA are refused; X-Request-Id echoed and logged"

meta=$(https "$base/.well-known/oauth-authorization-server")
[ "$(json issuer <<<"$meta")" = "$issuer" ] || fail "metadata issuer: $meta"
[ "$(json jwks_uri <<<"$meta")" = "$base/.well-known/jwks.json" ] || fail "metadata jwks_uri: $meta"
[ "$(json introspection_endpoint <<<"$meta")" = "$base/v1/introspect" ] || fail "metadata introspection_endpoint: $meta"
[ "$(json revocation_endpoint <<<"$meta")" = "$base/v1/revoke" ] || fail "metadata revocation_endpoint: $meta"
grep -q '"EdDSA"' <<<"$(json access_token_signing_alg_values_supported <<<"$meta")" || fail "metadata lacks the signing algorithms: $meta"
ok "RFC 8414 metadata: issuer, jwks_uri, introspection and revocation endpoints, EdDSA"
jwks_curls=0 # the JWKS GETs this script makes itself, to tell them from the verifier's
etag=$(https -D - -o /dev/null "$base/.well-known/jwks.json" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
jwks_curls=$((jwks_curls + 1))
[ -n "$etag" ] || fail "the JWKS has no ETag"
code=$(https -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/.well-known/jwks.json")
jwks_curls=$((jwks_curls + 1))
[ "$code" = 304 ] || fail "JWKS with If-None-Match: $etag answered $code, want 304"
ok "JWKS ETag $etag; If-None-Match -> 304"

code=$(https -o /dev/null -w '%{http_code}' "$base/metrics")
[ "$code" = 404 ] || fail "/metrics on the public listener answered $code although diag-addr is set"
curl -fsS --max-time 10 "$diag/metrics" >"$work/m0.txt" || fail "/metrics on the diagnostics address"
grep -q '^jitdesk_http_requests_total{' "$work/m0.txt" || fail "no jitdesk_http_requests_total in /metrics"
ok "/metrics only on the diagnostics address ($diag), not on $base"

# metric FILE NAME [LABEL=VALUE...]: the sum of NAME's samples whose labels include the given ones.
metric() {
  python3 - "$@" <<'PY'
import re, sys
path, name, want = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
total = 0.0
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.strip())
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    if all(labels.get(k) == v for k, v in want.items()):
        total += float(m.group(4))
print(int(total) if total == int(total) else total)
PY
}
scrape() { curl -fsS --max-time 10 "$diag/metrics" >"$1" || fail "scrape $diag/metrics"; }

# An HS256 intake token for SUB, signed with the application's secret.
tok() {
  python3 - "$app_secret" "$app_id" "$issuer" "${1:-alice}" <<'PY'
import base64, hashlib, hmac, json, sys, time, uuid
secret, iss, aud, sub = sys.argv[1:5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": iss, "aud": aud, "sub": sub, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}).encode())
print(head + "." + body + "." + b64(hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()))
PY
}
submit() { # submit REASON [SUB]: a request over HTTPS; prints its id
  https -f "$base/v1/requests" -H "Authorization: Bearer $(tok "${2:-alice}")" -H 'Content-Type: application/json' \
    -d "{\"template\":\"k8s\",\"reason\":\"$1\"}" | json id
}
issue() { # issue LABEL: a request approved by bob from the CLI; prints the token
  local id
  id=$(jd request create --template k8s --requester "u-$1" --reason "e2e: token $1")
  jd approve "$id" --as bob --comment "e2e $1"
}

step "webhooks: examples/node/webhook-receiver.mjs verifies with standardwebhooks"
hook=$(jd --json webhook add "http://127.0.0.1:$hook_port/hook")
hook_secret=$(json secret <<<"$hook")
[[ "$hook_secret" == whsec_* ]] || fail "webhook secret is not whsec_: ${hook_secret:0:6}…"
JITDESK_WEBHOOK_SECRET=$hook_secret LISTEN="127.0.0.1:$hook_port" node examples/node/webhook-receiver.mjs >"$work/receiver.out" 2>"$work/receiver.err" &
pids+=("$!")
for _ in $(seq 1 100); do grep -q "^listening on" "$work/receiver.out" 2>/dev/null && break; sleep 0.1; done
grep -q "^listening on http://127.0.0.1:$hook_port" "$work/receiver.out" || { cat "$work/receiver.err"; fail "the webhook receiver did not start"; }
forged=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$hook_port/hook" -H 'Content-Type: application/json' \
  -H 'webhook-id: msg_forged' -H "webhook-timestamp: $(date +%s)" -H 'webhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' \
  -d '{"type":"request.decided","data":{}}')
[ "$forged" = 401 ] || fail "the receiver answered a forged delivery with $forged, want 401"
hook_req=$(submit "e2e: webhook" hookuser)
for _ in $(seq 1 150); do grep -q "\"request\":\"$hook_req\"" "$work/receiver.out" && break; sleep 0.2; done
line=$(grep -m1 "\"request\":\"$hook_req\"" "$work/receiver.out") || { cat "$work/receiver.out" "$work/receiver.err"; jd webhook log --limit 5 || true; fail "no verified delivery for $hook_req reached the receiver"; }
grep -q '"type":"request.created"' <<<"$line" || fail "the delivery for $hook_req is not request.created: $line"
ok "delivery verified by standardwebhooks and handled: $line; a forged one got 401"

step "staged key rotation, seen by one cached jose key set (discovered via the metadata document)"
scrape "$work/m1.txt"
jwks_gets() { metric "$1" jitdesk_http_requests_total 'route=GET /.well-known/jwks.json'; }
gets_before=$(jwks_gets "$work/m1.txt")
mkfifo "$work/verifier.in"
JITDESK_URL=$base JITDESK_ISSUER=$issuer JITDESK_AUDIENCE=$audience JOSE=$jose_entry NODE_EXTRA_CA_CERTS=$cacert \
  CACHE_MAX_AGE_MS=2000 node scripts/e2e-deploy/jwks-verifier.mjs <"$work/verifier.in" >"$work/verifier.out" 2>"$work/verifier.err" &
verifier=$!
pids+=("$verifier")
exec 7>"$work/verifier.in"
# Commands run in $(...) subshells, so each reads the answer count itself:
# the verifier answers one line per command, in order.
ask_wait() { # ask_wait N: bounded wait for the verifier's Nth answer line; prints it
  for _ in $(seq 1 300); do
    [ "$(wc -l <"$work/verifier.out")" -ge "$1" ] && { sed -n "${1}p" "$work/verifier.out"; return 0; }
    kill -0 "$verifier" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/verifier.err" >&2
  fail "the jose verifier gave no answer $1"
}
ask() { # ask JSON: send a command to the verifier, print its answer
  local n
  n=$(wc -l <"$work/verifier.out")
  printf '%s\n' "$1" >&7
  ask_wait $((n + 1))
}
verify() { ask "{\"cmd\":\"verify\",\"label\":\"$1\",\"token\":\"$2\"}"; }
v() { json "$2" <<<"$1"; } # v ANSWER PATH
ready=$(ask_wait 1)
[ "$(v "$ready" ready)" = True ] || [ "$(v "$ready" ready)" = true ] || fail "verifier: $ready"
kid1=$(jd --json keys list | python3 -c 'import json,sys; print([k["kid"] for k in json.load(sys.stdin) if k["active"]][0])')
echo "  verifier discovered $(v "$ready" jwks_uri); cached kids $(v "$ready" kids)"

# check_cached ANSWER: the cached set verified it and fetched only if its copy was stale.
check_cached() {
  [ "$(v "$1" cached.ok 2>/dev/null)" = true ] || fail "the cached jose key set did not verify the token: $1"
  if [ "$(v "$1" cached.fresh_before)" = true ] && [ "$(v "$1" cached.fetched)" != 0 ]; then
    fail "the cached key set fetched the JWKS while its copy was fresh (an unknown kid?): $1"
  fi
  [ "$(v "$1" cached.fetched)" -le 1 ] || fail "more than one JWKS fetch for one token: $1"
}
t1=$(issue before)
a=$(verify T1-before-rotate "$t1")
check_cached "$a"
[ "$(v "$a" kid)" = "$kid1" ] || fail "T1 is signed by $(v "$a" kid), not the active key $kid1"
[ "$(v "$a" frozen.ok)" = true ] || fail "the frozen key set refused T1: $a"
ok "T1 (before rotation) verifies, kid $kid1"

jd keys rotate >"$work/rotate.out" || fail "keys rotate"
jd --json keys list >"$work/keys-staged.json"
kid2=$(python3 -c 'import json,sys; print([k["kid"] for k in json.load(open(sys.argv[1])) if k.get("pending")][0])' "$work/keys-staged.json") \
  || fail "keys list shows no pending key after rotate: $(cat "$work/keys-staged.json")"
activates=$(python3 -c 'import json,sys; print([k.get("activates_at") for k in json.load(open(sys.argv[1])) if k.get("pending")][0])' "$work/keys-staged.json")
https "$base/.well-known/jwks.json" >"$work/jwks-staged.json"; jwks_curls=$((jwks_curls + 1))
grep -q "\"$kid2\"" "$work/jwks-staged.json" || fail "the staged key $kid2 is not in the JWKS after keys rotate"
grep -q "\"$kid1\"" "$work/jwks-staged.json" || fail "the active key left the JWKS at rotate"
echo "  $(head -1 "$work/rotate.out")"
ok "keys rotate staged $kid2 (pending, signs from $activates): published in the JWKS now beside $kid1"

t2=$(issue during-stage)
a=$(verify T2-during-stage "$t2")
check_cached "$a"
[ "$(v "$a" kid)" = "$kid1" ] || fail "a token issued during the stage is signed by $(v "$a" kid), want the old key $kid1"
[ "$(v "$a" frozen.ok)" = true ] || fail "a key set fetched before the rotation refused a token of the stage: $a"
ok "T2 (during the stage) is still signed by $kid1: even a key set fetched before the rotation verifies it"

a=$(ask '{"cmd":"refresh"}')
[ "$(v "$a" cached.ok)" = true ] && [ "$(v "$a" cached.fresh_before)" = false ] && [ "$(v "$a" cached.fetched)" = 1 ] \
  || fail "the cached key set's refresh: $a"
grep -q "$kid2" <<<"$(v "$a" cached.kids_cached)" || fail "after its refresh the cached key set lacks $kid2: $a"
ok "the cached key set refreshed once its copy aged past cacheMaxAge (2 s), as jose does: it now holds $kid2"

jd keys activate >"$work/activate.out" || fail "keys activate"
jd --json keys list | python3 -c 'import json,sys; a=[k["kid"] for k in json.load(sys.stdin) if k["active"]]; sys.exit(0 if a==[sys.argv[1]] else 1)' "$kid2" \
  || fail "after keys activate the active key is not $kid2"
t3=$(issue after-activate)
a=$(verify T3-after-activate "$t3")
check_cached "$a"
[ "$(v "$a" kid)" = "$kid2" ] || fail "a token issued after keys activate is signed by $(v "$a" kid), want $kid2"
[ "$(v "$a" cached.kid_cached_before)" = true ] || fail "the new kid $kid2 was not in the cached key set before its first token: $a"
t3_note="from its cache, no fetch"
[ "$(v "$a" cached.fetched)" = 1 ] && t3_note="its copy had aged past cacheMaxAge, so jose refreshed it first (not an unknown-kid refetch)"
[ "$(v "$a" frozen.ok)" = false ] && [ "$(v "$a" frozen.code)" = ERR_JWKS_NO_MATCHING_KEY ] \
  || fail "the control key set frozen before the rotation did not meet an unknown kid: $a"
ok "T3 (after keys activate) is signed by $kid2, which the cached set held before T3 existed: verified ($t3_note)"
ok "control: a key set fetched before the rotation and never refreshed refuses T3 with ERR_JWKS_NO_MATCHING_KEY — the check can fail; staging counts on caches refreshing within the JWKS max-age"
t4=$(issue after-activate-2)
a=$(verify T4-after-activate "$t4"); check_cached "$a"
[ "$(v "$a" kid)" = "$kid2" ] || fail "T4 kid $(v "$a" kid)"
a=$(verify T1-again "$t1"); check_cached "$a"
ok "T4 verifies; T1 (signed by the retired $kid1) still verifies: retired keys stay published"
cached_fetches=$(v "$a" cached.fetches); frozen_fetches=$(v "$a" frozen.fetches)
scrape "$work/m2.txt"
gets_after=$(jwks_gets "$work/m2.txt")
# jitdesk's own count of JWKS GETs since before the verifier started: the
# verifier's two key sets and this script's curls since then (one), no more.
want=$((cached_fetches + frozen_fetches + 1))
[ "$((gets_after - gets_before))" = "$want" ] \
  || fail "jitdesk counted $((gets_after - gets_before)) JWKS GETs, the verifier made $((cached_fetches + frozen_fetches)) and the script 1"
ok "JWKS GETs counted by jitdesk ($((gets_after - gets_before))) = the cached set's $cached_fetches (initial + refreshes on age) + the frozen set's $frozen_fetches + 1 curl: no fetch for an unknown kid"
exec 7>&-
wait "$verifier" 2>/dev/null || true

step "metrics move after decisions"
approved=$(metric "$work/m2.txt" jitdesk_decisions_total template=k8s outcome=approved)
[ "$approved" -ge 4 ] || defect "jitdesk_decisions_total{template=\"k8s\",outcome=\"approved\"} is $approved after 4 approvals with \`jitdesk approve\` (a process beside serve): serve counts only decisions it commits itself (metrics.Metrics.Committed is the Service's Observer in the serve process)"
[ "$approved" -ge 4 ] && ok "jitdesk_decisions_total{template=k8s,outcome=approved} = $approved after 4 CLI approvals"
pending_before=$(metric "$work/m2.txt" jitdesk_pending_requests)
cancel_id=$(submit "e2e: cancelled over HTTP" canceluser)
scrape "$work/m3.txt"
[ "$(metric "$work/m3.txt" jitdesk_pending_requests)" = "$((pending_before + 1))" ] || fail "jitdesk_pending_requests did not go up by one after a submit"
cancelled_before=$(metric "$work/m3.txt" jitdesk_decisions_total outcome=cancelled)
k8s_cancelled_before=$(metric "$work/m3.txt" jitdesk_decisions_total template=k8s outcome=cancelled)
https -f -o /dev/null "$base/v1/requests/$cancel_id/cancel" -H "Authorization: Bearer $(tok canceluser)" -H 'Content-Type: application/json' \
  -d '{"reason":"e2e: not needed"}' || fail "cancel $cancel_id over HTTP"
scrape "$work/m4.txt"
[ "$(metric "$work/m4.txt" jitdesk_decisions_total outcome=cancelled)" = "$((cancelled_before + 1))" ] \
  || fail "jitdesk_decisions_total{outcome=cancelled} did not move after a cancel over HTTP"
[ "$(metric "$work/m4.txt" jitdesk_decisions_total template=k8s outcome=cancelled)" = "$((k8s_cancelled_before + 1))" ] \
  || defect "a cancel of a k8s request over HTTP is counted as $(grep '^jitdesk_decisions_total{.*cancelled' "$work/m4.txt"), not under template=\"k8s\": the request.cancelled (and request.expired) audit payloads carry no template (approvals.RequestCancelled, RequestExpired), so metrics.decided files them under _other"
[ "$(metric "$work/m4.txt" jitdesk_pending_requests)" = "$pending_before" ] || fail "jitdesk_pending_requests did not go back down after the cancel"
created=$(metric "$work/m4.txt" jitdesk_http_requests_total 'route=POST /v1/requests' code=201)
[ "$created" -ge 2 ] || fail "jitdesk_http_requests_total{route=POST /v1/requests,code=201} = $created"
ok "a cancel over HTTP (a decision serve commits) moves jitdesk_decisions_total{outcome=cancelled} by 1; jitdesk_pending_requests follows submits and cancels; POST /v1/requests 201 counted $created"

step "backup under load"
# The load: scripts/e2e-deploy/intake-load.py keeps two keep-alive HTTPS
# connections posting intake requests, each with its own token, and writes
# each answer's status as it arrives. The backup runs once 50 are in; the
# load goes on until 50 more came after the backup finished.
: >"$work/load.codes"
python3 scripts/e2e-deploy/intake-load.py "$base" "$cacert" "$app_secret" "$app_id" "$issuer" \
  "$work/load.codes" "$work/load.stop" 4000 2 2>"$work/load.err" &
loader=$!
pids+=("$loader")
answered() { wc -l <"$work/load.codes"; }
for _ in $(seq 1 300); do [ "$(answered)" -ge 50 ] && break; sleep 0.1; done
[ "$(answered)" -ge 50 ] || fail "the load got fewer than 50 answers: $(sort "$work/load.codes" | uniq -c | tr '\n' ' ') $(head -3 "$work/load.err")"
before=$(answered)
t0=$(date +%s.%N)
brc=0; jd --json backup "$work/backup.db" >"$work/backup.json" 2>"$work/backup.err" || brc=$?
t1=$(date +%s.%N)
after=$(answered)
backup_s=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
for _ in $(seq 1 300); do [ "$(answered)" -ge $((after + 50)) ] && break; kill -0 "$loader" 2>/dev/null || break; sleep 0.1; done
touch "$work/load.stop"
for _ in $(seq 1 300); do kill -0 "$loader" 2>/dev/null || break; sleep 0.1; done
kill -0 "$loader" 2>/dev/null && fail "the load did not stop within 30 s"
wait "$loader" || fail "the load failed: $(tail -3 "$work/load.err")"
total=$(answered)
[ "$total" -ge $((after + 50)) ] || fail "intake did not keep answering after the backup ($after answers when it finished, $total in all)"
bad=$(grep -cvx 201 "$work/load.codes" || true)
[ "$bad" = 0 ] || fail "of $total intake answers around the backup $bad were not 201: $(sort "$work/load.codes" | uniq -c | tr '\n' ' ')"
during="$before answers before the backup, $((after - before)) during its ${backup_s}s, $((total - after)) after; all $total 201"
if [ "$brc" != 0 ]; then
  defect "jitdesk backup failed under load: $(cat "$work/backup.err")"
else
  for k in file bytes schema_version audit_events; do json "$k" <"$work/backup.json" >/dev/null || fail "backup --json lacks $k: $(cat "$work/backup.json")"; done
  [ "$(json file <"$work/backup.json")" = "$work/backup.db" ] || fail "backup --json names another file: $(cat "$work/backup.json")"
  mode=$(stat -c %a "$work/backup.db")
  [ "$mode" = 600 ] || fail "the backup's mode is $mode, want 600"
  # The copy is checked on its own, with the deployment's master key (kept apart from backups).
  "$work/jitdesk" --db "$work/backup.db" --master-key-file "$db.master-key" audit verify >"$work/backup-verify.out" 2>&1 \
    || { cat "$work/backup-verify.out"; fail "audit verify of the backup"; }
  events=$(json audit_events <"$work/backup.json")
  ok "backup under load ($during): $(tr -d '\n ' <"$work/backup.json" | cut -c1-220)"
  ok "the copy is mode $mode; $(head -1 "$work/backup-verify.out") (the report said $events)"
fi

# longpoll ID OUT CACERT: park a status long-poll in the background; sets $poll.
longpoll() {
  curl -sS --max-time 90 --cacert "$3" -o "$2" -w '%{http_code}' "$base/v1/requests/$1?wait=60s" \
    -H "Authorization: Bearer $(tok "$4")" >"$2.code" 2>"$2.err" &
  poll=$!
  pids+=("$poll")
}
wait_parked() { # wait_parked N: bounded wait until jitdesk_longpoll_waiters >= N
  for _ in $(seq 1 100); do
    scrape "$work/mw.txt"
    [ "$(metric "$work/mw.txt" jitdesk_longpoll_waiters)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "no long-poll parked (jitdesk_longpoll_waiters $(metric "$work/mw.txt" jitdesk_longpoll_waiters))"
}

step "SIGHUP with a new certificate"
hup_id=$(submit "e2e: parked across SIGHUP" hupuser)
longpoll "$hup_id" "$work/hup-poll" "$work/cert1.pem" hupuser
hup_poll=$poll
wait_parked 1
make_cert cert2
fp1=$(fingerprint "$work/cert1.pem"); fp2=$(fingerprint "$work/cert2.pem")
[ "$fp1" != "$fp2" ] || fail "the two certificates have one fingerprint"
# Replaced as an operator's tooling does: write beside, rename over.
cp "$work/cert2.key" "$work/tls.key.new"; chmod 600 "$work/tls.key.new"; cp "$work/cert2.pem" "$work/tls.pem.new"
mv "$work/tls.key.new" "$work/tls.key"; mv "$work/tls.pem.new" "$work/tls.pem"
kill -HUP "$serve"
served_fp() { openssl s_client -connect "127.0.0.1:$http_port" -servername 127.0.0.1 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2; }
got=""
for _ in $(seq 1 100); do got=$(served_fp); [ "$got" = "$fp2" ] && break; sleep 0.1; done
[ "$got" = "$fp2" ] || fail "after SIGHUP new connections get $got, want the new certificate $fp2"
kill -0 "$serve" 2>/dev/null || fail "serve died on SIGHUP"
cacert="$work/cert2.pem"
[ "$(https "$base/healthz" | json status)" = ok ] || fail "healthz with the new certificate"
if curl -sS -o /dev/null --max-time 10 --cacert "$work/cert1.pem" "$base/healthz" 2>/dev/null; then fail "a new connection still verifies against the old certificate"; fi
ok "after SIGHUP new connections get the new certificate (SHA256 ${fp2:0:23}…, was ${fp1:0:23}…); the old CA no longer verifies"
kill -0 "$hup_poll" 2>/dev/null || fail "the long-poll parked before SIGHUP ended at the reload: $(cat "$work/hup-poll" "$work/hup-poll.err")"
jd approve "$hup_id" --as bob >/dev/null
for _ in $(seq 1 100); do kill -0 "$hup_poll" 2>/dev/null || break; sleep 0.1; done
kill -0 "$hup_poll" 2>/dev/null && fail "the long-poll parked before SIGHUP did not wake on the approval"
wait "$hup_poll" || fail "the long-poll parked before SIGHUP failed: $(cat "$work/hup-poll.err")"
[ "$(cat "$work/hup-poll.code")" = 200 ] && [ "$(json status <"$work/hup-poll")" = approved ] \
  || fail "the long-poll parked before SIGHUP answered $(cat "$work/hup-poll.code"): $(cat "$work/hup-poll")"
ok "a long-poll on a connection opened with the old certificate survived the reload and was answered 200 approved"

step "a renewal without a signal"
reloads() { grep -c '"msg":"reloading files","cause":"changed ' "$work/serve.log" || true; }
before=$(reloads)
make_cert cert3
fp3=$(fingerprint "$work/cert3.pem")
cp "$work/cert3.key" "$work/tls.key.new"; chmod 600 "$work/tls.key.new"; cp "$work/cert3.pem" "$work/tls.pem.new"
mv "$work/tls.key.new" "$work/tls.key"; mv "$work/tls.pem.new" "$work/tls.pem"
got=""
for _ in $(seq 1 100); do got=$(served_fp); [ "$got" = "$fp3" ] && break; sleep 0.1; done
[ "$got" = "$fp3" ] || fail "10 s after the files were renewed (no SIGHUP) new connections get $got, want $fp3"
cacert="$work/cert3.pem"
[ "$(https "$base/healthz" | json status)" = ok ] || fail "healthz with the renewed certificate"
[ "$(reloads)" -gt "$before" ] || fail "serve did not log a reload caused by the renewed files"
ok "renewed files (renamed over, no SIGHUP) are served to new connections (SHA256 ${fp3:0:23}…); serve logged the reload"

step "SIGTERM with a long-poll parked"
term_id=$(submit "e2e: parked at SIGTERM" termuser)
longpoll "$term_id" "$work/term-poll" "$cacert" termuser
term_poll=$poll
wait_parked 1
kill -TERM "$serve"
for _ in $(seq 1 200); do kill -0 "$term_poll" 2>/dev/null || break; sleep 0.1; done
kill -0 "$term_poll" 2>/dev/null && fail "the parked long-poll was not answered within 20 s of SIGTERM"
wait "$term_poll" || fail "the parked long-poll failed at SIGTERM: $(cat "$work/term-poll.err")"
[ "$(cat "$work/term-poll.code")" = 200 ] || fail "the parked long-poll got $(cat "$work/term-poll.code") at SIGTERM: $(cat "$work/term-poll")"
[ "$(json status <"$work/term-poll")" = pending ] || fail "the parked long-poll's answer is not the current state: $(cat "$work/term-poll")"
for _ in $(seq 1 300); do kill -0 "$serve" 2>/dev/null || break; sleep 0.1; done
kill -0 "$serve" 2>/dev/null && fail "serve did not exit within 30 s of SIGTERM"
rc=0; wait "$serve" || rc=$?
[ "$rc" = 0 ] || fail "serve exited $rc after SIGTERM, want 0"
ok "SIGTERM: the parked long-poll was answered 200 {\"status\":\"pending\"…}; serve exited 0"

step "the log holds no token or secret"
for t in "$t1" "$t2" "$t3" "$t4"; do grep -qF "${t:0:60}" "$work/serve.log" && fail "an access token reached the server log"; done
grep -qF "$app_secret" "$work/serve.log" && fail "the application secret reached the server log"
grep -qF "${hook_secret#whsec_}" "$work/serve.log" && fail "the webhook secret reached the server log"
ok "no access token, application secret or webhook secret in $(wc -l <"$work/serve.log") log lines"

if [ ${#defects[@]} -gt 0 ]; then
  echo "e2e-deploy: FAIL: ${#defects[@]} check(s) found jitdesk wrong:" >&2
  for d in "${defects[@]}"; do echo "  - $d" >&2; done
  exit 1
fi
echo "e2e-deploy: all checks passed"
