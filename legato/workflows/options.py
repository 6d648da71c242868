"""Timeouts and retry policies of every activity call, in one place."""

from datetime import timedelta

from temporalio.common import RetryPolicy

NON_RETRYABLE = ["InvalidRequest", "CapacityExhausted", "PermanentFault", "NotFound"]

# A forward step: retried on transient faults for a while, then the service rolls back.
STEP = dict(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)

# A compensation must not give up: leaking a host is worse than waiting for a backend.
UNDO = dict(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(hours=6),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=["InvalidRequest"],
    ),
)

# Running a whole day-2 operation from outside its service (e.g. a rebalancing move): as long as a
# move may take, heartbeating, retried with the same idempotency key.
OPERATION = dict(
    start_to_close_timeout=timedelta(hours=1),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=STEP["retry_policy"],
)


def waiting(seconds: float) -> dict:
    """A wait that polls for up to `seconds` and heartbeats; its own deadline ends it, this is the backstop."""
    return dict(
        start_to_close_timeout=timedelta(seconds=seconds + 60),
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=STEP["retry_policy"],
    )
