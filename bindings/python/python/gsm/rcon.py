"""Source RCON consoles (Minecraft, SRCDS games, ID-less servers such as Palworld): :class:`Client`."""

from ._gsm import Client

__all__ = ["Client"]
