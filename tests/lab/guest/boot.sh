#!/bin/bash
# The guest side of tests/lab/run: prepares the kernel, runs the scenario with
# the lab library sourced and a deadline, prints the summary, leaves the exit code.
. /lab/src/tests/lab/lib.sh
lab_boot
name=$(cat /lab/out/name)
deadline=${hasync_timeout:-900}
printf 'lab: guest up in %s s, running %s (deadline %s s)\n' \
	"$(cut -d' ' -f1 /proc/uptime)" "$name" "$deadline"
cd /lab/run
timeout --kill-after=5 "$deadline" bash -c \
	'set -u; . /lab/src/tests/lab/lib.sh; . /lab/out/scenario.sh'
status=$?
case $status in
0) ;;
124|137) lab_fail "scenario $name ran past its deadline of $deadline s" ;;
*) lab_fail "scenario $name ended with status $status" ;;
esac
# No process is killed before the power-off: UML 6.12 panics ("Kernel mode
# fault" in copy_process) when a signal lands on a process in the middle of
# fork(), and keepalived forks its scripts at any time.
lab_collect_logs
lab_summary
