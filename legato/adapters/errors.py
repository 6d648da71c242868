"""Errors adapters raise; activities map them onto Temporal retry semantics."""


class AdapterError(Exception):
    """Base class. `retryable` tells the activity layer whether Temporal should try again."""

    retryable = False
    type = "AdapterError"


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
