#!/bin/sh
# Prints the time every second, to stdout and stderr. Edit the message: superwatch restarts `ticker`.
while true; do
    echo "$GREETING, it is $(date +%T)"
    echo "tick" >&2
    sleep 1
done
