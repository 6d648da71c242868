"""When Temporal cannot be reached (restarting, overloaded), the caller must hear "retry" (503),
never a refusal (409): a refusal makes a client drop a request that a retry would have carried out.
Every write carries an id (service id, request id) that makes its retry safe."""

from __future__ import annotations

from legato.client import unreachable  # noqa: F401 (what counts as unreachable is the client's to say)

RETRY_AFTER_SECONDS = 5
MESSAGE = "the orchestration engine is unreachable; retry later (the same request is safe to repeat)"
