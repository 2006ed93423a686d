#!/bin/bash
# A token expiring: alice's ticket, and so her token, lives 18 s.
# - After its end the kernel no longer finds the key (an expired key is
#   skipped by searches), so kAFS acts for alice as anonymous: a new file is
#   refused; after kinit and aklog it works again.
# - A file opened before the end still takes write()s after it: they go to
#   the page cache. Writing them back needs a key that is still valid; the
#   only one kAFS has for that file is the expired one it was opened with.
#   With no valid key Debian 12's kernel (6.1) dereferences NULL in
#   afs_store_data when the file is closed (seen here: an oops, the closing
#   process killed), so this scenario gets a fresh token and opens the file
#   again before closing it: then the write-back uses the fresh key, and the
#   data written after the expiry reaches the fileserver.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
rm -f "$SHARED"/expiry-*
out=$(as_alice '
  echo "$ALICE_PW" | kinit -l 18s alice >/dev/null || { echo "kinit failed"; exit 1; }
  aklog || { echo "aklog exit $?"; exit 1; }
  echo "write before expiry: $(try_write "$SHARED/expiry-new-1")"
  exec 3>>"$SHARED/expiry-open"
  if echo before >&3 && sync "$SHARED/expiry-open"; then echo "open file before expiry: written"; fi
  end=$(tokens --json | sed -n "s/.*\"expires\": *\([0-9]*\).*/\1/p" | head -n 1)
  echo "  token ends in $(( end - $(date +%s) )) s"
  wait=$(( end - $(date +%s) + 2 ))
  [ "$wait" -gt 0 ] && [ "$wait" -lt 60 ] && sleep "$wait"
  echo "key after expiry: $(has_token)"
  echo "write after expiry: $(try_write "$SHARED/expiry-new-2")"
  get_ticket && aklog || { echo "renewal failed"; exit 1; }
  echo "write after aklog: $(try_write "$SHARED/expiry-new-3")"
  # The fresh key opens the file too, before anything is written through
  # the old descriptor: from here on its write-back has a valid key.
  exec 4>>"$SHARED/expiry-open"
  if e=$( (echo after >&3) 2>&1 ); then echo "open file after expiry: write() accepted"; else echo "open file after expiry: refused (${e##*: })"; fi
  if e=$(sync "$SHARED/expiry-open" 2>&1); then echo "open file synced: ok"; else echo "open file synced: failed ($e)"; fi
  exec 3>&- 4>&-
' 2>&1)
echo "$out"
# What reached the fileserver: read without the page cache, as anonymous.
echo 3 >/proc/sys/vm/drop_caches
stored=$(tr '\n' ' ' <"$SHARED/expiry-open")
echo "stored: $stored"
expect "$out" "write before expiry: ok
open file before expiry: written
key after expiry: 0
write after expiry: denied*
open file after expiry: write() accepted
write after aklog: ok
open file synced: ok"
[ "$stored" = "before after " ] || fail "the file opened before the expiry holds '$stored', not 'before after '"
pass "an 18 s token: after its end the key is not found and a new file is refused, after aklog allowed; a file opened before the end takes write()s, which reach the server once a fresh key has opened the file"
