"""The clusterapi MCM's record of operations' first answers stays bounded on a long-lived cluster:
old answers (no retry can still ask for them) and the oldest beyond the size cap are dropped."""

from __future__ import annotations

from legato.adapters.mcm.clusterapi import ANSWERS_KEPT_BYTES, ANSWERS_KEPT_SECONDS, answer_of, stale_answers

NOW = 1_800_000_000


def test_answers_a_retry_can_still_ask_for_are_kept_and_older_ones_dropped():
    entries = {"fresh": f"{NOW - 60} {{}}", "hours": f"{NOW - 6 * 3600} {{}}",
               "old": f"{NOW - ANSWERS_KEPT_SECONDS - 1} {{}}", "unstamped": "{}"}  # fmt: skip
    assert sorted(stale_answers(entries, NOW)) == ["old", "unstamped"]


def test_past_the_size_cap_the_oldest_go_first():
    big = "x" * (ANSWERS_KEPT_BYTES // 3 - 100)  # three fit
    entries = {f"op{i}": f"{NOW - i} {big}" for i in range(5)}  # op0 newest
    assert sorted(stale_answers(entries, NOW)) == ["op3", "op4"]


def test_an_entry_gives_back_the_answer_as_written():
    assert answer_of(f"{NOW} {{\"id\": \"c 1\"}}") == '{"id": "c 1"}'
