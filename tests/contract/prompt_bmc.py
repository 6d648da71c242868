"""The sushy-tools Redfish emulator (as `sushy-emulator` runs it) with one change: its fake driver
applies a power change at the next read of the system, instead of 1 to 11 seconds later. The PIM
still asks, then polls until the state is reached; only the wait goes, so the contract suite can
power hosts on and off dozens of times in seconds. tests/real keeps the delays (redfish_emulator.py).

Run as `python -m tests.contract.prompt_bmc --config <emulator.conf>`."""

from __future__ import annotations

import sys

from sushy_tools.emulator import main
from sushy_tools.emulator.resources.systems import fakedriver


class _NoDelay:
    """Stands in for the driver's `random`: `int(time.time()) + randint(1, 11)` becomes now."""

    @staticmethod
    def randint(a: int, b: int) -> int:
        return 0


fakedriver.random = _NoDelay

if __name__ == "__main__":
    sys.exit(main.main())
