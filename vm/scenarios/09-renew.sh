#!/bin/bash
# A job writing to AFS for longer than its ticket lives keeps writing (issue
# 12): alice kinits a 15 s ticket renewable for 5 minutes and starts
# `pagsh --renew -- JOB`; the job, for 45 s (three lifetimes), opens a
# new file under $SHARED every ~2 s and writes to it. `aklog --renew` renews
# the ticket a third of its life before its end and puts a fresh rxrpc key
# over the old one, so every file is opened with a valid key (files opened
# before an expiry and written back after it are another matter: 07-expiry).
# The job records, per iteration, ok/denied and the expiry of the token it
# sees; afterwards every file must be on the fileserver.
# Not shorter than 15 s: under TCG, kinit to the job's start (pagsh, two
# execs, a refresh worker, an AFS ticket) took up to 12 s, a whole 12 s
# ticket, in one run.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
rm -f "$SHARED"/renew-*
# The job, run by pagsh in its new PAG (bash for the prelude's helpers).
job='
  start=$(date +%s); i=0
  echo "job start: $start"
  while [ $(( $(date +%s) - start )) -lt 45 ]; do
    i=$((i + 1))
    r=$(try_write "$SHARED/renew-$i")
    e=$(tokens --json | sed -n "s/.*\"expires\": *\([0-9]*\).*/\1/p" | head -n 1)
    echo "iteration $i at $(( $(date +%s) - start )) s: $r, token expires=${e:-none}"
    sleep 2
  done
  echo "iterations: $i"
'
out=$(as_alice '
  echo "$ALICE_PW" | kinit -l 15s -r 5m alice >/dev/null || { echo "kinit failed"; exit 1; }
  klist -f | grep -A1 "krbtgt/" | sed "s/^/  klist: /"
  flags=$(klist -f | sed -n "/krbtgt\//{n;s/.*Flags: *//p}")
  case $flags in *R*) echo "ticket renewable: yes" ;; *) echo "ticket renewable: no ($flags)" ;; esac
  pagsh --renew --cell "$CELL" -- bash -c "$USER_PRELUDE$1"
  echo "pagsh exit: $?"
  echo "key in the caller'"'"'s session: $(has_token)"
' "$job" 2>&1)
echo "$out"
expect "$out" "ticket renewable: yes
pagsh exit: 0
key in the caller's session: 0"

start=$(sed -n 's/^job start: //p' <<<"$out")
n=$(sed -n 's/^iterations: //p' <<<"$out")
[ -n "$start" ] && [ -n "$n" ] || fail "the job did not report its start and iterations"
iterations=$(grep '^iteration ' <<<"$out")
ok=$(grep -c ': ok, ' <<<"$iterations")
last=$(tail -n 1 <<<"$iterations" | sed -n 's/^iteration [0-9]* at \([0-9]*\) s:.*/\1/p')
# The distinct expiries, in the order seen; each must be later than the one before.
expiries=$(sed -n 's/.*token expires=\([0-9]*\)$/\1/p' <<<"$iterations" | uniq)
[ "$(sort -n <<<"$expiries" | uniq)" = "$expiries" ] || fail "the token's expiry went back: $(paste -sd' ' <<<"$expiries")"
advances=$(( $(grep -c . <<<"$expiries") - 1 ))
first_end=$(( $(head -n 1 <<<"$expiries") - start ))
relative=$(while read -r e; do echo "+$(( e - start ))"; done <<<"$expiries" | paste -sd,)
[ "$ok" -eq "$n" ] || fail "$ok of $n iterations wrote; the others: $(grep -v ': ok, ' <<<"$iterations" | tr '\n' ';')"
# Under TCG on a busy host an iteration took ~5 s, not 2: ask only for a
# write every ~10 s; every token seen above was used for a write anyway.
[ "$n" -ge 5 ] || fail "only $n iterations in 45 s"
[ "$last" -ge $(( first_end + 26 )) ] || fail "the last write, at $last s, is not two lifetimes past the first token's end ($first_end s)"
[ "$advances" -ge 2 ] || fail "the token's expiry advanced $advances times (expiries $relative s after the start)"

# What reached the fileserver: read without the page cache, as anonymous.
echo 3 >/proc/sys/vm/drop_caches
stored=0
for i in $(seq "$n"); do
  [ "$(cat "$SHARED/renew-$i" 2>/dev/null)" = "written by 1001" ] && stored=$((stored + 1))
done
[ "$stored" -eq "$n" ] || fail "only $stored of $n files reached the fileserver"
pass "pagsh --renew with a 15 s ticket renewable for 5 min: $ok of $n iterations (a new file every ~$(( last / n )) s for ${last} s, the first token ending at ${first_end} s) wrote, all $stored files on the server; the token's expiry advanced $advances times (expiries at $relative s after the job's start)"
