#!/usr/bin/env bash
# The README's examples run as written: every ```sh block preceded by the
# marker comment <!-- e2e-readme --> is run, in order, in one shell, in a
# fresh folder, with the freshly built binary as ./jitdesk. A block that
# stops working fails CI, so the README cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d -t jitdesk-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT

script="$work/readme.sh"
python3 - "$root/README.md" "$script" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r'<!-- e2e-readme -->\s*```sh\n(.*?)```', text, re.S)
if not blocks:
    sys.exit("e2e-readme: no <!-- e2e-readme --> blocks in README.md")
with open(sys.argv[2], "w") as out:
    out.write("set -euo pipefail\n")
    for b in blocks:
        # The walk-through builds the binary from the repository; here it is
        # built already, so that line becomes a copy.
        b = b.replace("go build -o jitdesk ./cmd/jitdesk", "cp \"$JITDESK_BIN\" ./jitdesk")
        out.write(b + "\n")
print(f"e2e-readme: {len(blocks)} blocks")
PY

go build -o "$work/bin-jitdesk" ./cmd/jitdesk
cd "$work"
if ! JITDESK_BIN="$work/bin-jitdesk" bash -x "$script" >"$work/out.log" 2>&1; then
  echo "e2e-readme: FAIL: a README example did not run as written; the end of its output:" >&2
  tail -30 "$work/out.log" >&2
  exit 1
fi
# What the examples promise, checked on their output.
grep -q "revoked" "$work/out.log" || { echo "e2e-readme: FAIL: the revoked token still verified" >&2; exit 1; }
grep -q "audit chain ok" "$work/out.log" || { echo "e2e-readme: FAIL: audit verify did not report ok" >&2; tail -20 "$work/out.log" >&2; exit 1; }
echo "e2e-readme: the README's examples ran as written"
