"""The graders are graded: every reference solution passes its grader, every untouched stub fails
every test cleanly (NotImplementedError, 0 points, no crash), a plausible bug in each exercise
loses points, and the committed stubs are exactly the solutions with the marked blocks stripped.

Each grading is one in-process pytest session over all nine graders (about 10 s on 2 cores).
"""

import pytest

from omni_lib import grade

EXERCISES = grade.list_exercises()
HAVE_SOLUTIONS = bool(EXERCISES) and all((grade.EXERCISES_DIR / e / grade.SOLUTION).is_file() for e in EXERCISES)
pytestmark = pytest.mark.skipif(not HAVE_SOLUTIONS, reason="no reference solutions here (a student's copy)")

# One plausible bug per exercise: (text of solution.py, what the bug writes instead).
MUTANTS = {
    # layer 1 takes middle[2f + 1]
    "01_snac_frames": ("torch.stack([coarse, middle[:, 0],", "torch.stack([coarse, middle[:, 1],"),
    # off-by-one delay: layer j lags j steps
    "02_delay": ("out[j, j + 1: j + 1 + F] = rows[j]", "out[j, j: j + F] = rows[j]"),
    # the ASR prompt asks for an answer
    "03_task_layouts": ('ts.asr if task == "ASR" else ts.answer_t', "ts.answer_t"),
    # the adapter output replaces the text row too
    "04_embedding": ("x[b, :N_AUDIO, 1: 1 + n]", "x[b, :, 1: 1 + n]"),
    # the text loss trains the forced pad_t
    "05_loss_masks": ("text_on & (grid[n_audio] != ts.pad_t)", "text_on"),
    # the text token comes from the speaking row
    "06_parallel_step": ("text = int(text_logits[1]", "text = int(text_logits[0]"),
    # no left context: seams
    "07_streaming": ("first = max(self.done - self.left, 0)", "first = self.done"),
    # leading insertions cost nothing
    "08_wer": ("range(M + 1):\n        d[0][j] = j", "range(M + 1):\n        d[0][j] = 0"),
    # no residual: every scale quantises the mel itself, not what the coarser scales left over
    "09_residual_vq": ("residual = residual - np.repeat(book[idx], k, axis=0)",
                       "residual = np.asarray(mel, dtype=np.float32)"),
}


def by_name(scores):
    return {s.exercise: s for s in scores}


@pytest.fixture(scope="module")
def solutions():
    return by_name(grade.run(solutions=True, report="quiet"))


@pytest.fixture(scope="module")
def mutants(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    for name, (good, bad) in MUTANTS.items():
        source = (grade.EXERCISES_DIR / name / grade.SOLUTION).read_text()
        assert source.count(good) == 1, f"{name}: the mutant's anchor {good!r} is not (once) in solution.py"
        (root / "exercises" / name).mkdir(parents=True)
        (root / "exercises" / name / grade.STUB).write_text(source.replace(good, bad))
    return by_name(grade.run(submission=root, report="quiet"))


def test_every_exercise_has_a_spec_a_stub_a_solution_and_a_worked_example():
    assert len(EXERCISES) >= 8 and set(MUTANTS) <= set(EXERCISES)
    for name in EXERCISES:
        folder = grade.EXERCISES_DIR / name
        for part in ("README.md", grade.STUB, grade.SOLUTION):
            assert (folder / part).is_file(), f"{name} has no {part}"
        assert "def test_worked_example(" in (folder / f"test_{name}.py").read_text(), name


@pytest.mark.parametrize("name", EXERCISES)
def test_stub_is_the_solution_stripped(name):
    folder = grade.EXERCISES_DIR / name
    assert (folder / grade.STUB).read_text() == grade.strip_solutions((folder / grade.SOLUTION).read_text()), (
        f"{name}/{grade.STUB} is stale: run python -m omni_lib.grade --write-stubs")


def test_every_solution_passes(solutions):
    assert list(solutions) == EXERCISES
    for name, s in solutions.items():
        assert not s.error and s.total >= 5, f"{name}: {s.error or f'only {s.total} tests'}"
        assert s.passed == s.total, f"{name}: {s.failures}"


def test_stubs_fail_every_test_cleanly(solutions):
    stubs = by_name(grade.run(report="quiet"))
    for name, s in stubs.items():
        assert not s.error and s.total == solutions[name].total, f"{name}: {s.error}"
        assert s.passed == 0 and s.points == 0.0, f"{name}: a stub passed {s.passed} tests"
        bad = {test: m for test, m in s.failures.items() if "NotImplementedError" not in m}
        assert not bad, f"{name}: stub failures that are not NotImplementedError: {bad}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_a_wrong_solution_loses_points(mutants, solutions, name):
    s = mutants[name]
    assert not s.error and s.total == solutions[name].total
    assert s.passed < s.total, f"{name}: the bug {MUTANTS[name][1]!r} passed every test"


def test_main_prints_the_table_and_exits_by_the_score(capsys, tmp_path):
    assert grade.main(["02", "--solutions", "-q"]) == 0
    out = capsys.readouterr().out
    assert "02_delay" in out and "10.0/10" in out and out.strip().splitlines()[-1].split()[0] == "total"
    assert grade.main(["02_delay", "-q", "--dir", str(tmp_path)]) == 1         # nothing there: 0 points, no crash
    assert "0.0/10" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        grade.main(["no_such_exercise"])


def test_strip_solutions_refuses_unbalanced_markers():
    with pytest.raises(ValueError):
        grade.strip_solutions("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(ValueError):
        grade.strip_solutions("def f():\n    return 1\n")                      # nothing to write
