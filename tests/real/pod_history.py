"""What a namespace's pods did during an operation, from a Kubernetes watch, so continuity is judged
from the whole history rather than from samples (polling every 50 ms can miss a dip that lasts 10).

The watch starts from a list's resourceVersion, so no change between the list and the watch is
lost; every event is one change of one pod, in the API server's order. A pod serves from the
moment it is seen Ready until it is seen not Ready, gets a deletion timestamp (its endpoint is
being withdrawn, as a Service would) or is deleted. Evaluating the count after each event is exact:
nothing changes between two events."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException


def serving(pod: client.V1Pod) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
    return ready and pod.metadata.deletion_timestamp is None


@dataclass
class Change:
    seq: int
    at: float  # time.monotonic() when the event arrived
    pod: str
    labels: dict[str, str]
    serving: bool


@dataclass
class PodHistory:
    core: client.CoreV1Api
    namespace: str | None  # None: every namespace (each service has its own)
    initial: dict[str, Change] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    current: dict[str, str] = field(default_factory=dict)  # pod -> resourceVersion, as last seen
    error: BaseException | None = None
    restarts_allowed: bool = False  # the API server may restart meanwhile (an upgrade): resync by a list
    resyncs: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serving: dict[str, bool] = {}
        self._labels: dict[str, dict[str, str]] = {}

    # ---- recording

    def _list(self, **kwargs):
        return self._list_call()[0](*self._list_call()[1], **kwargs)

    def _list_call(self) -> tuple:
        """The client's own list function (a watch decodes events by its name) and its arguments."""
        if self.namespace is None:
            return self.core.list_pod_for_all_namespaces, ()
        return self.core.list_namespaced_pod, (self.namespace,)

    def start(self) -> PodHistory:
        listed = self._list()
        for p in listed.items:
            change = Change(0, time.monotonic(), p.metadata.name, dict(p.metadata.labels or {}), serving(p))
            self.initial[p.metadata.name] = change
            self._labels[p.metadata.name] = change.labels
            self._serving[p.metadata.name] = change.serving
            self.current[p.metadata.name] = p.metadata.resource_version
        self._thread = threading.Thread(target=self._run, args=(listed.metadata.resource_version,), daemon=True)
        self._thread.start()
        return self

    def _run(self, resource_version: str) -> None:
        """Watch from `resource_version` on. An API server that stops answering for a while is
        watched again from the last version seen. One that answers 410 (the events are gone) ends
        the history as failed, unless `restarts_allowed`: then a list resyncs it (`_resync`)."""
        try:
            while not self._stop.is_set():
                fn, args = self._list_call()
                stream = watch.Watch().stream(
                    fn, *args, resource_version=resource_version,
                    allow_watch_bookmarks=True, timeout_seconds=2, _request_timeout=10,
                )  # fmt: skip
                try:
                    for event in stream:
                        pod = event["object"]
                        resource_version = pod.metadata.resource_version
                        if event["type"] != "BOOKMARK":
                            self._record(event["type"], pod)
                except (OSError, urllib3.exceptions.HTTPError):  # the API server restarting: watch again
                    time.sleep(0.2)
                except ApiException as err:
                    if err.status in (429, 500, 502, 503, 504):
                        time.sleep(0.2)
                    elif err.status in (None, 410) and self.restarts_allowed:
                        resource_version = self._resync()
                    else:
                        raise
        except ApiException as err:  # 410: the watch fell too far behind and events were lost
            self.error = err
        except BaseException as err:  # noqa: BLE001 - surfaced by stop()
            self.error = err

    def _resync(self) -> str:
        """After an API server restart its watch cache starts at the present, so a watch from an
        older version is refused: list, and record what differs from the last state seen. Exact
        for an upgrade's restart: while no API server runs, nothing can change a pod (every write
        goes through it), so a change is seen at most the few moments between its start and this
        list late."""
        listed = self._list()
        names = set()
        for pod in listed.items:
            names.add(pod.metadata.name)
            self._record("MODIFIED", pod)
        with self._lock:
            gone = [n for n in self.current if n not in names]
        for name in gone:
            self._record("DELETED", client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels=self._labels[name])))
        self.resyncs += 1
        return listed.metadata.resource_version

    def _record(self, kind: str, pod: client.V1Pod) -> None:
        name = pod.metadata.name
        now = kind != "DELETED" and serving(pod)
        with self._lock:
            self._labels[name] = dict(pod.metadata.labels or {})
            if kind == "DELETED":
                self.current.pop(name, None)
            else:
                self.current[name] = pod.metadata.resource_version
            if self._serving.get(name) != now or name not in self._serving:
                self.changes.append(Change(len(self.changes) + 1, time.monotonic(), name,
                                           dict(pod.metadata.labels or {}), now))  # fmt: skip
            self._serving[name] = now

    def sync(self, timeout: float = 30) -> None:
        """Wait until the watch has seen everything a fresh list shows (every pod at its latest
        resourceVersion, the deleted ones gone), so the history reaches at least this instant."""
        deadline = time.monotonic() + timeout
        while True:
            listed = {p.metadata.name: p.metadata.resource_version
                      for p in self._list().items}  # fmt: skip
            with self._lock:
                if self.current == listed:
                    return
            if self.error is not None or time.monotonic() > deadline:
                raise AssertionError(f"the pod watch did not catch up ({self.error!r})")
            time.sleep(0.2)

    def stop(self) -> None:
        self.sync()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.error is not None:
            raise AssertionError(f"the pod watch failed, the history is incomplete: {self.error!r}")

    def __enter__(self) -> PodHistory:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- reading

    def min_serving(self, selector: dict[str, str]) -> int:
        """The fewest pods matching `selector` that served at any instant of the window."""
        matches = lambda c: selector.items() <= c.labels.items()  # noqa: E731
        state = {c.pod: c.serving for c in self.initial.values() if matches(c)}
        lowest = sum(state.values())
        with self._lock:
            changes = list(self.changes)
        for c in changes:
            if matches(c):
                state[c.pod] = c.serving
                lowest = min(lowest, sum(state.values()))
        return lowest

    def intervals(self) -> dict[str, list[tuple[float, float | None]]]:
        """When each pod served: (became ready, stopped serving or None if it still serves)."""
        with self._lock:
            seen = sorted(self.initial.values(), key=lambda c: c.pod) + list(self.changes)
        spans: dict[str, list[tuple[float, float | None]]] = {}
        for c in seen:
            mine = spans.setdefault(c.pod, [])
            if c.serving and (not mine or mine[-1][1] is not None):
                mine.append((c.at, None))
            elif not c.serving and mine and mine[-1][1] is None:
                mine[-1] = (mine[-1][0], c.at)
        return spans

    def pods_seen(self, selector: dict[str, str]) -> set[str]:
        with self._lock:
            seen = list(self.initial.values()) + list(self.changes)
        return {c.pod for c in seen if selector.items() <= c.labels.items()}
