"""The README's GPU table is generated from the saved benchmark report, and the table tool's errors are clear."""
import json
from pathlib import Path

import pytest

from aria_nav.bench.graph import README_END, README_START, markdown_table, replace_readme_table

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "bench" / "h200_graph30_after_pool2.json"


def test_readme_table_is_the_one_generated_from_the_saved_report():
    readme = (ROOT / "README.md").read_text()
    table = markdown_table(json.loads(REPORT.read_text()), source=REPORT.name)
    assert replace_readme_table(readme, table) == readme, \
        f"README's bench table is stale: run aria-nav bench table {REPORT.relative_to(ROOT)} --update README.md"


def test_table_shows_floor_spread_answered_frames_and_gpu_memory():
    table = markdown_table(json.loads(REPORT.read_text()))
    obstacles = next(line for line in table.splitlines() if "obstacles" in line)
    cells = [cell.strip() for cell in obstacles.split("|")[1:-1]]
    assert cells[4] == "100.0%" and cells[5].endswith(", 500)")  # floor over 500 frames, with p5-p95
    assert "| depth |" in table and "GPU MiB" in table


def test_replacing_the_table_needs_the_markers():
    assert replace_readme_table(f"a\n{README_START}\nold\n{README_END}\nb", "new") == \
        f"a\n{README_START}\nnew\n{README_END}\nb"
    with pytest.raises(ValueError, match="markers"):
        replace_readme_table("no table here", "new")
