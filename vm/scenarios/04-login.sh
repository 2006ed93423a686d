#!/bin/bash
# A login through pam_pag: bob (uid 1002) runs `su -l alice` with the
# shipped conf/pam.d/su-l stack; alice's password goes to pam_krb5 (from
# target/debs/root, never installed on the host), pam_pag runs aklog and
# stores the token in the login's PAG: the session can write. A second,
# concurrent login of alice without a password (root's su: pam_rootok, so no
# ticket and no token) gets a PAG of its own and cannot write.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)
security=$PAG_VM_DEBS/usr/lib/x86_64-linux-gnu/security
grep -q '^bob:' /etc/passwd || { echo "bob:x:1002:1002::/tmp:/bin/bash" >>/etc/passwd; echo "bob:x:1002:" >>/etc/group; }
# The guest's /etc is a tmpfs overlay: these stacks never reach the host.
cat >/etc/pam.d/su <<EOF2
auth     sufficient pam_rootok.so
auth     sufficient $security/pam_krb5.so minimum_uid=1000
auth     required   pam_deny.so
account  required   pam_permit.so
password required   pam_deny.so
session  optional   $security/pam_krb5.so minimum_uid=1000
EOF2
sed "s|pam_pag.so|$BIN/libpam_pag.so|" "$repo/conf/pam.d/su-l" >/etc/pam.d/su-l
mkdir -p /etc/security
printf '[pam]\nprogram = "%s/aklog"\n' "$BIN" >/etc/security/pam_pag.toml
# Hand-shake files the logins (alice) and this script (root) both write.
flags=$STATE/flags; rm -rf "$flags"; mkdir -m 1777 "$flags"
printf '%s\n' "$USER_PRELUDE" "CELL=$CELL" >"$STATE/prelude.sh"
cat >"$STATE/login1.sh" <<EOF2
. $STATE/prelude.sh
echo "login1 key: \$(has_token)"
echo "login1 write: \$(try_write $SHARED/login-1)"
touch $flags/login1-ready
for i in \$(seq 300); do [ -e $flags/login2-done ] && break; sleep 0.2; done
echo "login1 write while login2 ran: \$(try_write $SHARED/login-1b)"
EOF2
cat >"$STATE/login2.sh" <<EOF2
. $STATE/prelude.sh
echo "login2 key: \$(has_token)"
echo "login2 read: \$(try_read $SHARED/readme)"
echo "login2 write: \$(try_write $SHARED/login-2)"
EOF2
chmod 755 "$STATE/login1.sh" "$STATE/login2.sh"
# su wants a terminal for the password: script(1) gives it one.
# The password goes in once su has asked for it: typed ahead, su's terminal
# set-up drops it (a fixed wait was too short on a busy host).
( { for i in $(seq 300); do grep -q 'Password:' "$STATE/login1.out" 2>/dev/null && break; sleep 0.2; done
    sleep 0.5; echo "$ALICE_PW"; for i in $(seq 300); do [ -e "$flags/login2-done" ] && break; sleep 0.2; done; } |
  setpriv --reuid=1002 --regid=1002 --init-groups -- env -i PATH=/usr/bin:/bin TERM=dumb \
    timeout 60 script -qec "su -l alice -c $STATE/login1.sh" /dev/null >"$STATE/login1.out" 2>&1 ) &
l1=$!
for i in $(seq 150); do [ -e "$flags/login1-ready" ] && break; sleep 0.2; done
timeout 60 su -l alice -c "$STATE/login2.sh" </dev/null >"$STATE/login2.out" 2>&1
touch "$flags/login2-done"
wait "$l1"
out=$(tr -d '\r' <"$STATE/login1.out"; cat "$STATE/login2.out")
echo "$out"
expect "$out" "login1 key: 1
login1 write: ok
login2 key: 0
login2 read: ok
login2 write: denied*
login1 write while login2 ran: ok"
pass "su -l alice with a password through pam_krb5 and pam_pag: the login writes; a concurrent login of alice without tokens cannot"
