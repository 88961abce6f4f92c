#!/usr/bin/env python3
"""Nightly restart of a 7 Days to Die server: countdown warnings in chat, save, shut down.

    GSM_7DTD_PASSWORD=… python3 nightly_restart.py 127.0.0.1 8081 --warnings 600,300,60,10

Run it from cron or a systemd timer; the service manager (systemd's ``Restart=always``) starts
the server again after the clean shutdown. The password comes from an environment variable, never
from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import gsm


def spoken(seconds: int) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--password-env", default="GSM_7DTD_PASSWORD", help="variable holding the Telnet password")
    parser.add_argument("--warnings", default="600,300,60,10", help="seconds before the restart to warn at")
    args = parser.parse_args()
    warnings = sorted({int(w) for w in args.warnings.split(",")}, reverse=True)
    if not warnings or warnings[-1] <= 0:
        parser.error("--warnings takes positive numbers of seconds, e.g. 600,300,60")
    password = os.environ.get(args.password_env)

    try:
        with gsm.sdtd.Telnet(args.host, args.port, password) as console:
            for at, after in zip(warnings, warnings[1:] + [0]):
                console.say(f"Server restart in {spoken(at)}.")
                print(f"warned: restart in {spoken(at)}", flush=True)
                time.sleep(at - after)
            console.say("Server restarting now.")
            console.save()
            print("world saved", flush=True)
            console.shutdown()
            print("shutdown sent", flush=True)
    except gsm.GameError as failure:
        print(f"restart failed ({failure.code}): {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
