"""The course's notebooks are well-formed (twins in sync, no outputs, a parameters cell), and the
runner's report/summary plumbing works. Executing the notebooks is nbmake's job (``make test``)."""

import json
from pathlib import Path

import jupytext
import pytest

from omni_lib import course

NOTEBOOKS = course.notebooks()


def test_course_has_notebooks():
    names = [nb.stem for nb in NOTEBOOKS]
    assert "01_snac_tokenization" in names and "02_delay_patterns" in names


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_twin_in_sync_and_clean(nb: Path):
    twin = nb.with_suffix(".py")
    assert twin.exists(), f"{nb.name} has no jupytext twin {twin.name}; run: jupytext --set-formats ipynb,py:percent {nb}"
    a = jupytext.read(nb)
    b = jupytext.read(twin)
    src = lambda n: [(c.cell_type, c.source.strip()) for c in n.cells]  # noqa: E731
    assert src(a) == src(b), f"{nb.name} and {twin.name} differ; run: jupytext --sync {nb}"
    raw = json.loads(nb.read_text())
    assert not any(c.get("outputs") for c in raw["cells"]), f"{nb.name} is committed with outputs"
    params = [c for c in a.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'PRESET = "tiny"' in params[0].source


def test_report_appends_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.jsonl"
    monkeypatch.setenv(course.RESULTS_ENV, str(out))
    course.report("01", frames=37, err=1.5e-6)
    course.report("01", wall_s=2.0)
    assert "[01] frames = 37, err = 1.5e-06" in capsys.readouterr().out
    merged = course._read_results(out)
    assert merged == {"01": {"frames": 37, "err": 1.5e-6, "wall_s": 2.0}}


def test_unknown_notebook_selection_is_a_clear_error():
    from omni_lib.cli import UsageError

    with pytest.raises(UsageError, match="no notebook matches"):
        course.notebooks(["99"])
