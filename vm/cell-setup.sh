#!/bin/bash
# Inside the guest, as root: bring up cell example.org once for every
# scenario. A real MIT KDC (realm EXAMPLE.ORG), OpenAFS 1.8 ptserver and
# vlserver, then fileserver and volserver, the volume root.cell mounted with
# kAFS at $AFS, and $SHARED with an ACL giving alice write and
# system:anyuser read. Users: alice (uid 1001, AFS id 1001) and admin (in
# system:administrators, only to set the ACL).
set -euo pipefail
SCENARIO=cell-setup
. "$(dirname "$0")/lib.sh"
step() { echo "== cell-setup: $* ($(cut -d' ' -f1 /proc/uptime) s)"; }
mkdir -p "$STATE"
# On failure, the servers' logs say why.
trap 'for f in /var/log/openafs/*Log "$STATE/kdc/kdc.log"; do echo "--- $f"; tail -n 15 "$f"; done' ERR

step network
# OpenAFS servers will not register a loopback address; the VM has no
# network card, so this documentation address never leaves it.
modprobe dummy
ip link set lo up
ip link add afs0 type dummy
ip addr add "$SERVER/24" dev afs0
ip link set afs0 up
echo "$SERVER afs.$CELL afs" >>/etc/hosts

step users
echo "alice:x:1001:1001:Alice:/home/alice:/bin/bash" >>/etc/passwd
echo "alice:x:1001:" >>/etc/group
echo "alice:*:19000:0:99999:7:::" >>/etc/shadow
mkdir -p /home/alice && chown 1001:1001 /home/alice

step kdc
mkdir -p "$STATE/kdc"
cat >/etc/krb5.conf <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    # Scenario des3 asks for triple-DES session keys; krb5 1.20 refuses them without this.
    allow_des3 = true
[realms]
    $REALM = {
        kdc = $SERVER
    }
[domain_realm]
    $CELL = $REALM
    .$CELL = $REALM
EOF
cat >"$STATE/kdc/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = 88
    kdc_tcp_listen = 88
[realms]
    $REALM = {
        database_name = $STATE/kdc/principal
        key_stash_file = $STATE/kdc/stash
        acl_file = $STATE/kdc/kadm5.acl
        max_life = 10h
        # Scenario renew kinits with -r (renewable tickets); the realm's
        # value is also the default for the principals made below.
        max_renewable_life = 1h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$STATE/kdc/kdc.log
EOF
: >"$STATE/kdc/kadm5.acl"
export KRB5_KDC_PROFILE=$STATE/kdc/kdc.conf
kdb5_util create -s -r "$REALM" -P 'vm master key' >/dev/null
kadmin.local -q "addprinc -pw $ALICE_PW alice" >/dev/null
kadmin.local -q "addprinc -pw $ADMIN_PW admin" >/dev/null
# The AFS service key: AES-256 (tickets are encrypted with it) and triple DES
# (for scenario des3, which asks for 3DES session keys).
kadmin.local -q "addprinc -randkey -e aes256-cts-hmac-sha1-96:normal,des3-cbc-sha1:normal afs/$CELL" >/dev/null
kadmin.local -q "ktadd -k $STATE/afs.keytab -e aes256-cts-hmac-sha1-96:normal,des3-cbc-sha1:normal afs/$CELL" >/dev/null
krb5kdc -P "$STATE/kdc/pid"

step openafs configuration
# Servers and tools read /etc/openafs (client) and /etc/openafs/server.
mkdir -p /etc/openafs/server /var/lib/openafs/db /var/lib/openafs/local /var/log/openafs
echo "$CELL" >/etc/openafs/ThisCell
echo "$CELL" >/etc/openafs/server/ThisCell
printf '>%s\n%s #afs.%s\n' "$CELL" "$SERVER" "$CELL" >/etc/openafs/CellServDB
cp /etc/openafs/CellServDB /etc/openafs/server/CellServDB
echo admin >/etc/openafs/server/UserList
kvno=$(klist -k "$STATE/afs.keytab" | awk '/afs\//{print $1; exit}')
afs_tool sbin/asetkey add rxkad_krb5 "$kvno" 18 "$STATE/afs.keytab" "afs/$CELL@$REALM"
afs_tool sbin/asetkey add rxkad_krb5 "$kvno" 16 "$STATE/afs.keytab" "afs/$CELL@$REALM"

step database servers
afs_tool lib/openafs/ptserver &
afs_tool lib/openafs/vlserver &
# Only once the vlserver answers may the fileserver start, or it never
# registers its address (kAFS then fails with "Destination address required").
for i in $(seq 120); do
  afs_tool bin/vos listvldb -localauth >/dev/null 2>&1 && break
  [ "$i" = 120 ] && { echo "vlserver did not answer in 60 s"; exit 1; }
  sleep 0.5
done
step vlserver answers

step file servers
# The fileserver wants /vicepa at its root: a chroot on tmpfs with the
# guest's /usr, /etc, /var, /dev and the host's /work (the unpacked servers).
root=$STATE/root
mkdir -p "$root"/{usr,etc,var,dev,proc,tmp,vicepa}
for d in usr etc var dev; do mount --rbind "/$d" "$root/$d"; done
mount -t proc proc "$root/proc"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
mkdir -p "$root$PAG_VM_AFS"
mount --bind "$PAG_VM_AFS" "$root$PAG_VM_AFS"
touch "$root/vicepa/AlwaysAttach"
chroot "$root" env LD_LIBRARY_PATH="$PAG_VM_AFS/usr/lib/x86_64-linux-gnu" "$PAG_VM_AFS/usr/lib/openafs/fileserver" &
chroot "$root" env LD_LIBRARY_PATH="$PAG_VM_AFS/usr/lib/x86_64-linux-gnu" "$PAG_VM_AFS/usr/lib/openafs/volserver" &
for i in $(seq 120); do
  afs_tool bin/vos listpart "$SERVER" -localauth 2>/dev/null | grep -q /vicepa && break
  [ "$i" = 120 ] && { echo "volserver did not list /vicepa in 60 s"; exit 1; }
  sleep 0.5
done
afs_tool bin/vos create "$SERVER" a root.cell -localauth
afs_tool bin/pts createuser alice 1001 -localauth
afs_tool bin/pts createuser admin -localauth
afs_tool bin/pts adduser admin system:administrators -localauth

step kafs mount
modprobe kafs
echo "add $CELL $SERVER" >/proc/net/afs/cells
mkdir -p "$AFS"
mount -t afs "%$CELL:root.cell" "$AFS"

step shared directory and its ACL
# Done by admin with a token of its own, in a session keyring of its own.
KRB5CCNAME=FILE:$STATE/admin.cc keyctl session - bash -c '
  set -e
  echo "$1" | kinit admin >/dev/null
  "$2/aklog" -c "$3"
  # The volume root starts with system:administrators only: let everyone look up.
  "$5" "$(dirname "$4")" "system:administrators rlidwka" "system:anyuser rl"
  mkdir "$4"
  "$5" "$4" "system:administrators rlidwka" "alice rlidwk" "system:anyuser rl"
  echo "shared" >"$4/readme"
  "$2/unlog"
' admin "$ADMIN_PW" "$BIN" "$CELL" "$SHARED" "$(dirname "$0")/setacl"
step done
