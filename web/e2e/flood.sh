#!/bin/sh
# The benchmark's flood: 1,000 lines a second for 10 seconds (a burst, then a pause, each second).
s=1
while [ "$s" -le 10 ]; do
    i=1
    while [ "$i" -le 1000 ]; do
        printf 'second %d line %d \033[33mwarn\033[0m some payload text to make the line realistic\n' "$s" "$i"
        i=$((i + 1))
    done
    s=$((s + 1))
    /bin/sleep 1
done
