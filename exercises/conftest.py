"""The graders' one fixture, ``mine``: the module under test of the grader's exercise.

By default the stub ``exercise.py`` next to the grader; ``--solutions`` the reference
``solution.py``; ``--submission DIR`` a student's ``exercise.py`` under DIR (their checkout).
``python -m omni_lib.grade`` passes these options; see :func:`omni_lib.grade.load_submission`.
"""

import signal
import threading

import pytest
import torch

from omni_lib.grade import load_submission

_threads = []


def pytest_configure(config):
    # The graders use small tensors: one thread is fastest, and it spares a shared machine.
    _threads.append(torch.get_num_threads())
    torch.set_num_threads(1)


def pytest_unconfigure(config):
    if _threads:
        torch.set_num_threads(_threads.pop())


def pytest_addoption(parser):
    group = parser.getgroup("omni_lib.grade")
    group.addoption("--solutions", action="store_true", help="grade the reference solutions")
    group.addoption("--submission", metavar="DIR", help="grade the exercise.py files of a student's checkout")
    group.addoption("--test-seconds", type=float, default=60.0,
                    help="fail a test that runs longer (an endless loop must not hang the grading)")


@pytest.fixture(scope="module")
def mine(request):
    opt = request.config.getoption
    return load_submission(request.path.parent, solutions=opt("solutions"), submission=opt("submission"))


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fail a test after ``--test-seconds`` (SIGALRM: Unix, main thread; elsewhere no limit)."""
    seconds = request.config.getoption("test_seconds")
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise TimeoutError(f"the test ran longer than {seconds:g} s (an endless loop?)")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
