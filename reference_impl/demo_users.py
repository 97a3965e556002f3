"""The reference partner's demo users: bearer token → the email their Spotnana profile was created with."""

from __future__ import annotations

DEMO_USERS: dict[str, str] = {
    "demo-token-ada": "ada@example.com",
    "demo-token-grace": "grace@example.com",
    "demo-token-linus": "linus@example.com",
}

DEMO_SUBJECT_TOKEN = "demo-token-ada"
