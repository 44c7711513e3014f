"""The declaration's one error: which file, which key, what is wrong and how to fix it.

    ShipyardError
      └── DeclarationError   shipyard.toml is unreadable, has an unknown key, a wrong type or
                             value, or names a file that does not exist
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base of the service declaration's errors."""


class DeclarationError(ShipyardError):
    """`FILE: KEY: problem`; carries the file and the key path as attributes."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")
