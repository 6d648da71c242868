"""Errors adapters raise; activities map them onto Temporal retry semantics."""


class AdapterError(Exception):
    """Base class. `retryable` tells the activity layer whether Temporal should try again.

    `resources` names what refused (`host:<id>`, `cluster:<id>`, `link:<site>|<site>`), so a
    deployment refused for capacity can place again without it instead of guessing from the text."""

    retryable = False
    type = "AdapterError"

    def __init__(self, message: str = "", resources: list[str] | None = None) -> None:
        super().__init__(message)
        self.resources = list(resources or [])


class InvalidRequest(AdapterError):
    type = "InvalidRequest"


class CapacityExhausted(AdapterError):
    type = "CapacityExhausted"


class NotFound(AdapterError):
    type = "NotFound"


class PermanentFault(AdapterError):
    """The backend refuses for good (broken hardware, a failed install): roll back."""

    type = "PermanentFault"


class TransientFault(AdapterError):
    """A timeout, a 503, a lost response: try again with the same operation id."""

    retryable = True
    type = "TransientFault"
