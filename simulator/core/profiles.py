"""Spotnana profiles: the emails a token exchange may resolve to.

Spotnana matches the email from the user-detail API to the email a profile was created with
(backend-setup.txt). Case-insensitive matching is modeled (email domains are case-insensitive and
Spotnana does not say how it compares local parts); ``exact`` is the configurable alternative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spotnana_sim.core.tokens import subject_for


@dataclass(frozen=True)
class Profile:
    email: str
    user_id: str  # stable per profile across restarts and processes


class ProfileDirectory:
    """The profiles known to the simulator; ``None`` means no profile source, so every email matches."""

    def __init__(self, emails: Iterable[str] | None, *, case_sensitive: bool = False) -> None:
        self._initial = None if emails is None else tuple(emails)
        self._key = (lambda email: email) if case_sensitive else str.casefold
        self.reset()

    def reset(self) -> None:
        self._by_email: dict[str, Profile] | None = None
        if self._initial is not None:
            self._by_email = {}
            for email in self._initial:
                self.add(email)

    @property
    def accepts_every_email(self) -> bool:
        return self._by_email is None

    def add(self, email: str) -> Profile:
        if self._by_email is None:
            self._by_email = {}
        profile = Profile(email=email, user_id=subject_for(email))
        self._by_email[self._key(email)] = profile
        return profile

    def find(self, email: str) -> Profile | None:
        if self._by_email is None:
            return Profile(email=email, user_id=subject_for(email))
        return self._by_email.get(self._key(email))

    def emails(self) -> list[str] | None:
        return None if self._by_email is None else [p.email for p in self._by_email.values()]
