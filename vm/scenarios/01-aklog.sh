#!/bin/bash
# aklog stores an rxrpc key that kAFS uses: with it alice writes into
# $SHARED (ACL alice rlidwk, system:anyuser rl); the same uid in another
# session keyring, without the token, reads but cannot write; after unlog
# alice's own session cannot write either.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
out=$(as_alice '
  get_ticket || { echo "kinit failed"; exit 1; }
  aklog || { echo "aklog exit $?"; exit 1; }
  grep "rxrpc .*afs@$CELL" /proc/keys | sed "s/^/  \/proc\/keys: /"
  echo "proc keys: $(grep -c " rxrpc .*afs@$CELL: " /proc/keys)"
  echo "key: $(has_token)"
  echo "write with token: $(try_write "$SHARED/alice-1")"
  # Another session keyring of the same uid, without the token (the ticket
  # cache is there, but kAFS looks only at keys).
  other() {
    echo "other session key: $(has_token)"
    echo "other session read: $(try_read "$SHARED/readme")"
    echo "other session write: $(try_write "$SHARED/alice-2")"
  }
  in_new_session other
  echo "write with token again: $(try_write "$SHARED/alice-3")"
  unlog
  echo "key after unlog: $(has_token)"
  echo "write after unlog: $(try_write "$SHARED/alice-4")"
  echo "read after unlog: $(try_read "$SHARED/readme")"
' 2>&1)
echo "$out"
expect "$out" "proc keys: 1
key: 1
write with token: ok
other session key: 0
other session read: ok
other session write: denied*
write with token again: ok
key after unlog: 0
write after unlog: denied*
read after unlog: ok"
pass "rxrpc key afs@$CELL in /proc/keys; alice writes with it; another session of uid 1001 reads, cannot write; after unlog denied"
