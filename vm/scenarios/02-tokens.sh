#!/bin/bash
# tokens lists the rxrpc token aklog stored, with the expiry of the AFS
# service ticket it was made from (the text layout and --json agree).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
out=$(as_alice '
  get_ticket && aklog || { echo "kinit/aklog failed"; exit 1; }
  end=$(klist | awk -v s="afs/$CELL@" "index(\$0, s) {print \$3, \$4}")
  echo "ticket end: $(date -d "$end" +%s)"
  tokens | sed "s/^/  tokens: /"
  tokens --json | python3 -c "import json,sys; t=json.load(sys.stdin)[\"tokens\"]; [print(\"json:\", x[\"key_type\"], x[\"cell\"], x[\"expires\"], x[\"expired\"]) for x in t]"
  echo "text expiry: $(date -d "@$(date -d "$end" +%s)" "+%b %e %H:%M")"
' 2>&1)
echo "$out"
end=$(sed -n 's/^ticket end: //p' <<<"$out")
text=$(sed -n 's/^text expiry: //p' <<<"$out")
[ -n "$end" ] || fail "no service ticket end time: $(tr '\n' ';' <<<"$out")"
expect "$out" "json: rxrpc $CELL $end False"
grep -q "^  tokens: .*for afs@$CELL \[Expires $text\] (rxrpc key)" <<<"$out" ||
  fail "tokens did not show 'for afs@$CELL [Expires $text] (rxrpc key)': $(tr '\n' ';' <<<"$out")"
pass "tokens lists afs@$CELL as an rxrpc key expiring at the service ticket's end ($text)"
