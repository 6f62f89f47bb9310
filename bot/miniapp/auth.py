"""Who is calling the Mini App's API: Telegram's signed initData, checked on every request.

The page sends `Authorization: tma <initData>`; the signature (HMAC with the bot token, checked by
aiogram's `safe_parse_webapp_init_data`) proves Telegram issued it to this user, and `auth_date`
bounds how long a copied URL keeps working. Nothing here trusts `initDataUnsafe`, and the raw
initData is never logged: it is a bearer credential for as long as it is fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlencode

from aiogram.utils.web_app import safe_parse_webapp_init_data

FUTURE_SKEW_SECONDS = 300  # a phone's clock may run a little ahead of ours


class AuthError(Enum):
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    language: str | None


def authenticate(
    header: str | None, token: str, managers: frozenset[int], ttl: int, now: float
) -> Caller | AuthError:
    scheme, _, init_data = (header or "").strip().partition(" ")
    if scheme.lower() != "tma" or not init_data.strip():
        return AuthError.MISSING
    try:
        data = safe_parse_webapp_init_data(token, init_data.strip())
    except Exception:  # a bad signature, or signed data that does not parse
        return AuthError.INVALID
    if data.user is None:
        return AuthError.INVALID
    auth_date = data.auth_date.timestamp()
    if now - auth_date > ttl or auth_date - now > FUTURE_SKEW_SECONDS:
        return AuthError.EXPIRED
    if data.user.id not in managers:
        return AuthError.FORBIDDEN
    return Caller(data.user.id, data.user.language_code)


def sign_init_data(
    token: str,
    user_id: int,
    auth_date: int,
    *,
    first_name: str = "Manager",
    language_code: str = "en",
) -> str:
    """initData as Telegram would issue it to `user_id` (for `miniapp-url` and tests)."""
    user = json.dumps(
        {"id": user_id, "first_name": first_name, "language_code": language_code},
        separators=(",", ":"),
    )
    fields = {"auth_date": str(auth_date), "query_id": f"dev{auth_date}", "user": user}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
