"""train.threads: the cores other processes leave free, or a fixed count; the caller's count back."""

from __future__ import annotations

import time

import pytest
import torch

from aekit.errors import ConfigError
from aekit.training import threads
from aekit.training.threads import ThreadPolicy, parse_threads


class FakeMeter:
    def __init__(self, used: float):
        self.used, self.mark = used, (0.0, 0.0, 0.0)

    def others(self):
        return self.used, 1.0


def auto_policy(monkeypatch, cores: int, used: float) -> ThreadPolicy:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: list(range(cores)))
    pol = ThreadPolicy("auto")
    pol.meter = FakeMeter(used)
    return pol


@pytest.mark.parametrize(
    "cores, used, expected",
    [(2, 0.0, 2), (2, 0.2, 2), (2, 0.3, 1), (2, 1.0, 1), (2, 2.0, 1), (8, 3.0, 5), (4, 9.0, 1)],
)
def test_auto_uses_the_cores_others_leave_free(monkeypatch, cores, used, expected):
    assert auto_policy(monkeypatch, cores, used).choose() == expected


def test_policy_sets_threads_and_gives_the_callers_count_back(monkeypatch):
    before = torch.get_num_threads()
    pol = auto_policy(monkeypatch, 2, 1.0)
    try:
        torch.set_num_threads(2)
        pol.saved = 2
        pol.on_train_start(None)
        assert torch.get_num_threads() == 1
        pol.meter.used = 0.0
        pol.last_check = -1e9  # due for a look
        pol.on_epoch_end(None)
        assert torch.get_num_threads() == 2
        pol.on_train_end(None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_omp_num_threads_in_the_environment_wins_over_auto(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    pol = ThreadPolicy("auto")
    assert pol.meter is None and pol.choose() == 3


def test_the_meter_sees_this_machines_cpus():
    meter = threads.CpuMeter(threads.usable_cores())
    t = time.monotonic()
    while time.monotonic() - t < 0.5:  # CPU time of our own, which is not "others"
        sum(i * i for i in range(10_000))
    seen = meter.others()
    if seen is None:
        pytest.skip("no /proc/stat here")
    used, seconds = seen
    # CPU time is counted in 10 ms ticks: over 0.5 s, within a few tenths of a core
    assert seconds >= 0.5 and 0.0 <= used <= len(threads.usable_cores()) + 0.25


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True, ""])
def test_a_bad_thread_setting_is_refused_with_the_choices(bad):
    with pytest.raises(ConfigError, match="train.threads must be 'auto' or a whole number"):
        parse_threads(bad)


def test_fixed_count_parses():
    assert parse_threads("auto") is None and parse_threads(4) == 4 and parse_threads("2") == 2
