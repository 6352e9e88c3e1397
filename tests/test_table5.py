"""Table 5's footer names the machines the jobs ran on, from their cost records, not the machine
that wrote the table: results computed on one host and tabulated on another stay attributable."""

import json

from seller_core.report import tables
from seller_core.report.tables import host_line
from seller_core.runtime import cost_record


def _cost(path, **over):
    rec = {**cost_record("x", "cpu", 0.0), "wall_seconds": 10.0, "tokens": 5, "new_tokens": 3, **over}
    path.write_text(json.dumps(rec))
    return str(path)


def test_the_footer_names_each_jobs_host_and_flags_records_without_one(tmp_path):
    other = {"cpu": "Some AVX2 CPU", "cores": 16, "kernels": "AVX2", "torch": "2.13.0+cpu"}
    costs = {"d": {"a": {"train": _cost(tmp_path / "a_t.json"), "generate": _cost(tmp_path / "a_g.json", host=other)},
                   "b": {"train": None, "generate": _cost(tmp_path / "b_g.json", host=None)}}}
    roles = {"reference": "a", "labels": {}, "llm": []}
    tables.table5(costs, "THIS MACHINE", tmp_path / "t5.csv", tmp_path / "t5.md", {}, roles)
    md = (tmp_path / "t5.md").read_text()
    here = json.loads((tmp_path / "a_t.json").read_text())["host"]
    assert host_line(here) in md and host_line(other) in md
    assert "Some AVX2 CPU (16 cores), torch 2.13.0+cpu kernels AVX2" in md
    assert "THIS MACHINE (this table's machine: the job recorded none)" in md  # b's record has no host
