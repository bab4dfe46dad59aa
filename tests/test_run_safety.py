"""Nothing lost: a failed resume changes nothing, a run folder has one writer at a time, Ctrl-C
checkpoints and says how to resume, a run killed before its end-of-run phase can be finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import save_file
from test_resume import assert_same_weights, metric_lines, quick, train

import aekit
from aekit.cli.main import main
from aekit.errors import AekitError, ConfigError, TrainingInterrupted
from aekit.training.checkpoint import read_checkpoint
from aekit.training.run_dir import atomic_write_text, run_lock

SRC = str(Path(aekit.__file__).resolve().parents[1])


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A finished 2-epoch run (its end-of-run phase included)."""
    out = tmp_path_factory.mktemp("runs")
    return aekit.train(quick(out, run={"name": "done"}), report=False).run_dir


def damage(run: Path, how: str) -> None:
    ck = read_checkpoint(run).path
    if how == "optimizer":
        (ck / "optimizer.pt").write_bytes(b"PK\x03\x04 not a torch file")
    elif how == "state-garbage":
        (run / "checkpoint" / "state.json").write_text(
            '{"format": 1, "dir": "../..", "epoch": "x"}'
        )
    elif how == "state-not-json":
        (run / "checkpoint" / "state.json").write_bytes(b"\x00\xff garbage")
    elif how == "architecture":  # a checkpoint written for a wider model
        other = aekit.create_model("mlp", (1, 8, 8), hidden=[64], latent_dim=3)
        save_file(other.state_dict(), str(ck / "model.safetensors"))


@pytest.mark.parametrize("how", ["optimizer", "state-garbage", "state-not-json", "architecture"])
def test_a_failed_resume_changes_nothing_in_the_run_folder(done, tmp_path, how):
    run = tmp_path / "run"
    os.system(f"cp -r {done} {run}")
    damage(run, how)
    before = snapshot(run)
    with pytest.raises(AekitError) as err:
        aekit.train(resume=run, train={"epochs": 4})
    assert "\n" not in str(err.value)
    assert snapshot(run) == before  # config.json, metrics.jsonl, weights: byte-identical


def test_a_second_process_is_refused_while_one_holds_the_run_folder(done, tmp_path, capsys):
    run = tmp_path / "run"
    os.system(f"cp -r {done} {run}")
    code = f"import sys, time\nfrom aekit.training.run_dir import run_lock\nwith run_lock({str(run)!r}):\n    print('locked', flush=True)\n    time.sleep(120)\n"
    env = {**os.environ, "PYTHONPATH": SRC}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        before = snapshot(run)
        assert main(["train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another aekit process" in err[0], err
        assert snapshot(run) == before
    finally:
        holder.kill()  # the kernel drops the lock with the process
        holder.wait()
    with run_lock(run):  # free again
        pass
    assert aekit.train(resume=run, train={"epochs": 3}, report=False).history[-1]["epoch"] == 3


def test_the_lock_is_held_while_training(runs):
    seen = []

    class TryLock:
        def on_epoch_end(self, state):
            with pytest.raises(ConfigError, match="in use"):
                with run_lock(state.run_dir):
                    pass
            seen.append(state.epoch)

    train(quick(runs), [TryLock()])
    assert seen == [1, 2]


class SignalAtStep:
    def __init__(self, step: int, sig=signal.SIGINT):
        self.step, self.sig = step, sig

    def on_step(self, state):
        if state.step == self.step:
            os.kill(os.getpid(), self.sig)


@pytest.mark.parametrize(
    "sig,step", [(signal.SIGINT, 3), (signal.SIGTERM, 14), (signal.SIGINT, 18)]
)
def test_ctrl_c_checkpoints_at_the_next_step_and_the_resume_is_exact(runs, sig, step):
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        ctrl_c_then_resume(runs, sig, step)
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_ignored_signal_stays_ignored(runs):
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job, nohup
    try:
        run = train(quick(runs), [SignalAtStep(3, signal.SIGINT)])
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert run.epoch == 2  # trained to the end
    finally:
        signal.signal(signal.SIGINT, before)


def ctrl_c_then_resume(runs, sig, step):
    cfg = quick(runs, train={"epochs": 3, "log_every": 1, "checkpoint_min_s": 1e9})
    straight = train({**cfg, "run": {**cfg["run"], "name": "straight"}})
    cfg["run"]["name"] = "stopped"
    with pytest.raises(TrainingInterrupted) as err:
        train(cfg, [SignalAtStep(step, sig)])
    stopped = runs / "stopped"
    assert f"aekit train --resume {stopped}" in str(err.value)
    assert read_checkpoint(stopped).state["step"] == step
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers put back
    train(None, resume=stopped)
    assert_same_weights(straight.run_dir, stopped)
    assert metric_lines(stopped) == metric_lines(straight.run_dir)


def test_the_first_epoch_always_checkpoints(runs):
    run = train(quick(runs, train={"epochs": 3, "checkpoint_every": 2, "checkpoint_min_s": 1e9}))
    assert read_checkpoint(run.run_dir).epoch == 3
    seen = []

    class Look:
        def on_epoch_end(self, state):
            seen.append(read_checkpoint(state.run_dir).epoch)

    train(quick(runs, train={"epochs": 2, "checkpoint_min_s": 1e9}), [Look()])
    assert seen == [1, 2]


def test_a_run_killed_before_its_end_of_run_phase_is_finished_by_resume(runs):
    class Die:
        def on_train_end(self, state):
            raise KeyboardInterrupt  # a kill after the last checkpoint, before the report

    cfg = quick(runs, run={"name": "r"})
    with pytest.raises(KeyboardInterrupt):
        aekit.train(cfg, [Die()])
    r = runs / "r"
    assert json.loads((r / "config.json").read_text())["finished"] is None
    assert not (r / "report.html").exists()
    run = aekit.train(resume=r)
    info = json.loads((r / "config.json").read_text())
    assert info["finished"] and info["result"]["epochs"] == 2 == run.result["epochs"]
    assert (r / "report.html").is_file() and (r / "summary.txt").is_file()
    with pytest.raises(ConfigError, match="already trained"):  # now it is complete
        aekit.train(resume=r)


def test_nothing_to_resume_says_why(runs):
    r = runs / "early"
    r.mkdir(parents=True)
    atomic_write_text(r / "config.json", json.dumps({"config": {"train": {"checkpoint_every": 1}}}))
    with pytest.raises(AekitError, match="stopped before its first epoch ended") as err:
        read_checkpoint(r)
    assert "checkpoint_every=0" not in str(err.value)


def test_divergence_message_says_what_is_kept_and_never_resumes_for_the_lr(runs):
    cfg = quick(runs, train={"lr": 1e30, "optimizer": "sgd", "epochs": 3})
    with pytest.raises(aekit.TrainingDiverged) as err:
        train(cfg)
    msg = str(err.value)
    assert "no weights" in msg and "--resume" not in msg and "last good weights" not in msg
    assert not (runs.iterdir().__next__() / "model.safetensors").exists()


def test_a_failed_write_leaves_no_tmp_file(tmp_path, monkeypatch):
    def full(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "a.json", "{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_checkpoint_write_leaves_no_tmp_folder(runs, monkeypatch):
    from aekit.training import checkpoint

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(OSError):
        train(quick(runs, run={"name": "full"}))
    monkeypatch.undo()
    assert [p.name for p in (runs / "full" / "checkpoint").iterdir()] == []
    assert not list((runs / "full").rglob("*.tmp"))


def test_a_model_refusing_its_data_at_start_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    from aekit.models.mlp import MLPAutoencoder

    def refuse(self, batches):
        raise aekit.DataError("these rows cannot be read; fix them")

    monkeypatch.setattr(MLPAutoencoder, "init_from_data", refuse)  # the last check of the data
    args = ["train", "--data", "digits", "--epochs", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "these rows cannot be read" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no half-made run folder
