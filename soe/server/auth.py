"""API keys: read from a file, kept only as SHA-256 digests, compared in constant time.

The key file holds one key per line; blank lines and lines starting with ``#``
are ignored. The keys themselves are dropped as soon as they are hashed, so a
memory dump of the server shows digests, never a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

__all__ = ["ApiKeys", "MIN_KEY_LENGTH"]

MIN_KEY_LENGTH = 16


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """The accepted keys' digests; empty means the API is open (loopback only, see ``soe serve``)."""

    def __init__(self, digests: list[bytes]) -> None:
        self._digests = list(digests)

    @classmethod
    def from_file(cls, path: str | Path) -> ApiKeys:
        """Read keys from ``path``.

        Raises:
            ValueError: the file holds no key, or a key shorter than 16 characters.
        """
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if not keys:
            raise ValueError(f"API key file '{path}' holds no key (one key per line)")
        short = [number for number, key in enumerate(keys, 1) if len(key) < MIN_KEY_LENGTH]
        if short:
            raise ValueError(f"API key file '{path}': key {short[0]} is shorter than "
                             f"{MIN_KEY_LENGTH} characters")
        return cls([_digest(key) for key in keys])

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization: Bearer KEY`` header carries an accepted key.

        Every digest is compared (no early exit), each in constant time.
        """
        scheme, _, key = (authorization or "").partition(" ")
        presented = _digest(key.strip())
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        return matched and scheme.lower() == "bearer"
