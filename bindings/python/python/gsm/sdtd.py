"""7 Days to Die: the Telnet console (:class:`Telnet`) and the log-line parser (:func:`parse_line`)."""

from ._gsm import Telnet, parse_line

__all__ = ["Telnet", "parse_line"]
