# Shared by vm/cell-setup.sh and vm/scenarios/*.sh inside the guest (sourced).
# The cell and the paths they agree on, and helpers to act as a user.

CELL=example.org
REALM=EXAMPLE.ORG
SERVER=192.0.2.1
# The guest's / is the host's, read-only over 9p, with tmpfs overlays on
# /etc, /usr, /var, /tmp, /home: everything written here stays in the guest.
STATE=/tmp/vm
AFS=$STATE/afs                      # where kAFS mounts the cell's root.cell
SHARED=$AFS/shared                  # ACL: alice rlidwk, system:anyuser rl
ALICE_PW=alice-pw-1
ADMIN_PW=admin-pw-1
# Set by vm/guest.sh: the workspace's built binaries, the unpacked packages.
: "${PAG_VM_BIN:?}" "${PAG_VM_AFS:?}" "${PAG_VM_DEBS:?}"
BIN=$PAG_VM_BIN
# OpenAFS's own tools, unpacked (never installed); Heimdal libraries beside them.
afs_tool() { LD_LIBRARY_PATH=$PAG_VM_AFS/usr/lib/x86_64-linux-gnu "$PAG_VM_AFS/usr/$1" "${@:2}"; }

# VERDICT lines are what the host driver reads (virtme-ng does not pass the
# exit status back). One per scenario, as its last word.
pass() { echo "VERDICT $SCENARIO PASS $*"; exit 0; }
fail() { echo "VERDICT $SCENARIO FAIL $*"; exit 1; }

# Helpers the snippets run as alice can use (env -i clears exported functions).
USER_PRELUDE='
# try_write FILE: "ok", or "denied (<the error>)".
try_write() { local e; if e=$( (echo "written by $(id -u)" >"$1") 2>&1 ); then echo ok; else echo "denied (${e##*: })"; fi; }
# try_read FILE: "ok", or "denied (<the error>)".
try_read() { local e; if e=$(cat "$1" 2>&1 >/dev/null); then echo ok; else echo "denied (${e##*: })"; fi; }
# get_ticket: kinit as alice with her password.
get_ticket() { echo "$ALICE_PW" | kinit alice >/dev/null; }
# has_token: 1 if the session keyring holds an rxrpc key for the cell, else 0.
has_token() { if keyctl search @s rxrpc "afs@$CELL" >/dev/null 2>&1; then echo 1; else echo 0; fi; }
# in_new_session FUNCTION: run a function of the caller in a new anonymous session keyring.
in_new_session() { keyctl session - bash -c "$USER_PRELUDE $(declare -f "$1"); $1"; }
'
eval "$USER_PRELUDE"

# Run a shell snippet as alice (uid 1001) in a brand-new anonymous session
# keyring (not a PAG), without any of root's keys. Extra args become $1...
as_alice() {
  local script=$1; shift
  setpriv --reuid=1001 --regid=1001 --init-groups -- \
    env -i PATH="$BIN:/usr/bin:/bin:/usr/sbin:/sbin" HOME=/home/alice USER=alice LOGNAME=alice \
    KRB5CCNAME="FILE:/tmp/krb5cc_alice_$$_$RANDOM" \
    USER_PRELUDE="$USER_PRELUDE" SHARED="$SHARED" AFS="$AFS" ALICE_PW="$ALICE_PW" CELL="$CELL" BIN="$BIN" \
    keyctl session - bash -c "$USER_PRELUDE$script" alice "$@"
}

# expect OUTPUT WANTED: every line of WANTED must be a line of OUTPUT (a
# trailing * matches any rest); else the scenario fails, saying which.
expect() {
  local line
  while IFS= read -r line; do
    grep -qxF -- "$line" <<<"$1" && continue
    case $line in *'*') grep -qF -- "${line%\*}" <<<"$1" && continue ;; esac
    fail "expected '$line'; got: $(grep -v '^  ' <<<"$1" | tr '\n' ';')"
  done <<<"$2"
}
