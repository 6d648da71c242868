"""Replay: every stored history (tests/replay/histories, recorded by `python -m tests.replay.record`)
replayed by Temporal's Replayer against the workflow code as it is now. A change that alters the
commands a workflow issues for a history it once wrote fails here with a NondeterminismError: put
such a change behind `workflow.patched` (or worker versioning), and keep the old histories.
No server is needed: the replayer feeds the history to the workflow code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from legato.workflows.catalog import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data["workflowId"], data)


@pytest.fixture(scope="module")
def replayer() -> Replayer:
    # as the worker (legato/worker.py) runs them: the same workflows, the same converter
    # (legato/temporal.py), the default sandbox
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_history_replays_against_the_current_code(replayer, path):
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(f"{path.name} no longer replays: {type(result.replay_failure).__name__}: "
                    f"{result.replay_failure}", pytrace=False)


def workflow_type(path: Path) -> str:
    return path.stem.split("__")[1]


def test_every_workflow_type_has_a_stored_history():
    names = {workflow._Definition.must_from_class(defn).name for defn in WORKFLOWS}
    missing = names - {workflow_type(p) for p in FILES}
    assert not missing, f"record a history of {sorted(missing)} (python -m tests.replay.record)"


def test_stored_histories_name_their_workflow_type():
    for path in FILES:
        data = json.loads(path.read_text())
        started = data["events"][0]["workflowExecutionStartedEventAttributes"]
        assert started["workflowType"]["name"] == workflow_type(path), path.name
