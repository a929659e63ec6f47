"""Check that this environment holds exactly the versions of ``constraints.txt`` (what CI tested).

    python scripts/check_pins.py          # exit 1, naming each package, if one differs or is missing

A pinned package installed at another version, or not installed, is an error. A package installed
but not pinned is listed as a note only (a user's own additions to the venv). Local version labels
are ignored: a CUDA build ``torch 2.13.0+cu128`` satisfies ``torch==2.13.0``.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"
UNPINNED = {"pip", "setuptools", "wheel", "omni-lib"}     # pip freeze leaves these out; omni_lib is this repo


def read_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise ValueError(f"{path}: {line!r} is not name==version (regenerate it: make pins)")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def compare(pins: dict[str, str], installed: dict[str, str]) -> tuple[list[str], list[str]]:
    """(errors, notes): pinned packages missing or at another version; installed ones not pinned.

        >>> compare({"torch": "2.13.0", "tqdm": "4.70.1"}, {"torch": "2.13.0+cpu", "tqdm": "4.69.0", "rich": "15.0"})
        (['tqdm: installed 4.69.0, pinned 4.70.1'], ['rich 15.0 is installed but not pinned'])
    """
    errors, notes = [], []
    for name, want in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            errors.append(f"{name}: not installed, pinned {want}")
        elif Version(have).public != Version(want).public:
            errors.append(f"{name}: installed {have}, pinned {want}")
    notes = [f"{n} {v} is installed but not pinned" for n, v in sorted(installed.items())
             if n not in pins and n not in UNPINNED]
    return errors, notes


def installed_versions() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def main() -> int:
    errors, notes = compare(read_pins(), installed_versions())
    for n in notes:
        print(f"check_pins: note: {n}", file=sys.stderr)
    if errors:
        print("check_pins: this environment is not the one CI tested (re-run scripts/setup.sh, or after an "
              "intended upgrade that passed the tests: make pins):\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print(f"check_pins: ok: {len(read_pins())} packages at their pinned versions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
