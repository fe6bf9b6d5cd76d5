"""Keyed-hash pseudonyms of person and household ids.

The key (``LNOB_PSEUDONYM_KEY``) is a secret: it is read from the environment, never written to
the repository, to compiled SQL or to logs. The warehouse computes the HMAC itself
(``lnob_meta.pseudonym``, built from the built-in ``sha256()``), from the HMAC inner and outer
padded keys that each session receives as settings through libpq's ``PGOPTIONS``.
"""

from __future__ import annotations

import hashlib
import hmac

from lnob.platform.config import ConfigurationError

BLOCK = 64  # SHA-256 block size in bytes


MISSING = (
    "LNOB_PSEUDONYM_KEY is not set: person and household ids cannot be pseudonymised. Set it to a "
    "secret (e.g. `export LNOB_PSEUDONYM_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')`) "
    "and keep it out of the repository. `make demo` uses a throwaway key of its own."
)


def padded_keys(key: str) -> tuple[str, str]:
    """HMAC's inner and outer padded keys (RFC 2104), hex."""
    k = key.encode()
    if len(k) > BLOCK:
        k = hashlib.sha256(k).digest()
    k = k.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in k).hex(), bytes(b ^ 0x5C for b in k).hex()


def pgoptions(key: str | None, existing: str = "") -> str:
    """``PGOPTIONS`` giving a session the padded keys; a missing key is a ConfigurationError."""
    if not key:
        raise ConfigurationError(MISSING)
    ikey, okey = padded_keys(key)
    return f"{existing} -c lnob.hmac_ikey={ikey} -c lnob.hmac_okey={okey}".strip()


def pseudonym(key: str, partner_id: str, value: str) -> str:
    """The same pseudonym in Python (tests check the warehouse against it)."""
    return hmac.new(key.encode(), f"{partner_id}\x1f{value.strip()}".encode(), hashlib.sha256).hexdigest()
