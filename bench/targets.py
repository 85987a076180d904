"""The targets of issue 19, each checked against this run's figures (``met`` is ``None`` when
the figure was not measured, e.g. the bench-long targets in ``make bench``)."""

from __future__ import annotations

from collections.abc import Callable

from bench.report import Results, Scenario, Target
from bench.scenarios.exchange import NAME as EXCHANGE

POST, GET = "POST /v1/referrals", "GET /v1/referrals/{id}"


def _median(scenario: Scenario | None, figure: str) -> float | None:
    summary = getattr(scenario, figure, None) if scenario else None
    return None if summary is None else float(summary.median)


def evaluate(results: Results) -> list[Target]:
    targets: list[Target] = []

    def check(
        name: str,
        wanted: str,
        value: float | None,
        meets: Callable[[float], bool],
        unit: str = "x",
        digits: int = 2,
    ) -> None:
        measured = "not measured" if value is None else f"{value:,.{digits}f}{unit}"
        targets.append(Target(name, wanted, measured, None if value is None else meets(value)))

    for endpoint in (POST, GET):
        pg = results.scenario(endpoint, "postgresql")
        lite = results.scenario(endpoint, "sqlite")
        check(f"{endpoint} rps, PostgreSQL", "≥ 0.5x baseline", pg and pg.ratio, lambda r: r >= 0.5)
        check(
            f"{endpoint} p99, PostgreSQL",
            "≤ 3x baseline p99",
            pg and pg.p99_ratio,
            lambda r: r <= 3,
        )
        check(
            f"{endpoint} rps, SQLite",
            "≥ 0.4x its baseline",
            lite and lite.ratio,
            lambda r: r >= 0.4,
        )

    exchange = results.scenario(EXCHANGE, "postgresql")
    rate = _median(exchange, "rps")
    check("exchange between two nodes", "≥ 300 referrals/s", rate, lambda r: r >= 300, "/s", 0)
    check(
        "exchange approve→receipt p99",
        "< 250 ms at ≥ 300 referrals/s",
        _median(exchange, "p99_ms"),
        lambda p: p < 250 and rate is not None and rate >= 300,
        " ms",
        0,
    )

    for page in ("first page", "deep page"):
        # bench-long measures the page at each size alone ("... at 10,000", "... at
        # 1,000,000"); the smallest is compared with the largest.
        sized = sorted(
            (
                s
                for s in results.scenarios
                if s.backend == "postgresql" and s.name.startswith(f"list incoming, {page} at ")
            ),
            key=lambda s: int(s.name.rsplit(" at ", 1)[1].replace(",", "")),
        )
        small = _median(sized[0], "p50_ms") if len(sized) > 1 else None
        large = _median(sized[-1], "p50_ms") if len(sized) > 1 else None
        ratio = large / small if small and large is not None else None
        check(f"listing p50 at 10⁶ vs 10⁴, {page}", "≤ 2x", ratio, lambda r: r <= 2)

    sop = _median(results.scenario("SOP advance (in process)", "none"), "rps")
    check("SOP advance in process", "≥ 20,000/s", sop, lambda r: r >= 20_000, "/s", 0)

    run = results.memory.get("memory_run")
    peaks = [v for k, v in results.memory.items() if k.endswith("peak_rss_mb_per_worker")]
    peaks += [run["peak_rss_mb_per_worker"]] if run else []
    peak = max(peaks, default=None)
    check("RSS per worker under load", "≤ 250 MB", peak, lambda mb: mb <= 250, " MB", 0)
    growth = max(run["growth_pct_after_warmup"].values(), default=None) if run else None
    check("RSS growth over 5 minutes", "< 10 % after warm-up", growth, lambda g: g < 10, " %", 1)
    return targets
