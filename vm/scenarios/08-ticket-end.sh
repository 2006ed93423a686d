#!/bin/bash
# How long the fileserver accepts a ticket past its end. The kernel stops
# using an rxrpc key at the expiry in its payload header, which aklog sets
# to the ticket's end; so this token, made by the test-only vm-token from a
# 16 s ticket, says the ticket ends an hour later than it does. The kernel
# keeps using it, and what happens after the real end is the server's rule.
# OpenAFS's tkt_CheckTimes allows 15 minutes (KTC_TIME_UNCERTAINTY), but a
# Kerberos 5 ticket is refused before that check (tkt_DecodeTicket5: now >
# endtime -> RXKADEXPIRED), and a connection made before the end is
# refused after it (rxkad_CheckPacket: its expiration is the ticket's end).
# Seen here: refused a few seconds after the end, both on the connection in
# use and with a fresh key (a new connection); the aborts carry RXKADEXPIRED.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
RXKADEXPIRED=19270409
events=/sys/kernel/tracing/events/rxrpc/rxrpc_rx_abort
[ -d "$events" ] || mount -t tracefs nodev /sys/kernel/tracing || fail "no tracefs"
echo >/sys/kernel/tracing/trace
echo 1 >"$events/enable"
out=$(as_alice '
  echo "$ALICE_PW" | kinit -l 16s alice >/dev/null || { echo "kinit failed"; exit 1; }
  line=$(vm-token --cell "$CELL" --expiry-after-end 3600 --out "$HOME/end.token") || { echo "vm-token failed"; exit 1; }
  echo "  vm-token: $line"
  end=$(sed -n "s/.* end \([0-9]*\) .*/\1/p" <<<"$line")
  keyctl padd rxrpc "afs@$CELL" @s <"$HOME/end.token" >/dev/null || { echo "keyctl padd failed"; exit 1; }
  expires=$(tokens --json | sed -n "s/.*\"expires\": *\([0-9]*\).*/\1/p")
  echo "token expiry - ticket end: $(( expires - end ))"
  echo "write before the end: $(try_write "$SHARED/end-1")"
  wait=$(( end - $(date +%s) + 2 ))
  [ "$wait" -gt 0 ] && [ "$wait" -lt 60 ] && sleep "$wait"
  echo "  seconds after the end: $(( $(date +%s) - end ))"
  echo "key after the end: $(has_token)"
  echo "write after the end: $(try_write "$SHARED/end-2")"
  fresh() {
    keyctl padd rxrpc "afs@$CELL" @s <"$HOME/end.token" >/dev/null
    echo "fresh key write after the end: $(try_write "$SHARED/end-3")"
  }
  in_new_session fresh
  echo "  seconds after the end: $(( $(date +%s) - end ))"
' 2>&1)
echo 0 >"$events/enable"
aborts=$(grep -c "rxrpc_rx_abort: .* ac=$RXKADEXPIRED\$" /sys/kernel/tracing/trace)
echo "$out"
echo "RXKADEXPIRED aborts received: $aborts"
expect "$out" "token expiry - ticket end: 3600
write before the end: ok
key after the end: 1
write after the end: denied (Key has expired)
fresh key write after the end: denied (Key has expired)"
[ "$aborts" -ge 2 ] || fail "expected the fileserver to abort with RXKADEXPIRED ($RXKADEXPIRED) at least twice, saw $aborts"
after=$(sed -n 's/^  seconds after the end: //p' <<<"$out" | paste -sd/)
pass "the fileserver refuses a Kerberos 5 ticket from just after its end, no 15-minute grace: RXKADEXPIRED at ${after} s past it, on the open connection and a new one, while the kernel still held the key"
