"""Why the service layer will not do what it was asked, in words for the caller. Each kind is
answered with one HTTP status (legato/api/errors.py: REFUSAL_STATUS)."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Refusal):
    """No such thing, or not the caller's to see (the same answer, so nothing leaks)."""


class Forbidden(Refusal):
    """The caller may not do this."""


class Conflict(Refusal):
    """Not now, or not in the state the thing is in."""


class Unprocessable(Refusal):
    """The request contradicts itself or what it names."""


class QuotaExceeded(Refusal):
    """More than the caller's quota allows."""


class StillRunning(Refusal):
    """Accepted, but not over within the time the caller gave."""


class BadField(Refusal):
    """A field of a TMF request that does not hold, named as TMF names it (`serviceOrderItem[0].id`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


class Invalid(Refusal):
    """Fields of the request that do not hold, each named as request validation names them."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(str(e.get("msg", "")) for e in errors))
        self.errors = errors
