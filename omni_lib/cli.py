"""What every command line of the course shares: expected errors as one clear line, not a traceback.

A command's ``main`` is wrapped with :func:`command`. Errors a user can cause and fix (a wrong
argument, a missing or damaged file, the hub out of reach) then print one line on stderr and exit
with code 2 (bad usage: :class:`UsageError`, argparse's own errors) or 1 (a bad file or input:
:class:`BadFile`, ``OSError``, ``ValueError``, a ``SystemExit("message")``). Anything else is a bug
and keeps its traceback. ``--debug`` on any command line, or ``OMNI_DEBUG=1``, shows the traceback
of the expected errors too::

    >>> @command("demo")
    ... def main(argv=None):
    ...     raise UsageError("--steps -5: must be at least 1")
    >>> try:
    ...     main([])
    ... except SystemExit as e:
    ...     print("exit", e.code)
    exit 2

The checks below run before anything heavy loads, so a wrong argument costs a second, not a
model load: :func:`at_least` (an argparse ``type``), :func:`existing_path`, :func:`writable_dir`.
The file readers :func:`read_json` and :func:`read_yaml` name the file and what to do when it
does not parse.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from pathlib import Path

DEBUG_ENV = "OMNI_DEBUG"


class CommandError(Exception):
    """An expected failure with a message for the user; ``exit_code`` 1."""
    exit_code = 1


class UsageError(CommandError):
    """The command line asks for something impossible or contradictory (exit code 2)."""
    exit_code = 2


class BadFile(CommandError, ValueError):
    """A file that exists but cannot be used (damaged, malformed, contradicting another file).

    A ``ValueError`` too, so that library callers that catch ``ValueError`` keep working.
    """

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


class Exit(SystemExit):
    """``SystemExit`` with an int code that still reads as its message (``str(e)``, pytest's ``match``)."""

    def __init__(self, code: int, message: str):
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _expected() -> tuple[type, ...]:
    from omni_lib.hub import HubUnavailable

    return CommandError, HubUnavailable, OSError, ValueError


def debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def command(prog: str):
    """Decorate ``main(argv=None)``: expected errors become one stderr line and an exit code.

    ``--debug`` is removed from ``argv`` before ``main`` sees it (so every parser accepts it)."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv: list[str] | None = None, *args, **kwargs):
            argv = list(sys.argv[1:] if argv is None else argv)
            debug = debug_wanted(argv)
            argv = [a for a in argv if a != "--debug"]
            try:
                return main(argv, *args, **kwargs)
            except SystemExit as e:
                if debug or e.code is None or isinstance(e.code, int):
                    raise                                   # argparse (2, already printed), --help (0), nested
                raise _fail(prog, 1, str(e.code)) from None
            except KeyboardInterrupt:
                if debug:
                    raise
                raise _fail(prog, 130, "interrupted") from None
            except _expected() as e:
                if debug:
                    raise
                raise _fail(prog, getattr(e, "exit_code", 1), _message(e)) from None
        return run
    return wrap


def _message(e: BaseException) -> str:
    text = str(e)
    if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
        text = f"{e.filename}: {text}"
    return text or type(e).__name__


def _fail(prog: str, code: int, message: str) -> Exit:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return Exit(code, message)


def add_debug(parser: argparse.ArgumentParser) -> None:
    """List ``--debug`` in ``--help`` (:func:`command` handles it before the parser runs)."""
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")


# ---------------------------------------------------------------------------------- argument checks
def at_least(low: float, kind=int):
    """An argparse ``type``: a number ``>= low``.

        >>> at_least(1)("3")
        3
        >>> at_least(1)("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be at least 1, got 0
    """
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not value >= low:                   # `not >=`: NaN is refused too
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text}")
        return value
    parse.__name__ = kind.__name__             # argparse names the type in its messages
    return parse


def positive(kind=float):
    """An argparse ``type``: a number ``> 0`` (``positive()("0.5")`` -> 0.5)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def existing_path(path, option: str, *, kind: str = "any", hint: str = "") -> Path:
    """``path`` as a ``Path`` if it exists (``kind``: ``"file"``, ``"dir"`` or ``"any"``), else :class:`UsageError`."""
    p = Path(path).expanduser()
    ok = p.is_file() if kind == "file" else p.is_dir() if kind == "dir" else p.exists()
    if not ok:
        what = {"file": "no such file", "dir": "no such directory"}.get(kind, "no such file or directory")
        if p.exists():
            what = f"not a {'file' if kind == 'file' else 'directory'}"
        raise UsageError(f"{option} {path}: {what}" + (f"; {hint}" if hint else ""))
    return p


def writable_dir(path, option: str) -> Path:
    """Check that folder ``path`` can be written (it, or the nearest folder above it that exists).

    Nothing is created: a command that fails later leaves no empty folder behind."""
    p = Path(path).expanduser()
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"{option} {path}: {probe} is a file, not a folder")
    try:                         # a real file, not os.access: root passes os.access on read-only mounts
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot write in {probe} ({e.strerror}); choose another {option}") from None
    return p


def writable_file(path, option: str) -> Path:
    """Check that file ``path`` can be written: its folder exists and is writable, it is not a folder."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not p.parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {p.parent} does not exist; create it first")
    writable_dir(p.parent, option)
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option} {path}: the file is read-only; choose another {option}")
    return p


# ---------------------------------------------------------------------------------- files
def read_json(path, *, what: str = "", fix: str = "") -> object:
    """``json.loads`` of a file, or :class:`BadFile` naming the file, the place and what to do."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise BadFile(p, f"not a text file ({e.reason}){_tail(what, fix)}") from None
    except json.JSONDecodeError as e:
        raise BadFile(p, f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}){_tail(what, fix)}") from None


def read_yaml(path, *, what: str = "", fix: str = "") -> object:
    """``yaml.safe_load`` of a file, or :class:`BadFile` naming the file, the place and what to do."""
    import yaml

    p = Path(path)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise BadFile(p, f"not a text file ({e.reason}){_tail(what, fix)}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise BadFile(p, f"not valid YAML ({problem}{where}){_tail(what, fix)}") from None


def _tail(what: str, fix: str) -> str:
    return (f"; it should be {what}" if what else "") + (f". {fix}" if fix else "")


def read_torch(path, *, fix: str, map_location="cpu", mmap: bool = False):
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    A damaged file, one that is not a torch zip, or one holding other Python objects is a
    :class:`BadFile` that names the file and says ``fix`` (what to do)."""
    import pickle

    import torch

    import zipfile

    p = Path(path)
    if mmap and not zipfile.is_zipfile(p):     # torch's own mmap message would blame how the file was saved
        raise BadFile(p, f"not a torch checkpoint (the zip file torch.save writes): truncated, or another "
                         f"format. {fix}")
    try:
        return torch.load(p, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        # torch's own message suggests turning weights_only off, i.e. running the file's code: never that
        why = str(e).split("\n")
        detail = next((line.strip() for line in why if "Unsupported global" in line or "GLOBAL" in line), "")
        raise BadFile(p, "holds Python objects other than tensors and plain containers, which are refused "
                         f"(loading them could run code{': ' + detail if detail else ''}). {fix}") from None
    except (RuntimeError, EOFError, ValueError) as e:
        first = str(e).split(". ")[0].split("\n")[0]
        raise BadFile(p, f"not a complete torch checkpoint (truncated, or not a file written by torch.save: "
                         f"{first}). {fix}") from None


def read_safetensors(path, *, fix: str) -> dict:
    """``safetensors.torch.load_file``, with a damaged header or a truncated file as a :class:`BadFile`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    try:
        return load_file(str(p))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise BadFile(p, f"not a complete safetensors file ({e}). {fix}") from None
