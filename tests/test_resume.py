"""Checkpoints and resume: a resumed run is the run that was never stopped, bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import quick as _quick
from safetensors.torch import load_file

import aekit
from aekit.cli.main import main
from aekit.config import apply_config_dict
from aekit.training import checkpoint as ckpt_module
from aekit.training import step as step_module
from aekit.training.checkpoint import read_checkpoint, resume_config
from aekit.training.threads import ThreadPolicy
from aekit.training.trainer import Trainer, config_from_any
from aekit.viz.run_plots import RunPlots

# the end-of-run figures come after the last checkpoint (conftest.without_end_plots); the
# epoch figures, which share the training's random stream, are drawn where a test asks
pytestmark = pytest.mark.usefixtures("no_end_plots")


def quick(runs, **sections):
    """The tiny digits config cut to 540 training images: 9 steps per epoch at batch 64."""
    cfg = _quick(runs, **sections)
    cfg["data"].setdefault("limit", 600)
    cfg["train"].setdefault("checkpoint_min_s", 0)  # a checkpoint after every epoch, however short
    return cfg


def train(cfg, callbacks=(), resume=None, **sections):
    """The bare trainer (no figures or report unless a callback writes them); ``cfg`` None
    with ``resume``: the run's own config, as ``aekit.train(resume=...)`` starts from."""
    cfg = resume_config(resume) if cfg is None else config_from_any(cfg)
    return Trainer(apply_config_dict(cfg, sections), list(callbacks), resume=resume).run()


class StopAtStep:
    """Raises KeyboardInterrupt once the run has taken ``step`` optimiser steps: a kill."""

    def __init__(self, step: int):
        self.step = step

    def on_step(self, state):
        if state.step >= self.step:
            raise KeyboardInterrupt


def weights(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def metric_lines(run_dir):
    """metrics.jsonl without the wall-clock field."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "time_s"} for x in lines]


# 9 steps per epoch; log_every 2 writes step lines inside each epoch
SPECS = {
    "mlp": {},
    "denoising": {"data": {"noise": "gaussian", "noise_level": 0.3}},
    "vae": {"model": {"name": "vae", "latent_dim": 4}},
    "conv": {"model": {"name": "conv", "latent_dim": 4}},  # the fast CPU layers
}


@pytest.mark.parametrize("spec", list(SPECS))
def test_resume_after_a_kill_gives_identical_weights_and_metrics(runs, spec):
    cfg = quick(runs, train={"epochs": 4, "log_every": 2}, **SPECS[spec])
    # a VAE samples z in every forward, the reconstruction figures' too: plots every epoch
    # must not move the training's random stream
    plots = [RunPlots(recon_every=1)] if spec == "vae" else []
    straight = train(cfg, plots)
    cfg["run"]["name"] = "killed"
    with pytest.raises(KeyboardInterrupt):  # mid epoch 3, after it logged steps 20 and 22
        train(cfg, [*plots, StopAtStep(2 * 9 + 5)])
    killed = runs / "killed"
    assert read_checkpoint(killed).epoch == 2
    resumed = train(None, plots, resume=killed)
    assert resumed.run_dir == killed
    assert_same_weights(straight.run_dir, killed)
    # the half-epoch's step lines were dropped, then the run appended the same lines again
    assert metric_lines(killed) == metric_lines(straight.run_dir)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]


def test_the_default_mlp_resumed_at_another_thread_count_is_bit_identical(runs, monkeypatch):
    """``train.threads = "auto"`` follows the machine's load, so a run killed at 2 threads may
    resume at 1: the autograd-free step (the default MLP, BatchNorm included) keeps the same
    weights and metrics at any count."""
    counts = iter([1, 2, 1])  # the unbroken run; the killed one; its resume
    now = {}

    def choose(policy):  # each run's policy (the trainer makes one) keeps its first count
        if policy not in now:
            now[policy] = next(counts)
        return now[policy]

    monkeypatch.setattr(ThreadPolicy, "choose", choose)
    cfg = quick(runs, train={"epochs": 3, "log_every": 2, "threads": "auto"})
    straight = train(cfg)
    cfg["run"]["name"] = "killed"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, [StopAtStep(9 + 5)])
    train(None, resume=runs / "killed")
    assert list(now.values()) == [1, 2, 1]
    assert_same_weights(straight.run_dir, runs / "killed")
    assert metric_lines(runs / "killed") == metric_lines(straight.run_dir)


def test_extending_a_finished_run_matches_training_longer_from_the_start(runs, capsys):
    const = {"schedule": "none", "log_every": 0}  # a constant lr: 2 + 2 epochs = 4 epochs
    straight = train(quick(runs, train={"epochs": 4, **const}, run={"name": "straight"}))
    short = train(quick(runs, train={"epochs": 2, **const}, run={"name": "short"}))
    assert main(["train", "--resume", str(short.run_dir), "--epochs", "4", "--no-progress"]) == 0
    assert "epochs: 4" in capsys.readouterr().out
    assert_same_weights(straight.run_dir, short.run_dir)
    info = json.loads((short.run_dir / "config.json").read_text())
    assert info["config"]["train"]["epochs"] == 4 and info["result"]["epochs"] == 4
    assert info["resumed"][0]["from_epoch"] == 2
    assert len(metric_lines(short.run_dir)) == 4  # appended, not rewritten


def test_extending_rebuilds_the_cosine_schedule_over_the_new_total(runs):
    four = train(quick(runs, train={"epochs": 4}, run={"name": "four"}))
    two = train(quick(runs, train={"epochs": 2}, run={"name": "two"}))
    assert two.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at 0
    extended = train(None, resume=two.run_dir, train={"epochs": 4})
    # epochs 3-4 use the 4-epoch schedule from step 18 on: lr = 3e-3 * (1 + cos(pi * s / 36)) / 2
    for mine, ref in zip(extended.history[2:], four.history[2:]):
        closed = 3e-3 * (1 + math.cos(math.pi * mine["step"] / 36)) / 2
        assert mine["lr"] == pytest.approx(ref["lr"], abs=1e-9)
        assert mine["lr"] == pytest.approx(closed, abs=1e-9)


def test_diverged_run_keeps_its_last_good_checkpoint_and_resumes_from_it(runs):
    class PoisonAfterEpoch1:  # NaN weights after epoch 1's checkpoint: epoch 2 diverges
        def on_epoch_end(self, state):
            if state.epoch == 1:
                with torch.no_grad():
                    for p in state.model.parameters():
                        p.fill_(float("nan"))

    straight = train(quick(runs, train={"epochs": 3}, run={"name": "straight"}))
    with pytest.raises(aekit.TrainingDiverged, match="--resume"):
        train(quick(runs, train={"epochs": 3}, run={"name": "bad"}), [PoisonAfterEpoch1()])
    bad = runs / "bad"
    assert read_checkpoint(bad).epoch == 1
    assert all(torch.isfinite(w).all() for w in weights(bad).values())
    train(None, resume=bad)
    assert_same_weights(straight.run_dir, bad)


def test_a_checkpoint_write_killed_half_way_leaves_the_previous_one(runs, monkeypatch):
    cfg = quick(runs, train={"epochs": 3}, run={"name": "r"})
    real_save = torch.save
    calls = []

    def save_then_die(obj, f, *a, **k):  # epoch 2's optimizer.pt: half a file, then a kill
        calls.append(f)
        if len(calls) == 2:
            real_save(obj, f, *a, **k)
            with open(f, "r+b") as fh:
                fh.truncate(100)
            raise KeyboardInterrupt
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt_module.torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    assert read_checkpoint(runs / "r").epoch == 1  # state.json still names epoch 1's set
    train(None, resume=runs / "r")
    straight = train(quick(runs, train={"epochs": 3}, run={"name": "s"}))
    assert_same_weights(straight.run_dir, runs / "r")
    assert sorted(p.name for p in (runs / "r" / "checkpoint").iterdir()) == [
        "epoch_0003",
        "state.json",
    ]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch run and one trained without checkpoints."""
    out = tmp_path_factory.mktemp("runs")
    aekit.train(quick(out, run={"name": "done"}), report=False)
    aekit.train(quick(out, train={"checkpoint_every": 0}, run={"name": "nockpt"}), report=False)
    return out


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "args,match",
    [
        (["--resume", "{out}/nope"], "not a run folder"),
        (["--resume", "{out}/nockpt"], "has no checkpoint"),
        (["--resume", "{out}/done"], "add --set train.epochs=4"),
        (["--resume", "{out}/done", "--epochs", "4", "--latent-dim", "3"], "model.latent_dim"),
        (["--resume", "{out}/done", "--epochs", "4", "--data", "mnist5k"], "data.name"),
        (["--resume", "{out}/done", "--recipe", "quickstart"], "drop --recipe"),
        (["--resume", "{out}/done", "--epochs", "4", "--lr", "0.1"], "train.lr"),
    ],
)
def test_bad_resume_is_one_line_error_and_touches_nothing(finished, capsys, args, match):
    before = snapshot(finished)
    code = main(["train", *[a.format(out=finished) for a in args], "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("aekit: error:") and match in err[0], err
    assert snapshot(finished) == before


def test_checkpoint_holds_no_pickled_objects(runs):
    run = train(quick(runs, model={"name": "vae", "latent_dim": 4}))
    ck = read_checkpoint(run.run_dir)
    opt = torch.load(ck.path / "optimizer.pt", weights_only=True)  # raises on any pickled class
    assert set(opt) == {"optimizer", "scheduler"} and opt["scheduler"]["last_epoch"] == 18
    assert set(ck.rng()) == {"rank0.batches", "rank0.torch"}
    assert ck.state["history"] == run.history and ck.state["step"] == 18
    assert_same_weights(run.run_dir, ck.path)


def test_a_kill_at_the_merged_last_batch_resumes_bit_identical(runs):
    """540 digits in batches of 77 are 6 batches of 77 and one of 78 (a last batch of one
    joins the one before it): killed at the end of epoch 2's merged batch, then resumed."""
    cfg = quick(runs, train={"epochs": 3, "batch_size": 77, "log_every": 1})
    straight = train(cfg)
    assert json.loads((straight.run_dir / "config.json").read_text())["data"]["n_train"] == 540
    assert [r["step"] for r in straight.history] == [7, 14, 21]
    cfg["run"]["name"] = "killed"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, [StopAtStep(7 + 7)])
    train(None, resume=runs / "killed")
    assert_same_weights(straight.run_dir, runs / "killed")
    assert metric_lines(runs / "killed") == metric_lines(straight.run_dir)


def test_a_run_split_before_the_merged_last_batch_is_refused_with_the_reason(runs):
    """A checkpoint whose epochs ended on a batch of one sample (written by an aekit before
    training/loop.py's batch_end): extending it would change every epoch's batches, so it is
    refused, saying so and naming the aekit that trained it, not "its data changed"."""
    run = train(quick(runs, train={"epochs": 1, "batch_size": 77}))
    state = run.run_dir / "checkpoint" / "state.json"
    saved = json.loads(state.read_text())
    assert saved["steps_per_epoch"] == 7  # 540 = 6 x 77 + 78
    state.write_text(json.dumps({**saved, "steps_per_epoch": 8}))  # 7 x 77 + 1, as before
    with pytest.raises(aekit.ConfigError, match=r"last batch of 1 sample\(s\), which this aekit"):
        train(None, resume=run.run_dir, train={"epochs": 2})
    state.write_text(json.dumps({**saved, "steps_per_epoch": 9}))
    with pytest.raises(aekit.ConfigError, match="its data changed"):
        train(None, resume=run.run_dir, train={"epochs": 2})


def test_a_killed_run_says_it_is_unfinished_and_how_to_go_on(runs, capsys):
    """Its config.json has no result: the card, the report and eval said "None epochs, None
    steps, final validation loss nan" as if it had finished."""
    from aekit.report.card import model_card

    cfg = quick(runs, train={"epochs": 3, "log_every": 2})  # steps reach callbacks when logged
    with pytest.raises(KeyboardInterrupt):  # in epoch 2, after epoch 1's checkpoint
        train(cfg, [StopAtStep(9 + 3)])
    killed = next(runs.iterdir())
    said = (
        f"unfinished: stopped after epoch 1 of 3; `aekit train --resume {killed}` continues it "
        "from its checkpoint at epoch 1"
    )
    assert said in model_card(killed)
    assert "None epochs" not in model_card(killed)
    assert main(["eval", str(killed)]) == 0
    assert f"note: this run is {said}" in capsys.readouterr().out
    state = killed / "checkpoint" / "state.json"
    saved = state.read_text()
    state.write_text(saved.replace('"world_size": 1', '"world_size": 2'))
    assert "`torchrun --standalone --nproc_per_node=2 -m aekit.cli.main train --resume" in (
        model_card(killed)
    )
    state.write_text(saved)
    train(None, resume=killed)
    assert "unfinished" not in model_card(killed)


def test_a_resume_on_data_changed_under_the_run_is_refused(runs, tmp_path):
    """The same number of rows with other values resumed silently, and the end-of-run
    figures were measured on the new file."""
    import numpy as np

    from aekit.errors import ConfigError

    path = tmp_path / "x.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (600, 8, 8), dtype=np.uint8))
    cfg = quick(runs, data={"name": str(path)}, train={"epochs": 3, "log_every": 2})
    with pytest.raises(KeyboardInterrupt):
        train(cfg, [StopAtStep(9 + 3)])
    killed = next(runs.iterdir())
    np.save(path, rng.integers(0, 256, (600, 8, 8), dtype=np.uint8))  # rewritten
    with pytest.raises(ConfigError, match="changed since it started"):
        train(None, resume=killed)
    assert read_checkpoint(killed).epoch == 1  # nothing written


def test_the_fingerprint_reads_every_sample_or_rows_spread_over_a_large_map(monkeypatch):
    from aekit.data import Dataset
    from aekit.training import setup

    x = torch.zeros(100, 4, dtype=torch.uint8)
    y = x.clone()
    y[50, 1] = 1
    a, b = Dataset("a", x), Dataset("b", y)
    assert setup.data_fingerprint(a) != setup.data_fingerprint(b)
    monkeypatch.setattr(setup, "FINGERPRINT_WHOLE_BYTES", 0)  # rows only: 0, 33, 66, 99
    monkeypatch.setattr(setup, "FINGERPRINT_ROWS", 4)
    assert setup.data_fingerprint(a) == setup.data_fingerprint(b)
    y[66, 0] = 1
    assert setup.data_fingerprint(a) != setup.data_fingerprint(b)


def test_a_resume_keeps_the_precision_its_run_started_with(runs, monkeypatch):
    """A conv run recorded in float32 without --precision (a CPU without native bf16, or an
    older aekit) resumes in float32 on a CPU with it: bf16 from then on would end elsewhere."""
    monkeypatch.setattr(step_module, "native_bf16", lambda: False)
    cfg = quick(runs, train={"epochs": 3, "log_every": 1}, **SPECS["conv"])  # on_step each step
    straight = train(cfg)
    cfg["run"]["name"] = "killed"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, [StopAtStep(9 + 4)])
    monkeypatch.setattr(step_module, "native_bf16", lambda: True)
    resumed = train(None, resume=runs / "killed")
    assert resumed.config.train.precision == "fp32"
    assert_same_weights(straight.run_dir, runs / "killed")


@pytest.mark.parametrize("kind", ["table", "conv"])
def test_resuming_with_the_config_the_run_started_from_keeps_what_it_chose(
    runs, tmp_path, monkeypatch, kind
):
    """``aekit.train(cfg, resume=...)`` with the same ``cfg``: the settings the run chose for
    itself (a table's fitted code size, widths, lr and batch; bf16 for convolutions) are not
    overrides; they were refused as "different settings" before."""
    monkeypatch.setattr(step_module, "native_bf16", lambda: True)
    if kind == "table":
        rows = torch.randn(600, 10, generator=torch.Generator().manual_seed(0)).numpy()
        np.save(tmp_path / "t.npy", rows)
        cfg = quick(runs, data={"name": str(tmp_path / "t.npy"), "limit": None})
    else:
        cfg = quick(runs, **SPECS["conv"])
    cfg["train"].update(epochs=3, log_every=1)
    straight = train(cfg)
    cfg["run"]["name"] = "killed"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, [StopAtStep(12)])
    resumed = train(cfg, resume=runs / "killed")
    assert resumed.config.train == straight.config.train
    assert resumed.config.model == straight.config.model
    assert_same_weights(straight.run_dir, runs / "killed")
