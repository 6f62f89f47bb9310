"""The verifiable giveaway draw.

Before anyone can enter, Steward publishes `commitment = sha256(seed_hex)` for a secret random
32-byte seed. At the end it publishes `seed_hex` and the entrants; anyone can then check that the
seed matches the commitment and recompute every entrant's ticket
`HMAC-SHA256(key=seed_hex, msg=str(user_id))`. Winners are the eligible entrants with the
smallest tickets, so the bot could not pick a seed that favours someone after seeing who entered,
and cannot pick winners other than the ones the rule gives.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable


def new_seed() -> str:
    return secrets.token_bytes(32).hex()


def commitment(seed_hex: str) -> str:
    return hashlib.sha256(seed_hex.encode()).hexdigest()


def ticket(seed_hex: str, user_id: int) -> str:
    return hmac.new(seed_hex.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def ranked(seed_hex: str, user_ids: Iterable[int]) -> list[int]:
    """Entrants in draw order: smallest ticket first."""
    return sorted(set(user_ids), key=lambda uid: ticket(seed_hex, uid))


def hashed_id(user_id: int) -> str:
    """What a privacy-preferring chat publishes instead of a user id."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()
