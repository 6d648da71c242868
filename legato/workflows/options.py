"""Timeouts and retry policies of every activity call, in one place."""

from datetime import timedelta

from temporalio.common import RetryPolicy

NON_RETRYABLE = ["InvalidRequest", "CapacityExhausted", "PermanentFault", "NotFound"]


def _call(give_up_after: timedelta, longest_backoff: timedelta, non_retryable: list[str]) -> dict:
    """An activity call: two minutes per attempt, heartbeating, retried with backoff until it gives up."""
    return dict(
        start_to_close_timeout=timedelta(minutes=2),
        heartbeat_timeout=timedelta(seconds=10),
        schedule_to_close_timeout=give_up_after,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                                 maximum_interval=longest_backoff, non_retryable_error_types=non_retryable),
    )


# A forward step: retried on transient faults for a while, then the service rolls back.
STEP = _call(timedelta(minutes=15), timedelta(seconds=5), NON_RETRYABLE)

# Provisioning machines (hosts powered on and booted, a cluster built or grown on them): retried as
# a step is, but for as long as bare metal takes; Metal3 inspects, deploys and boots a server in
# tens of minutes, and a backend call that outlasts its own wait says so (TransientFault) and is
# asked again until then.
PROVISION = _call(timedelta(hours=2), timedelta(seconds=30), NON_RETRYABLE)

# A compensation must not give up: leaking a host is worse than waiting for a backend.
UNDO = _call(timedelta(hours=6), timedelta(seconds=30), ["InvalidRequest"])

# A call tried briefly and given up: removing what a failed cluster ran, while it does not answer
# (what is left is cleaned up when it is back).
ONCE = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=2, non_retryable_error_types=NON_RETRYABLE))

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
