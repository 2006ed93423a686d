#!/bin/bash
# on_close seen through AFS: a login (root's `su -l alice`, pam_pag with
# alice's ticket from the PAM environment) starts a `setsid` process that
# outlives it; after logout that process tries to write to AFS.
#   unlog  -> the token is gone: denied
#   revoke -> the PAG keyring is revoked: denied
#   retain -> the PAG and its token stay: the write works
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
cc=/tmp/krb5cc_alice_onclose
# alice's ticket, in a cache of hers that the login's PAM environment names.
setpriv --reuid=1001 --regid=1001 --init-groups -- env -i PATH=/usr/bin:/bin KRB5CCNAME="FILE:$cc" \
  sh -c "echo '$ALICE_PW' | kinit alice >/dev/null" || fail "kinit for alice failed"
printf 'KRB5CCNAME=FILE:%s\n' "$cc" >"$STATE/onclose.env"
# The guest's /etc is a tmpfs overlay: this stack never reaches the host.
cat >/etc/pam.d/su-l <<EOF2
auth     sufficient pam_rootok.so
account  required   pam_permit.so
session  required   pam_env.so readenv=1 envfile=$STATE/onclose.env
session  required   $BIN/libpam_pag.so
EOF2
printf '%s\n' "$USER_PRELUDE" "CELL=$CELL" >"$STATE/prelude.sh"
# Where the processes left behind (alice's) write what they saw.
results=$STATE/onclose; rm -rf "$results"; mkdir -m 1777 "$results"
out=""
for mode in unlog revoke retain; do
  printf '[pam]\nprogram = "%s/aklog"\ncells = ["%s"]\non_close = "%s"\n' "$BIN" "$CELL" "$mode" \
    >/etc/security/pam_pag.toml
  result=$results/left-$mode
  cat >"$STATE/login-$mode.sh" <<EOF2
. $STATE/prelude.sh
echo "in login: key \$(has_token) write \$(try_write $SHARED/onclose-$mode-in)"
setsid -f sh -c ". $STATE/prelude.sh; sleep 2; echo \"left behind: key \\\$(has_token) write \\\$(try_write $SHARED/onclose-$mode-after)\" >$result"
EOF2
  chmod 755 "$STATE/login-$mode.sh"
  login=$(timeout 60 su -l alice -c "$STATE/login-$mode.sh" </dev/null 2>&1)
  for i in $(seq 50); do [ -s "$result" ] && break; sleep 0.2; done
  out+="$mode: $login
$mode: $(cat "$result" 2>/dev/null || echo 'left behind: no result')
"
done
echo "$out"
expect "$out" "unlog: in login: key 1 write ok
unlog: left behind: key 0 write denied*
revoke: in login: key 1 write ok
revoke: left behind: key 0 write denied*
retain: in login: key 1 write ok
retain: left behind: key 1 write ok"
pass "a setsid process left behind after logout: unlog and revoke leave it unable to write, retain keeps the token and the write"
