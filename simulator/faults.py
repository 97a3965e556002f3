"""Fault rules: what the integrator's backend receives instead of a normal answer (token-endpoint),
and what the simulator pretends the user-detail API answered (user-detail).

Interface consumed by the exchange (kept stable): ``FaultBook.for_token_request`` and
``FaultBook.intercept_user_detail``. The rule engine itself is filled in by the faults work (issue 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .identity import CallbackContext, UserDetailResponse

TOKEN_ENDPOINT = "token-endpoint"
USER_DETAIL = "user-detail"
CONNECTION_FAULTS = ("reset", "empty", "truncated", "malformed_json", "random_bytes")


class FaultRuleError(ValueError):
    """A rule that cannot be armed; ``path`` says where in the rule, ``problem`` what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class FaultAnswer:
    """An HTTP answer a rule forces; with no body and an errorCode, the Spotnana envelope is built."""

    status: int
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class TokenFault:
    """What a fired token-endpoint rule asks of this one request."""

    rule_id: str
    delay: float = 0.0
    answer: FaultAnswer | None = None
    connection: str | None = None  # one of CONNECTION_FAULTS
    expires_in: int | None = None  # token quirk: advertise and sign this lifetime
    expired: bool = False  # token quirk: issue a token that is already expired


@dataclass(frozen=True)
class TokenRequestContext:
    """What a token-endpoint rule may match on (first values as sent, before validation)."""

    client_id: str | None
    subject_token: str | None
    grant_type: str | None


class FaultBook:
    def __init__(self, rules: tuple[Mapping[str, Any], ...] = ()) -> None:
        self._configured = tuple(rules)

    def for_token_request(self, context: TokenRequestContext) -> TokenFault | None:
        return None

    async def intercept_user_detail(self, context: CallbackContext) -> UserDetailResponse | None:
        return None

    def arm(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        raise FaultRuleError("", "fault rules are not implemented yet")

    def rules(self) -> list[dict[str, Any]]:
        return []

    def remove(self, rule_id: str) -> bool:
        return False

    def clear(self) -> None:
        pass

    def reset(self) -> None:
        pass
