#!/bin/bash
# Inside the guest (virtme-ng's --exec), as root: set the cell up once, then
# run each scenario in order, each printing one VERDICT line. A scenario that
# ends without one gets a FAIL line here. Logs of failures are printed
# indented, so the host's log says why.
# Usage: guest.sh BIN_DIR AFS_PACKAGES DEBS_ROOT [SCENARIO...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PAG_VM_BIN=$1 PAG_VM_AFS=$2 PAG_VM_DEBS=$3
shift 3
mkdir -p /tmp/vm/logs
echo "VM booted in $(cut -d' ' -f1 /proc/uptime) s (guest uptime)"
start=$(date +%s)
if ! timeout 240 "$here/cell-setup.sh" >/tmp/vm/logs/cell-setup.log 2>&1; then
  echo "VERDICT cell-setup FAIL see the log below"
  sed 's/^/    | /' /tmp/vm/logs/cell-setup.log
  exit 0
fi
echo "VERDICT cell-setup PASS cell $(cat /etc/openafs/ThisCell) served and mounted in $(( $(date +%s) - start )) s"
for script in "$here"/scenarios/*.sh; do
  name=$(basename "$script" .sh); name=${name#[0-9][0-9]-}
  [ $# -gt 0 ] && [[ " $* " != *" $name "* ]] && continue
  log=/tmp/vm/logs/$name.log
  t0=$(date +%s)
  SCENARIO=$name timeout 150 bash "$script" >"$log" 2>&1
  verdict=$(grep '^VERDICT ' "$log" | tail -n 1)
  [ -n "$verdict" ] || verdict="VERDICT $name FAIL ended without a verdict (timeout 150 s?)"
  # A kernel oops (taint flag D, 128) fails the scenario it happened in,
  # whatever the script said; the oops itself is in the console log.
  if [ $(( $(cat /proc/sys/kernel/tainted) & 128 )) -ne 0 ] && [ -z "${oopsed:-}" ]; then
    oopsed=$name
    verdict="VERDICT $name FAIL the kernel oopsed during this scenario (see the console log)"
  fi
  echo "$verdict [$(( $(date +%s) - t0 )) s]"
  case $verdict in *" PASS "*) ;; *) sed 's/^/    | /' "$log" ;; esac
done
# After a kAFS oops in write-back the normal shutdown hung here until vm/run's
# 900 s timeout: power off at once; the verdicts are out and the guest's
# state is throwaway.
if [ -n "${oopsed:-}" ]; then
  echo "vm/guest.sh: the kernel oopsed during scenario $oopsed; powering off without sync"
  sleep 1
  echo 1 >/proc/sys/kernel/sysrq
  echo o >/proc/sysrq-trigger
fi
