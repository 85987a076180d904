"""The benchmark's report (bench/report.py, bench/targets.py) and its wrk output parser
(bench/load.py): cheap checks, no server, no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.load import Summary, lua_script, parse_wrk, percentile
from bench.report import Results, Scenario, write
from bench.targets import evaluate

#: What wrk 4.1 printed with our ``done`` hook, against the baseline (captured).
WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:60131
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   136.01ms  165.10ms   1.12s    86.97%
    Req/Sec   121.90    119.03   480.00     83.87%
  439 requests in 2.08s, 79.74KB read
Requests/sec:    210.99
Transfer/sec:     38.32KB
BENCH_JSON {"requests":439,"duration_us":2080690,"bytes":81654,"connect_errors":0,\
"read_errors":0,"write_errors":0,"status_errors":3,"timeouts":1,"p50_us":57717,\
"p90_us":344094,"p99_us":788311,"max_us":1115525,"mean_us":136008.1}
"""


def test_wrk_figures_come_from_the_line_the_done_hook_prints() -> None:
    run = parse_wrk(WRK_OUTPUT)
    assert run.requests == 439
    assert run.rps == pytest.approx(436 / 2.080690)  # answers that were not 2xx do not count
    assert run.p50_ms == pytest.approx(57.717)
    assert run.p99_ms == pytest.approx(788.311)
    assert run.errors == 4


def test_a_run_without_a_single_answer_is_an_error_not_a_zero() -> None:
    silent = WRK_OUTPUT.replace('"requests":439', '"requests":0').replace(
        '"status_errors":3', '"status_errors":0'
    )
    assert parse_wrk(silent).errors == 2  # the timeout, and the run itself


def test_wrk_output_without_the_hook_line_is_refused() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk("Running 2s test\n  0 requests in 2.00s\n")


def test_the_lua_script_sends_the_token_and_body_and_prints_percentiles() -> None:
    script = lua_script(
        method="POST",
        paths=["/v1/referrals"],
        headers={"Authorization": 'Bearer a"b'},
        body='{"note": "x"}',
    )
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Authorization"] = "Bearer a\\"b"' in script
    assert 'wrk.body = "{\\"note\\": \\"x\\"}"' in script
    assert "latency:percentile(99)" in script


def test_percentiles_are_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([], 99) == 0


def _scenario(name: str, backend: str, rps: float, p99: float, ratio: float | None) -> Scenario:
    return Scenario(
        name=name,
        backend=backend,
        rps=Summary(rps, rps * 0.9, rps * 1.1),
        p50_ms=Summary(p99 / 4, p99 / 5, p99 / 3),
        p99_ms=Summary(p99, p99 * 0.9, p99 * 1.1),
        ratio=ratio,
        p99_ratio=2.0 if ratio else None,
        runs=3,
    )


def test_latest_json_carries_what_issue_19_asks_for(tmp_path: Path) -> None:
    results = Results(
        settings={"runs": 3, "seconds": 5, "warmup": 2, "concurrency": 32, "workers": 2}
    )
    results.baselines["postgresql"] = _scenario("baseline", "postgresql", 1000, 40, None)
    results.scenarios.append(_scenario("POST /v1/referrals", "postgresql", 600, 80, 0.6))
    results.scenarios.append(_scenario("GET /v1/referrals/{id}", "postgresql", 400, 90, 0.4))
    results.targets = evaluate(results)

    write(results, tmp_path)
    document = json.loads((tmp_path / "latest.json").read_text())

    assert {"date", "machine", "baseline", "scenarios", "targets"} <= document.keys()
    assert document["baseline"] == {"rps": 1000, "p50_ms": 10, "p99_ms": 40}
    for scenario in document["scenarios"]:
        assert {"name", "rps", "p50_ms", "p99_ms", "ratio"} <= scenario.keys()
    for target in document["targets"]:
        assert {"name", "target", "measured", "met"} <= target.keys()
    met = {t["name"]: t["met"] for t in document["targets"]}
    assert met["POST /v1/referrals rps, PostgreSQL"] is True
    assert met["GET /v1/referrals/{id} rps, PostgreSQL"] is False
    assert met["RSS growth over 5 minutes"] is None  # not measured is neither met nor failed
    markdown = (tmp_path / "latest.md").read_text()
    assert "| POST /v1/referrals | postgresql | 600.0 (540.0-660.0) |" in markdown


def _page(name: str, p50: float) -> Scenario:
    return Scenario(
        name=name, backend="postgresql", rps=Summary(100, 90, 110), p50_ms=Summary(p50, p50, p50)
    )


def test_the_listing_target_compares_the_page_at_the_largest_size_with_the_smallest() -> None:
    results = Results(settings={})
    results.scenarios += [
        _page("list incoming, first page", 5),  # make bench's, mixed with POST and GET: not used
        _page("list incoming, first page at 1,000,000", 30),
        _page("list incoming, first page at 10,000", 20),
        _page("list incoming, deep page at 10,000", 10),
        _page("list incoming, deep page at 1,000,000", 25),
    ]
    targets = {t.name: t for t in evaluate(results)}

    first = targets["listing p50 at 10⁶ vs 10⁴, first page"]
    deep = targets["listing p50 at 10⁶ vs 10⁴, deep page"]
    assert (first.measured, first.met) == ("1.50x", True)
    assert (deep.measured, deep.met) == ("2.50x", False)


def test_the_listing_target_is_not_run_without_both_sizes_measured_alone() -> None:
    results = Results(settings={})
    results.scenarios += [
        _page("list incoming, first page", 5),
        _page("list incoming, first page at 1,000,000", 30),
    ]
    target = next(t for t in evaluate(results) if t.name.endswith("first page"))
    assert target.met is None


def test_the_listing_plans_are_written_and_a_count_or_offset_is_flagged(tmp_path: Path) -> None:
    results = Results(
        settings={"runs": 1, "seconds": 1, "warmup": 1, "concurrency": 32, "workers": 2}
    )
    results.plans["1,000,000"] = {
        "first page": [
            {
                "sql": "SELECT ... LIMIT $3",
                "count_or_offset": False,
                "plan": ["Limit", "  ->  Index Scan Backward using ix_referrals_agency_id"],
            }
        ],
        "deep page": [
            {"sql": "SELECT count(*) FROM referrals", "count_or_offset": True, "plan": ["Agg"]}
        ],
    }
    write(results, tmp_path)

    markdown = (tmp_path / "latest.md").read_text()
    assert "## Listing plan: first page at 1,000,000 incoming referrals" in markdown
    assert "  ->  Index Scan Backward using ix_referrals_agency_id" in markdown
    assert "`SELECT count(*) FROM referrals` (**COUNT or OFFSET**)" in markdown
    assert "`SELECT ... LIMIT $3`\n" in markdown
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["plans"]["1,000,000"]["deep page"][0]["count_or_offset"] is True


@pytest.mark.parametrize(
    ("sql", "forbidden"),
    [
        ("SELECT count(*) FROM referrals WHERE agency = $1", True),
        ("SELECT referrals.id FROM referrals ORDER BY id DESC LIMIT $2 OFFSET $3", True),
        ("SELECT referrals.id FROM referrals WHERE id < $1 ORDER BY id DESC LIMIT $2", False),
        ("SELECT referrals.account_offset, referrals.discount FROM referrals", False),
    ],
)
def test_a_listing_statement_that_counts_or_skips_by_offset_is_recognised(
    sql: str, forbidden: bool
) -> None:
    from bench.scenarios.listing import _FORBIDDEN

    assert bool(_FORBIDDEN.search(sql)) is forbidden
