#!/usr/bin/env bash
# A jitdesk application client in shell: curl for HTTP, openssl for the
# HS256 intake token, jq for JSON. Submits a request, long-polls until an
# approver decides, and prints the access token on stdout.
#
# Environment: JITDESK_URL, JITDESK_APP_ID, JITDESK_APP_SECRET (exactly as
# `jitdesk app add` printed it), TEMPLATE, REQUESTER; optional
# JITDESK_ISSUER (default: the discovery document's issuer, else
# JITDESK_URL), REASON, TTL, TIMEOUT_SECONDS (default 120).
# Exit codes: 0 token printed, 3 denied/expired/cancelled, 4 still pending
# at the timeout, 1 anything else (the message says what to fix).
set -euo pipefail
: "${JITDESK_URL:?set JITDESK_URL}" "${JITDESK_APP_ID:?set JITDESK_APP_ID}" "${JITDESK_APP_SECRET:?set JITDESK_APP_SECRET}"
: "${TEMPLATE:?set TEMPLATE}" "${REQUESTER:?set REQUESTER}"
base=${JITDESK_URL%/}
issuer=${JITDESK_ISSUER:-$(curl -fsS "$base/.well-known/oauth-authorization-server" 2>/dev/null | jq -r '.issuer // empty' || true)}
issuer=${issuer:-$base}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# intake_token USER: a fresh single-use HS256 intake token (jitdesk burns
# each jti). The HMAC key is the secret string exactly as printed.
intake_token() {
  local now header payload sig
  now=$(date +%s)
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(jq -cn --arg iss "$JITDESK_APP_ID" --arg aud "$issuer" --arg sub "$1" --arg jti "$(openssl rand -hex 16)" \
    --argjson now "$now" '{iss:$iss,aud:$aud,sub:$sub,iat:$now,exp:($now+120),jti:$jti}' | b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -mac HMAC -macopt "key:$JITDESK_APP_SECRET" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}

# api METHOD PATH [curl args...]: one call; prints the body. On failure it
# prints jitdesk's problem detail and returns 2 when retrying may help
# (unreachable, 429, 5xx), else 1.
api() {
  local method=$1 path=$2 out code
  shift 2
  out=$(mktemp)
  code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$base$path" \
    -H "Authorization: Bearer $(intake_token "$REQUESTER")" "$@") || { rm -f "$out"; echo "jitdesk.sh: cannot reach jitdesk at $base: check JITDESK_URL and that \`jitdesk serve\` is running" >&2; return 2; }
  if [ "$code" -ge 400 ]; then
    echo "jitdesk.sh: $method $path: $code $(jq -r '.detail // empty' "$out" 2>/dev/null)" >&2
    if [ "$code" = 401 ]; then echo "jitdesk.sh: check JITDESK_APP_ID, JITDESK_APP_SECRET (as printed), JITDESK_ISSUER and the clock" >&2; fi
    rm -f "$out"
    if [ "$code" = 429 ] || [ "$code" -ge 500 ]; then return 2; fi
    return 1
  fi
  cat "$out"
  rm -f "$out"
}

body=$(jq -cn --arg t "$TEMPLATE" --arg r "${REASON:-curl example request}" --arg ttl "${TTL:-}" \
  '{template:$t, reason:$r} + (if $ttl != "" then {ttl:$ttl} else {} end)')
req=$(api POST /v1/requests -H 'Content-Type: application/json' -d "$body")
id=$(jq -r .id <<<"$req")
echo "curl: submitted request $id; waiting for a decision" >&2

deadline=$(( $(date +%s) + ${TIMEOUT_SECONDS:-120} ))
status=$(jq -r .status <<<"$req")
while [ "$status" = pending ]; do
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -le 0 ]; then echo "curl: request $id still pending at the timeout" >&2; exit 4; fi
  wait_s=$(( left < 30 ? left : 30 ))
  rc=0
  req=$(api GET "/v1/requests/$id?wait=${wait_s}s" --max-time $(( wait_s + 15 ))) || rc=$?
  if [ "$rc" = 2 ]; then sleep 1; continue; fi   # jitdesk down or busy: retry until the deadline
  if [ "$rc" != 0 ]; then exit 1; fi
  status=$(jq -r .status <<<"$req")
done
if [ "$status" != approved ]; then
  echo "curl: request $id was $status by $(jq -r '.decision.by // .decided_by // "?"' <<<"$req"): $(jq -c '.decision.comment // ""' <<<"$req")" >&2
  exit 3
fi
api GET "/v1/requests/$id/token" | jq -r .access_token
