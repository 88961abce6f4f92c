#!/usr/bin/env python3
"""Print players joining a 7 Days to Die server, from its log file or its Telnet console.

    python3 log_tail.py --file /srv/7dtd/output_log.txt      # follow the file, like tail -f
    GSM_7DTD_PASSWORD=… python3 log_tail.py --telnet 127.0.0.1:8081

Each line goes through ``gsm.sdtd.parse_line``, the parser the gsm agent uses, which knows the
log formats from Alpha 16 to V 2.x.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Iterator, Optional

import gsm


def follow(path: str, once: bool) -> Iterator[str]:
    """The file's lines, then (unless ``once``) the lines appended to it."""
    with open(path, encoding="utf-8", errors="replace") as log:
        while True:
            line = log.readline()
            if line:
                yield line.rstrip("\n")
            elif once:
                return
            else:
                time.sleep(0.25)


def console_lines(address: str, password: Optional[str]) -> Iterator[str]:
    host, _, port = address.rpartition(":")
    with gsm.sdtd.Telnet(host, int(port), password) as console:
        while True:
            line = console.read_log(timeout=30)
            if line is not None:
                yield line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="the server's log file")
    source.add_argument("--telnet", metavar="HOST:PORT", help="the server's Telnet console")
    parser.add_argument("--password-env", default="GSM_7DTD_PASSWORD")
    parser.add_argument("--once", action="store_true", help="read the file to its end, then stop")
    parser.add_argument("--count", type=int, default=0, help="stop after this many joins (0: never)")
    args = parser.parse_args()

    lines = follow(args.file, args.once) if args.file else console_lines(args.telnet, os.environ.get(args.password_env))
    joins = 0
    try:
        for line in lines:
            event = gsm.sdtd.parse_line(line)
            if event is None or event["kind"] != "player_joined":
                continue
            print(f"{event.get('time', '-')} {event['name']} joined", flush=True)
            joins += 1
            if joins == args.count:
                break
    except KeyboardInterrupt:
        pass
    except gsm.GameError as failure:
        print(f"console failed ({failure.code}): {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
