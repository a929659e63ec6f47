"""A fresh clone installs what CI tested: constraints.txt pins every package of the set-up, the
set-up uses it, and this environment holds exactly those versions (scripts/check_pins.py)."""

import importlib.util
import os
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")                      # Python 3.11+, as CI
ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_pins", ROOT / "scripts" / "check_pins.py")
check_pins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_pins)


def test_every_line_is_an_exact_pin_and_torch_is_2_13():
    pins = check_pins.read_pins()
    assert pins["torch"] == "2.13.0" and "omni-lib" not in pins and "pip" not in pins
    assert all("+" not in v for v in pins.values())          # no local labels: a CUDA build of the version fits


def test_the_pins_satisfy_the_ranges_of_pyproject():
    """pyproject.toml keeps ranges for users' own environments; the pins must lie inside them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = check_pins.read_pins()
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    for r in reqs:
        name = canonicalize_name(r.name)
        assert name in pins, f"{r.name} is a dependency but not pinned: make pins"
        assert r.specifier.contains(Version(pins[name]), prereleases=True), (str(r), pins[name])


def test_setup_and_conda_install_with_the_constraints():
    assert '-c "$CONSTRAINTS"' in (ROOT / "scripts" / "setup.sh").read_text()
    assert "- -c constraints.txt" in (ROOT / "environment.yml").read_text()


@pytest.mark.skipif(os.environ.get("OMNI_SKIP_PIN_CHECK") == "1", reason="OMNI_SKIP_PIN_CHECK=1: an own environment")
def test_this_environment_holds_the_pinned_versions():
    errors, _ = check_pins.compare(check_pins.read_pins(), check_pins.installed_versions())
    assert not errors, "not the environment CI tested (scripts/setup.sh, or make pins after an upgrade):\n" + \
        "\n".join(errors)


def test_a_differing_or_missing_version_is_found():
    errors, notes = check_pins.compare({"numpy": "2.4.6", "tqdm": "4.70.1"}, {"numpy": "2.4.5", "extra": "1.0"})
    assert errors == ["numpy: installed 2.4.5, pinned 2.4.6", "tqdm: not installed, pinned 4.70.1"]
    assert notes == ["extra 1.0 is installed but not pinned"]
