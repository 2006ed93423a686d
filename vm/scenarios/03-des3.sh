#!/bin/bash
# A token made from a triple-DES session key (enctype 16) works against the
# fileserver: pag's rxkad-kdf drops the des3 parity bits first, as OpenAFS
# does, or the server derives another key and refuses the connection.
# The tier would have caught pag's old bug: the same ticket keyed the old way
# (rxkad-kdf over the raw 24 bytes, made by the test-only vm-token) is
# refused, while vm-token keying it as aklog does is accepted.
# For this scenario only the service asks for des3 session keys
# (session_enctypes) and alice's client puts des3 first.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
export KRB5_KDC_PROFILE=$STATE/kdc/kdc.conf
kadmin.local -q "setstr afs/$CELL session_enctypes des3-cbc-sha1" >/dev/null
trap 'kadmin.local -q "delstr afs/$CELL session_enctypes" >/dev/null' EXIT
sed 's/^\[libdefaults\]/&\n    default_tgs_enctypes = des3-cbc-sha1 aes256-cts-hmac-sha1-96/' /etc/krb5.conf >"$STATE/krb5-des3.conf"
chmod 644 "$STATE/krb5-des3.conf"
out=$(as_alice '
  export KRB5_CONFIG='"$STATE/krb5-des3.conf"'
  get_ticket && aklog || { echo "kinit/aklog failed"; exit 1; }
  klist -e | grep -A1 "afs/$CELL@" | sed "s/^/  klist: /"
  echo "session key: $(klist -e | grep -A1 "afs/$CELL@" | grep -o "Etype (skey, tkt): [^,]*")"
  echo "write with des3 token: $(try_write "$SHARED/alice-des3")"
  echo "read back: $(cat "$SHARED/alice-des3")"
  # The same ticket keyed the old way (rxkad-kdf over the raw 24 bytes) and
  # the way aklog does, by the test-only vm-token, each in a session of its own.
  keyed() {
    vm-token --cell "$CELL" --key "$KEY" --out "$HOME/des3-$KEY.token" | sed "s/^/  vm-token: /"
    keyctl padd rxrpc "afs@$CELL" @s <"$HOME/des3-$KEY.token" >/dev/null || echo "keyctl padd failed"
    echo "$KEY key write: $(try_write "$SHARED/alice-des3-$KEY")"
  }
  KEY=raw in_new_session keyed
  KEY=aklog in_new_session keyed
' 2>&1)
echo "$out"
expect "$out" "session key: Etype (skey, tkt): DEPRECATED:des3-cbc-sha1
write with des3 token: ok
read back: written by 1001
raw key write: denied*
aklog key write: ok"
refused=$(sed -n 's/^raw key write: denied (\(.*\))$/\1/p' <<<"$out")
pass "a token from a des3-cbc-sha1 session key is accepted: alice wrote and read back; the same ticket keyed over the raw 24 bytes (the old bug) is refused ($refused)"
