"""Grade the course exercises: run each exercise's pytest grader on a student's code, print scores.

An exercise is a folder ``exercises/NN_name/`` holding a prose spec (``README.md``), the student's
``exercise.py`` (stubs that ``raise NotImplementedError``), the reference ``solution.py`` (the
source of truth: ``exercise.py`` is generated from it by :func:`strip_solutions`) and a pytest
grader ``test_NN_name.py`` that compares the module under test with ``omni_lib``. The graders
always come from this repository; only the graded ``exercise.py`` files come from ``--dir``, so a
student who edits their copy of a grader changes nothing.

    python -m omni_lib.grade                     # the stubs in exercises/ (0 points until written)
    python -m omni_lib.grade 02_delay            # one exercise; a unique prefix (02, 02_de) works too
    python -m omni_lib.grade --dir ~/alice       # a student's checkout: ~/alice/exercises/NN_name/exercise.py
    python -m omni_lib.grade --solutions         # the reference solutions: every test must pass
    python -m omni_lib.grade 02 -v               # pytest's own report of each failure, then the table
    python -m omni_lib.grade --write-stubs       # instructors: regenerate every exercise.py from solution.py

Worked example, on the untouched stubs (a stub fails every test of its exercise; ``-q`` prints the
table only, without pytest's list of failed tests)::

    $ python -m omni_lib.grade 02_delay 08_wer -q
    exercise            tests     points
    02_delay              0/9     0.0/10
    08_wer                0/7     0.0/10
    total                0/16     0.0/20

Each exercise is worth :data:`POINTS` points, shared equally by its tests. The exit status is 0
when every selected test passed and 1 otherwise, so an autograder (GitHub Classroom) can give an
exercise's points for ``python -m omni_lib.grade NN``. Under the hood this is ``pytest.main`` on
the graders with a small plugin that records each test's outcome; ``pytest exercises/02_delay``
(``--solutions``, ``--submission DIR``) runs one grader by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

from omni_lib.cli import UsageError, add_debug, command

EXERCISES_DIR = Path(__file__).resolve().parent.parent / "exercises"
STUB, SOLUTION = "exercise.py", "solution.py"
POINTS = 10                                   # per exercise, shared equally by its tests
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB_HEADER = "# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).\n"
_loads = itertools.count()                    # unique module names: re-grading never reuses a module


# ----------------------------------------------------------------------------------- exercises
def list_exercises(root: Path = EXERCISES_DIR) -> list[str]:
    """Names of the exercise folders under ``root`` (``NN_name`` with a grader), in order."""
    return sorted(p.parent.name for p in root.glob("[0-9][0-9]_*/test_*.py") if p.name == f"test_{p.parent.name}.py")


def resolve(names: list[str], root: Path = EXERCISES_DIR) -> list[str]:
    """Exercise names from exact names or unique prefixes (``02`` -> ``02_delay``); all when empty."""
    known = list_exercises(root)
    if not names:
        return known
    out = []
    for name in names:
        hits = [e for e in known if e == name] or [e for e in known if e.startswith(name)]
        if len(hits) != 1:
            why = "matches none" if not hits else f"matches {len(hits)}: {', '.join(hits)}"
            raise UsageError(f"exercise {name!r} {why}; the exercises are: {', '.join(known)}")
        out.append(hits[0])
    return out


def find_submission(where: Path, exercise: str) -> Path:
    """The student's ``exercise.py`` of ``exercise`` under ``where``: a checkout of this repository,
    its ``exercises/`` folder, or a flat folder with one ``NN_name/exercise.py`` per exercise."""
    where = Path(where).expanduser()
    for candidate in (where / "exercises" / exercise / STUB, where / exercise / STUB):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {exercise}/{STUB} under {where} (looked in {where / 'exercises'} and {where})")


def load_submission(exercise_dir: Path, *, solutions: bool = False, submission: str | Path | None = None):
    """Import the module under test for the exercise in ``exercise_dir``, fresh (never a cached one).

    The reference ``solution.py`` with ``solutions``, else the ``exercise.py`` found by
    :func:`find_submission` under ``submission``, else the stub next to the grader. This is what
    the graders' ``mine`` fixture returns (``exercises/conftest.py``).
    """
    exercise_dir = Path(exercise_dir)
    if solutions:
        path = exercise_dir / SOLUTION
    elif submission is not None:
        path = find_submission(Path(submission), exercise_dir.name)
    else:
        path = exercise_dir / STUB
    name = f"omni_submission_{exercise_dir.name}_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise FileNotFoundError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module             # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# ----------------------------------------------------------------------------------- stubs
def strip_solutions(source: str) -> str:
    """The student's stub of a solution file: each marked block becomes ``raise NotImplementedError``.

    A block runs from a ``# BEGIN SOLUTION`` line to its ``# END SOLUTION`` line (both dropped);
    the replacement takes the indentation of the BEGIN line (nbgrader's rule, so the same markers
    work there). Everything outside the blocks is kept as it is.

        >>> src = "def f(x):\\n    '''Twice x.'''\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION\\n"
        >>> print(strip_solutions(src), end="")
        # Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
        def f(x):
            '''Twice x.'''
            raise NotImplementedError  # YOUR CODE HERE
    """
    out, inside, blocks = [STUB_HEADER], None, 0
    for n, line in enumerate(source.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise ValueError(f"line {n}: {BEGIN} inside the block opened at line {inside}")
            inside, blocks = n, blocks + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError  # YOUR CODE HERE\n")
        elif marker == END:
            if inside is None:
                raise ValueError(f"line {n}: {END} without a {BEGIN}")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ValueError(f"the block opened at line {inside} has no {END}")
    if not blocks:
        raise ValueError(f"no {BEGIN} / {END} block: nothing for the student to write")
    return "".join(out)


def write_stubs(root: Path = EXERCISES_DIR, exercises: list[str] | None = None) -> list[Path]:
    """Regenerate ``exercise.py`` from ``solution.py`` in each exercise; return the files that changed."""
    changed = []
    for name in exercises or list_exercises(root):
        stub = root / name / STUB
        text = strip_solutions((root / name / SOLUTION).read_text())
        if not stub.is_file() or stub.read_text() != text:
            stub.write_text(text)
            changed.append(stub)
    return changed


# ----------------------------------------------------------------------------------- grading
@dataclass
class Score:
    exercise: str
    passed: int = 0
    total: int = 0
    error: str = ""              # a grader that could not be collected (a broken grader, not a student error)
    failures: dict[str, str] = field(default_factory=dict)      # test id -> first line of its error

    @property
    def points(self) -> float:
        return round(POINTS * self.passed / self.total, 1) if self.total and not self.error else 0.0


class _Outcomes:
    """A pytest plugin: the final outcome of every test item, by exercise folder."""

    def __init__(self):
        self.items: dict[str, list] = {}                # nodeid -> [exercise, "passed" | "failed" | ..., message]
        self.errors: dict[str, str] = {}                # exercise -> collection error

    def pytest_collection_finish(self, session):
        for item in session.items:
            self.items[item.nodeid] = [Path(item.path).parent.name, "not run", ""]

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors[Path(str(report.fspath)).parent.name] = str(report.longrepr).strip().splitlines()[-1]

    def pytest_runtest_logreport(self, report):
        if report.nodeid not in self.items:
            return
        record = self.items[report.nodeid]
        if report.failed:                                # setup (e.g. the module did not import), call or teardown
            crash = getattr(report.longrepr, "reprcrash", None)
            record[1:] = "failed", crash.message if crash else str(report.longrepr).strip().splitlines()[-1]
        elif report.when == "call" and record[1] != "failed":
            record[1] = report.outcome                  # passed or skipped (a skip earns nothing)


def run(exercises: list[str] | None = None, *, solutions: bool = False, submission: str | Path | None = None,
        root: Path = EXERCISES_DIR, report: str = "short", pytest_args: tuple[str, ...] = ()) -> list[Score]:
    """Run the graders of ``exercises`` (default: all) in one pytest session; one :class:`Score` each.

    ``report``: what pytest prints: ``"short"`` (progress and the failed tests' names),
    ``"verbose"`` (and each failure's traceback) or ``"quiet"`` (nothing).
    """
    import pytest

    names = resolve(list(exercises or []), root)
    args = [str(root / n / f"test_{n}.py") for n in names]
    args += ["-c", str(root / "pytest.ini"), "--rootdir", str(root), "-p", "no:cacheprovider",
             "--import-mode=importlib", "--continue-on-collection-errors"]
    args += {"quiet": ["-p", "no:terminal"], "short": ["-q", "--tb=no", "-rfE"],
             "verbose": ["-q", "--tb=short", "-rfE"]}[report]
    if solutions:
        args.append("--solutions")
    elif submission is not None:
        args += ["--submission", str(Path(submission).expanduser().resolve())]
    outcomes = _Outcomes()
    pytest.main(args + list(pytest_args), plugins=[outcomes])
    scores = {n: Score(n, error=outcomes.errors.get(n, "")) for n in names}
    for nodeid, (exercise, outcome, message) in outcomes.items.items():
        scores[exercise].total += 1
        scores[exercise].passed += outcome == "passed"
        if outcome != "passed":
            scores[exercise].failures[nodeid.split("::", 1)[-1]] = message.splitlines()[0] if message else outcome
    for s in scores.values():
        if not s.total and not s.error:
            s.error = "no tests collected"
    return list(scores.values())


def format_table(scores: list[Score]) -> str:
    """The score table: one row per exercise, then the total."""
    rows = [f"{'exercise':<18}{'tests':>7}{'points':>11}"]
    for s in scores:
        note = f"   grader error: {s.error}" if s.error else ""
        rows.append(f"{s.exercise:<18}{f'{s.passed}/{s.total}':>7}{f'{s.points:.1f}/{POINTS}':>11}{note}")
    passed, total = sum(s.passed for s in scores), sum(s.total for s in scores)
    points = sum(s.points for s in scores)
    rows.append(f"{'total':<18}{f'{passed}/{total}':>7}{f'{points:.1f}/{POINTS * len(scores)}':>11}")
    return "\n".join(rows)


@command("python -m omni_lib.grade")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m omni_lib.grade", description=__doc__.split("\n\n")[0])
    add_debug(p)
    p.add_argument("exercises", nargs="*", help="exercise names or unique prefixes (default: all)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--solutions", action="store_true", help="grade the reference solutions (all must pass)")
    who.add_argument("--dir", type=Path, help="a student's checkout (or its exercises/ folder) to grade")
    who.add_argument("--write-stubs", action="store_true", help="regenerate exercise.py from solution.py")
    say = p.add_mutually_exclusive_group()
    say.add_argument("-v", "--verbose", action="store_true", help="also show each failure's traceback")
    say.add_argument("-q", "--quiet", action="store_true", help="print the score table only")
    args = p.parse_args(argv)
    names = resolve(args.exercises)
    if args.write_stubs:
        changed = write_stubs(exercises=names)
        print("\n".join(f"wrote {c}" for c in changed) or "every stub is up to date")
        return 0
    if args.dir is not None and not args.dir.expanduser().is_dir():
        p.error(f"--dir {args.dir} is not a directory")
    report = "verbose" if args.verbose else "quiet" if args.quiet else "short"
    scores = run(names, solutions=args.solutions, submission=args.dir, report=report)
    print(format_table(scores))
    return 0 if all(s.total and s.passed == s.total and not s.error for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
