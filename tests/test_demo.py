"""``accord demo --exit`` runs the federation and the joint SOP end to end on real nodes, over
the public API only, and reports in the summary shape DESIGN §8 fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_walks_every_person_to_their_expected_stage(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "demo",
            "--exit",
            "--summary-json",
            str(summary_path),
        ],
        env={**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "160"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert set(summary) >= {"ok", "nodes", "people", "logins", "clients"}
    assert summary["ok"] is True
    hosted = sorted(a for node in summary["nodes"] for a in node["agencies"])
    assert hosted == ["gov-de", "gov-xk", "ilo", "iom", "unhcr"]
    assert len(summary["nodes"]) == 4, "UNHCR; IOM and ILO sharing a node; two governments"
    for person in summary["people"]:
        assert set(person) >= {
            "name",
            "pathway",
            "end_stage",
            "expected_end_stage",
            "referrals",
            "erasures",
        }
        assert person["end_stage"] == person["expected_end_stage"], person
    withdrawn = [p for p in summary["people"] if p["end_stage"] == "withdrawn"]
    assert withdrawn
    assert withdrawn[0]["erasures"] == withdrawn[0]["referrals"] > 0
    assert {(login["agency"], login["role"]) for login in summary["logins"]} >= {
        ("unhcr", "focal_point"),
        ("iom", "focal_point"),
        ("unhcr", "admin"),
        ("unhcr", "auditor"),
    }
    assert all(set(c) == {"agency", "client_id", "client_secret"} for c in summary["clients"])
    assert summary["waiting"]["to_approve_at_unhcr"]
    assert summary["waiting"]["to_accept_at_iom"]
    assert "Summary" in result.stdout
    assert (tmp_path / "var" / "demo" / "unhcr.db").exists()
