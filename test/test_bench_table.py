"""The README's GPU table is generated from the saved benchmark report, and the table tool's errors are clear."""
import json
import re
from pathlib import Path

import pytest

from aria_nav.bench.graph import README_END, README_START, hop_lines, markdown_table, replace_readme_table
from aria_nav.core.stage_stats import HopTimes

ROOT = Path(__file__).resolve().parents[1]


def readme_report() -> Path:
    """The report the README's bench table names: `(<file>.json):` after the opening marker."""
    readme = (ROOT / "README.md").read_text()
    named = re.search(r"\(([\w.-]+\.json)\):", readme[readme.index(README_START):])
    assert named, "README's bench table does not name its report"
    return ROOT / "docs" / "bench" / named.group(1)


def test_readme_table_is_the_one_generated_from_the_saved_report():
    readme, report = (ROOT / "README.md").read_text(), readme_report()
    table = markdown_table(json.loads(report.read_text()), source=report.name)
    assert replace_readme_table(readme, table) == readme, \
        f"README's bench table is stale: run aria-nav bench table {report.relative_to(ROOT)} --update README.md"


def test_table_shows_floor_spread_answered_frames_and_gpu_memory():
    table = markdown_table(json.loads(readme_report().read_text()))
    obstacles = next(line for line in table.splitlines() if "obstacles" in line)
    cells = [cell.strip() for cell in obstacles.split("|")[1:-1]]
    assert cells[4] == "100.0%" and cells[5].endswith(", 500)")  # floor over 500 frames, with p5-p95
    assert "| depth |" in table and "GPU MiB" in table


def test_replacing_the_table_needs_the_markers():
    assert replace_readme_table(f"a\n{README_START}\nold\n{README_END}\nb", "new") == \
        f"a\n{README_START}\nnew\n{README_END}\nb"
    with pytest.raises(ValueError, match="markers"):
        replace_readme_table("no table here", "new")


def test_hop_times_say_where_each_nodes_time_goes():
    hops = HopTimes(window=3)
    for ms in (1.0, 2.0, 3.0, 4.0):  # the window keeps the last three
        hops.record("sent", ms)
    hops.record("taken", 5.0)
    assert list(hops.percentiles()) == ["sent", "taken"] and hops.percentiles()["sent"][50] == 3.0
    report = {"nodes": {
        "detector": {"hop_sent_ms_p50": "2.0", "hop_sent_ms_p95": "3.0", "hop_taken_ms_p50": "5.5",
                     "hop_taken_ms_p95": "7.0", "inference_ms_p50": "1.30", "rate_hz": "30.0"},
        "fusion": {"hop_depth_taken_ms_p50": "9.0", "hop_depth_taken_ms_p95": "10.0",
                   "hop_detections_taken_ms_p50": "7.0", "hop_detections_taken_ms_p95": "8.0",
                   "hop_published_ms_p50": "10.5", "hop_published_ms_p95": "12.0"},
        "speech": {"rate_hz": "1.0"}}}
    detector, fusion = hop_lines(report)[1:]
    assert detector == "  detector: sent 2.0 (3.0), taken 5.5 (7.0) [+3.5]; model stages p50 ms: inference 1.30"
    # Fusion's publishing counts from the later of its two inputs: pairing and processing.
    assert fusion.endswith("published 10.5 (12.0) [+1.5]")
    assert len(hop_lines({"nodes": {"speech": {"rate_hz": "1.0"}}})) == 0
