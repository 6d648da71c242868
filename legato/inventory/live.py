"""The continuum as placement reads it, kept between decisions and refreshed from what changed.

Reading 10,000 sites and 100,000 hosts from the inventory and indexing them takes seconds; a
deployment changes the hosts of a site or two. So each process (worker, API) keeps one copy and,
before each use, asks the inventory which sites changed since it last looked (each write to a
site's hosts or clusters stamps the site with a new sequence number): only those are re-read and
re-indexed. A change of prices or of the topology itself rebuilds the whole copy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from legato.model import Topology
from legato.placement.index import SiteIndex
from legato.validation import ContinuumFacts

log = logging.getLogger("legato.continuum")


class LiveContinuum:
    def __init__(self, inventory):
        self.inventory = inventory
        self._lock = threading.Lock()
        self._topology: Topology | None = None
        self._index: SiteIndex | None = None
        self._seen: tuple[int, int] = (-1, -1)  # (static, dynamic) sequence numbers taken in
        self._facts: ContinuumFacts | None = None
        self.rebuilds = 0
        self.refreshed_sites = 0

    @contextmanager
    def use(self) -> Iterator[tuple[Topology, SiteIndex]]:
        """The current continuum and its index, held for the caller alone: a refresh changes them
        in place, so two decisions never read one while it changes."""
        with self._lock:
            self._catch_up()
            yield self._topology, self._index

    def warm(self) -> None:
        """Build the copy now (at start-up), so the first decision does not wait for it. A failure
        (the inventory not there yet) is left to the first real use to retry and report."""
        try:
            with self._lock:
                self._catch_up()
        except Exception as err:  # noqa: BLE001
            log.warning("continuum not read at start-up (%s); the first decision will read it", type(err).__name__)

    def facts(self) -> ContinuumFacts:
        """What request validation checks against; rebuilt with the copy (allocations change none of it)."""
        with self._lock:
            self._catch_up()
            if self._facts is None:
                self._facts = ContinuumFacts.of(self._topology, self._index.area_ms)
            return self._facts

    def _catch_up(self) -> None:
        static, dynamic = self.inventory.continuum_sequence()
        if self._topology is None or static != self._seen[0]:
            self._topology = self.inventory.topology()
            self._index = SiteIndex(self._topology)
            self._facts = None
            self.rebuilds += 1
        elif dynamic != self._seen[1]:
            changed = self.inventory.sites_changed_since(self._seen[1])
            for site in self.inventory.sites_state(changed):
                self._topology.sites[site.id] = site
            self._index.refresh(changed)
            self.refreshed_sites += len(changed)
        self._seen = (static, dynamic)
