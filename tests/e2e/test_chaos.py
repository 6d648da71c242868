"""A small chaos run (bench/chaos.py at full size): crashes, restarts and faults end with everything
terminal, inventory and backends agreeing, nothing leaked and nothing allocated twice."""

from bench.chaos import run_chaos


async def test_chaos_leaves_nothing_behind(tmp_path):
    report = await run_chaos(tmp_path, services=9, concurrency=5, seed=3, kill_every=(4.0, 7.0),
                             server_restarts=1, transient_rate=0.10, permanent_rate=0.05)
    print("\n".join(report.lines()))
    assert report.worker_kills >= 1 and report.server_restarts == 1
    assert not report.not_terminal and not report.disagreements and not report.leaks, report.lines()
    assert report.duplicates == 0
    assert sum(report.service_states.values()) == 9
