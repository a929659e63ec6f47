"""Run the course: execute every notebook in order, headless, and print what it measured.

    make course                                   # = python -m omni_lib.course --preset tiny
    python -m omni_lib.course --only 01 02        # some notebooks
    python -m omni_lib.course --preset mini-omni  # the released sizes (needs the internet, and time)

Executed copies go to ``build/<notebook>.ipynb``. Notebooks hand their key numbers to
:func:`report`, which shows them in the notebook and, under this runner, appends them to
``build/results.jsonl`` so the summary table can print them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from omni_lib.cli import UsageError, add_debug, at_least, command, writable_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS_ENV = "OMNI_COURSE_RESULTS"


def report(notebook: str, **numbers) -> None:
    """Record a notebook's key numbers: ``report("01", frames=37, stream_max_err=2e-6)``.

    Prints them as one line; when run by ``make course`` they also reach the final summary.
    """
    line = ", ".join(f"{k} = {_fmt(v)}" for k, v in numbers.items())
    print(f"[{notebook}] {line}")
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"notebook": notebook, **{k: _jsonable(v) for k, v in numbers.items()}}) + "\n")


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The course notebooks in order (``notebooks/NN_name.ipynb``), optionally those matching ``only``."""
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [nb for nb in found if any(nb.name.startswith(o) or o in nb.stem for o in only)]
        if not found:
            raise UsageError(f"--only {' '.join(only)}: no notebook matches; see notebooks/")
    return found


@command("python -m omni_lib.course")
def main(argv: list[str] | None = None) -> int:
    from omni_lib.config import PRESETS

    ap = argparse.ArgumentParser(prog="python -m omni_lib.course", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                    help="config preset passed to every notebook (default: tiny)")
    ap.add_argument("--only", nargs="*", help="notebook numbers or names to run, e.g. 01 02")
    ap.add_argument("--out", default=str(ROOT / "build"), help="where executed notebooks go")
    ap.add_argument("--timeout", type=at_least(1), default=7200,
                    help="seconds allowed per cell (notebook 04 trains the course model on first run: ~20 min here)")
    add_debug(ap)
    args = ap.parse_args(argv)
    selected = notebooks(args.only)              # a wrong --only fails before anything runs
    writable_dir(args.out, "--out")

    import papermill  # imported here: the library itself does not need it

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)
    os.environ[RESULTS_ENV] = str(results)

    rows, failed = [], False
    for nb in selected:
        print(f"=== {nb.name} (preset {args.preset})", flush=True)
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(nb), str(out / nb.name), parameters={"PRESET": args.preset},
                cwd=str(nb.parent), kernel_name="python3", progress_bar=False,
                execution_timeout=args.timeout,
            )
            status = "ok"
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            status, failed = "FAILED", True
            print(f"{nb.name} failed: {e}", file=sys.stderr)
        rows.append((nb.stem, status, time.perf_counter() - t0))

    numbers = _read_results(results)
    print("\nCourse summary (preset %s)" % args.preset)
    print(f"{'notebook':32} {'status':7} {'seconds':>8}  key numbers")
    for stem, status, seconds in rows:
        key = numbers.get(stem[:2], {})
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in key.items())
        print(f"{stem:32} {status:7} {seconds:8.1f}  {shown}")
    print(f"executed notebooks: {out}/")
    return 1 if failed else 0


def _read_results(path: Path) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            merged.setdefault(rec.pop("notebook")[:2], {}).update(rec)
    return merged


def _jsonable(v):
    try:
        return float(v) if not isinstance(v, (str, bool, int)) else v
    except (TypeError, ValueError):
        return str(v)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


if __name__ == "__main__":
    raise SystemExit(main())
