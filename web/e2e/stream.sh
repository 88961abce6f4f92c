#!/bin/sh
# The e2e run's streaming job: 30 coloured lines, one every 0.2 s, so the dashboard shows output
# arriving while the job runs. Allow-listed by path in the run's policy (no arguments).
i=1
while [ "$i" -le 30 ]; do
    printf '\033[32mstream line %d\033[0m <b>not bold</b>\n' "$i"
    i=$((i + 1))
    /bin/sleep 0.2
done
