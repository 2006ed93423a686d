#!/bin/bash
# pagsh: `pagsh -c 'aklog; ...'` gets a token in the new PAG and writes;
# the caller's session never sees it; `pagsh --keep-tokens` carries the
# caller's token into the new PAG (writes there), plain pagsh does not.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
out=$(as_alice '
  get_ticket || { echo "kinit failed"; exit 1; }
  echo "pagsh aklog write: $(pagsh -c "aklog && . /dev/stdin" <<<"$USER_PRELUDE try_write \"$SHARED/pagsh-1\"")"
  echo "caller key after pagsh: $(has_token)"
  aklog
  echo "keep-tokens write: $(pagsh --keep-tokens -c ". /dev/stdin" <<<"$USER_PRELUDE try_write \"$SHARED/pagsh-2\"")"
  echo "plain pagsh write: $(pagsh -c ". /dev/stdin" <<<"$USER_PRELUDE try_write \"$SHARED/pagsh-3\"")"
' 2>&1)
echo "$out"
expect "$out" "pagsh aklog write: ok
caller key after pagsh: 0
keep-tokens write: ok
plain pagsh write: denied*"
pass "pagsh -c 'aklog; ...' writes, its token stays in its PAG; --keep-tokens carries the token, plain pagsh does not"
