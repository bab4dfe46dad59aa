"""The optimised training hot path computes what the straightforward loop computes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import quick

import aekit
from aekit.config import TrainConfig
from aekit.data import BatchMaker, Dataset
from aekit.errors import ConfigError
from aekit.layers.blocks import _ACTIVATIONS
from aekit.layers.convt import FastConvTranspose2d
from aekit.losses import LOSSES, reconstruction_loss
from aekit.training import fastpath
from aekit.training import step as step_module
from aekit.training.optim import can_fuse, make_optimizer
from aekit.training.trainer import Trainer, config_from_any


def history(cfg: dict) -> list[dict]:
    """Per-epoch records of a bare training run (no plots or report: only the loop)."""
    return Trainer(config_from_any(cfg)).run().history


def reference_losses(pixel_range: str, epochs: int, bs: int, lr: float) -> list[float]:
    """The loop people write: float batches, F.mse_loss, foreach Adam, loss.item() per step."""
    train = aekit.load_dataset("digits", split="train")
    torch.manual_seed(0)
    model = aekit.create_model("mlp", train.sample_shape, pixel_range, batchnorm=False)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=False, foreach=False)
    gen = torch.Generator().manual_seed(0)
    n = len(train)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            x = train.x[idx].float() / 255
            if pixel_range == "-11":
                x = x * 2 - 1
            loss = F.mse_loss(model(x).recon, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        out.append(total / n)
    return out


@pytest.mark.parametrize("pixel_range", ["01", "-11"])
def test_trainer_epoch_losses_match_the_straightforward_loop(runs, pixel_range):
    ref = reference_losses(pixel_range, epochs=3, bs=64, lr=3e-3)
    train = {"epochs": 3, "lr": 3e-3, "schedule": "none"}  # the reference keeps lr constant
    # the reference keeps PyTorch's init, and a chain without BatchNorm
    model = {"name": "mlp", "output_bias": "torch", "batchnorm": False}
    hist = history(quick(runs, data={"pixel_range": pixel_range}, model=model, train=train))
    assert [h["train_loss"] for h in hist] == pytest.approx(ref, rel=1e-4)
    assert all(h["train_loss"] == h["train_recon"] for h in hist)


def test_loss_of_several_terms_is_their_sum(runs):
    for h in history(quick(runs, model={"name": "vae", "latent_dim": 4})):
        terms = [v for k, v in h.items() if k.startswith("train_") and k != "train_loss"]
        assert len(terms) >= 2
        assert h["train_loss"] == pytest.approx(sum(terms), rel=1e-5)


def test_adam_is_fused_for_float_parameters_and_matches_the_unfused_step():
    torch.manual_seed(0)
    a = torch.nn.Linear(20, 10)
    b = torch.nn.Linear(20, 10)
    b.load_state_dict(a.state_dict())
    opt_a = make_optimizer(a.parameters(), TrainConfig(lr=1e-2, weight_decay=1e-4))
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-4, foreach=False)
    assert opt_a.defaults["fused"] is True
    x = torch.randn(32, 20)
    for _ in range(5):
        for m, o in ((a, opt_a), (b, opt_b)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    assert not can_fuse([torch.zeros(3, dtype=torch.int64)])
    assert not can_fuse([{"params": [pa]}])


def test_batch_without_noise_converts_once_and_matches_the_pixels():
    x = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    bm = BatchMaker(Dataset("t", x), torch.device("cpu"), "-11")
    inp, target = bm(torch.tensor([3, 1]))
    assert inp is target
    torch.testing.assert_close(inp, x[[3, 1]].double().div(255).mul(2).sub(1).float())


FAST_CASES = [
    ("mlp", "01", {"hidden": [32, 16], "latent_dim": 3}),
    ("mlp", "-11", {"hidden": [32, 16], "latent_dim": 3}),
    ("mlp", "01", {"hidden": [24], "latent_dim": 4, "activation": "sigmoid"}),
    ("mlp", "-11", {"hidden": [24], "latent_dim": 4, "activation": "tanh"}),
    ("mlp", "01", {"hidden": [24], "activation": "leaky_relu", "latent_activation": "relu"}),
    ("mlp", "01", {"hidden": [24], "latent_activation": "sigmoid", "output_activation": "none"}),
    ("mlp", "-11", {"hidden": [32, 16], "latent_dim": 3, "batchnorm": True}),
    ("mlp", "01", {"hidden": [24], "activation": "sigmoid", "batchnorm": True}),
    ("linear", "01", {"latent_dim": 5, "bias": False}),
    ("linear", "-11", {"latent_dim": 5}),
]


LOSS_CASES = [
    ("mlp", "01", {"hidden": [24], "latent_dim": 3}, "bce"),
    ("mlp", "01", {"hidden": [24], "output_activation": "none"}, "bce"),  # outside [0, 1] too
    ("mlp", "-11", {"hidden": [24], "latent_dim": 3}, "l1"),
    ("linear", "01", {"latent_dim": 5}, "l1"),
]


@pytest.mark.parametrize(
    "name, pixel_range, kw, loss",
    [(*case, "mse") for case in FAST_CASES] + LOSS_CASES,
)
def test_fast_step_gradients_equal_autograd(name, pixel_range, kw, loss):
    torch.manual_seed(0)
    if name == "mlp":  # the cases without "batchnorm" are the plain chains
        kw = {"batchnorm": False, **kw}
    model = aekit.create_model(name, (1, 8, 8), pixel_range, **kw)
    assert fastpath.applies(model, loss, "fp32", distributed=False)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    if last.bias is not None:  # saturate a few outputs: BCE's clamp passes no gradient there
        with torch.no_grad():
            last.bias[:3] += 20.0
    x = torch.rand(37, 1, 8, 8)
    target = torch.rand(37, 1, 8, 8)  # a denoiser's: not the input
    if loss == "bce":
        target = target.round()  # binarised
    if pixel_range == "-11":
        x, target = x * 2 - 1, target * 2 - 1
    ref_loss = reconstruction_loss(loss, model(x).recon, target)
    ref_loss.backward()
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    step = fastpath.MLPStep(model, loss)
    # the kernels alone twice (the second call reuses the buffers of the first), then the
    # checked first step of a run, which finds no difference and stays on the fast step
    for call in (step.fast_step, step.fast_step, step):
        loss = call(x, target)
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
        for p, r in zip(model.parameters(), ref):
            torch.testing.assert_close(p.grad, r, rtol=1e-5, atol=1e-7)
    assert step.checked and not step.uses_autograd


@pytest.mark.parametrize(
    "name, kw, loss, precision",
    [
        ("mlp", {"dropout": 0.1}, "mse", "fp32"),
        ("mlp", {"activation": "gelu"}, "mse", "fp32"),
        ("mlp", {}, "mse", "bf16"),
        ("sparse", {}, "mse", "fp32"),
        ("contractive", {}, "mse", "fp32"),
        ("vae", {}, "mse", "fp32"),
        ("conv", {}, "mse", "fp32"),
    ],
)
def test_fast_step_refuses_what_it_does_not_compute(name, kw, loss, precision):
    model = aekit.create_model(name, (1, 8, 8), "01", **kw)
    assert not fastpath.applies(model, loss, precision, distributed=False)


@pytest.mark.parametrize("name", aekit.list_models())
def test_trainer_takes_the_fast_step_where_it_applies_and_trains_as_autograd_does(
    runs, name, monkeypatch
):
    calls = []
    real = fastpath.MLPStep.__call__
    monkeypatch.setattr(fastpath.MLPStep, "__call__", lambda s, *a: calls.append(s) or real(s, *a))
    model = {"name": name, "latent_dim": 3}
    built = aekit.create_model(name, SHAPE, latent_dim=3)
    expected = fastpath.applies(built, "mse", "fp32", distributed=False)
    # 1617 samples at batch 100: a smaller last batch each epoch
    train = {"epochs": 2, "batch_size": 100, "loss": "bce" if name == "mlp" else "mse"}
    a = Trainer(config_from_any(quick(runs, model=model, train=train))).run()
    assert bool(calls) == expected and not any(s.uses_autograd for s in calls)
    calls.clear()
    slow = {**train, "fast_mlp_step": False}
    b = Trainer(config_from_any(quick(runs, model=model, train=slow, run={"name": "b"}))).run()
    assert not calls
    for ha, hb in zip(a.history, b.history, strict=True):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)
    if any(isinstance(m, torch.nn.BatchNorm1d) for m in a.model.modules()):
        # the Linear biases BatchNorm subtracts again have a true gradient of 0: Adam walks
        # them on rounding noise, and the two runs drift apart in the weights (not the losses)
        return
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)


def test_fast_step_keeps_batchnorm_running_statistics_as_the_module_does():
    torch.manual_seed(0)
    kw = {"hidden": [32, 16], "latent_dim": 3, "batchnorm": True}
    ref = aekit.create_model("mlp", (1, 8, 8), "01", **kw).train()
    fast = aekit.create_model("mlp", (1, 8, 8), "01", **kw).train()
    fast.load_state_dict(ref.state_dict())
    norms = [m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    norms[0].momentum = None  # a cumulative average: counts the steps
    [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm1d)][0].momentum = None
    step = fastpath.MLPStep(fast)
    for _ in range(3):
        x = torch.rand(40, 1, 8, 8)
        ref.zero_grad()
        F.mse_loss(ref(x).recon, x).backward()
        step(x, x)
        with torch.no_grad():
            for a, b in zip(ref.parameters(), fast.parameters()):
                a -= 0.1 * a.grad
                b -= 0.1 * b.grad
    for (name, a), b in zip(ref.named_buffers(), fast.buffers()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    assert int(norms[0].num_batches_tracked) == 3


@pytest.mark.parametrize(
    ("rows", "loss"), [(128, "mse"), (1024, "mse"), (1024, "l1"), (1024, "bce")]
)
def test_fast_step_with_batchnorm_is_bit_identical_at_any_thread_count(rows, loss):
    """``train.threads = "auto"`` changes the thread count with the load, so a seeded run must
    not depend on it: sums over the batch (BatchNorm's statistics, the loss) run on one thread."""
    torch.manual_seed(0)
    model = aekit.create_model("mlp", (1, 28, 28), "01", hidden=[256, 64], batchnorm=True)
    x = torch.rand(rows, 1, 28, 28)
    out = []
    for threads in (1, 2):
        m = copy.deepcopy(model)
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            value = fastpath.MLPStep(m, loss).fast_step(x, x)
        finally:
            torch.set_num_threads(saved)
        out.append([value, *(p.grad for p in m.parameters()), *m.buffers()])
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


def test_the_validation_loss_is_the_same_at_any_thread_count():
    """Its mean over 500 x 784 pixels, split over 2 threads, rounded differently (5e-8)."""
    from aekit.training.loop import evaluate_loss

    torch.manual_seed(0)
    model = aekit.create_model("mlp", (1, 28, 28), "01")
    x = (torch.rand(500, 1, 28, 28) * 255).to(torch.uint8)
    batches = BatchMaker(Dataset("random", x), torch.device("cpu"))
    got = []
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got.append(evaluate_loss(model, batches, "mse"))
    finally:
        torch.set_num_threads(saved)
    assert got[0] == got[1]


SHAPE = (1, 8, 8)
#: model settings the sweep tries on every model that has the field (others: skipped)
VARIANTS = [{}, {"batchnorm": True}, {"bias": False}, {"output_activation": "none"}]
VARIANTS += [{"activation": a} for a in _ACTIVATIONS]
VARIANTS += [{"latent_activation": a} for a in ("relu", "sigmoid", "tanh", "leaky_relu")]


def batch(loss: str, pixel_range: str, n: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    """A denoiser's batch (the target is not the input), binarised for BCE."""
    x, target = torch.rand(n, *SHAPE), torch.rand(n, *SHAPE)
    if loss == "bce":
        target = target.round()
    if pixel_range == "-11":
        x, target = x * 2 - 1, target * 2 - 1
    return x, target


def autograd_grads(model, loss: str, x, target) -> tuple[float, list]:
    """Loss and gradients of the trainer's autograd step, on a copy (BatchNorm statistics)."""
    ref = copy.deepcopy(model)
    value = sum(ref.loss_terms(ref(x), x, target, loss).values())
    value.backward()
    return value.item(), [p.grad for p in ref.parameters()]


def assert_fast_equals_autograd(model, loss: str, pixel_range: str) -> None:
    x, target = batch(loss, pixel_range)
    ref_loss, ref = autograd_grads(model, loss, x, target)
    got = fastpath.MLPStep(model, loss).fast_step(x, target)
    assert got.item() == pytest.approx(ref_loss, rel=1e-5)
    for (n, p), r in zip(model.named_parameters(), ref, strict=True):
        torch.testing.assert_close(p.grad, r, rtol=1e-5, atol=1e-6, msg=n)


@pytest.mark.parametrize("name", aekit.list_models())
def test_wherever_the_fast_step_applies_its_gradients_equal_autograds(name):
    """applies => gradients equal autograd's, over every model x loss x activation; where it
    does not apply, MLPStep refuses to be built."""
    applied = 0
    for kw in VARIANTS:
        for loss in LOSSES:
            for pixel_range in ("01",) if loss == "bce" else ("01", "-11"):
                torch.manual_seed(0)
                try:
                    model = aekit.create_model(name, SHAPE, pixel_range, latent_dim=3, **kw)
                except (ConfigError, ValueError, TypeError):
                    continue  # this model has no such field or value
                if fastpath.applies(model, loss, "fp32", distributed=False):
                    assert_fast_equals_autograd(model, loss, pixel_range)
                    applied += 1
                elif loss in fastpath.KNOWN_LOSSES:
                    with pytest.raises(ValueError, match="MLPStep"):
                        fastpath.MLPStep(model, loss)
    assert applied or name not in ("mlp", "linear", "stacked")


def test_fast_step_refuses_a_loss_it_does_not_know():
    model = aekit.create_model("mlp", SHAPE, hidden=[8], latent_dim=2)
    assert fastpath.applies(model, "mse", "fp32", distributed=False)
    assert not fastpath.applies(model, "huber", "fp32", distributed=False)
    with pytest.raises(ValueError, match="not 'huber'"):
        fastpath.MLPStep(model, "huber")
    step = fastpath.MLPStep(model, "mse")
    step.loss = "huber"  # not taken for BCE: an explicit refusal
    with pytest.raises(ValueError, match="not 'huber'"):
        step.fast_step(*batch("mse", "01"))


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, 1.5, -0.5, float("nan"), float("inf")])
def test_leaky_relu_applies_only_for_the_slopes_it_computes(slope):
    torch.manual_seed(0)
    model = aekit.create_model("mlp", SHAPE, hidden=[16], latent_dim=3, batchnorm=False)
    model.encoder[1][1] = torch.nn.LeakyReLU(slope)
    known = slope >= 0 and slope != float("inf")
    assert fastpath.applies(model, "mse", "fp32", distributed=False) == known
    if known:
        assert_fast_equals_autograd(model, "mse", "01")


def test_fast_step_refuses_shared_layers_unknown_subclasses_and_parameters_outside():
    def fresh():
        return aekit.create_model(
            "mlp", SHAPE, "01", hidden=[16, 16], latent_dim=3, batchnorm=False
        )

    tied = fresh()
    tied.decoder[0][2] = tied.encoder[1][2]  # one 16 -> 16 layer in both halves

    class HalfReLU(torch.nn.ReLU):
        def forward(self, x):
            return super().forward(x) / 2

    odd = fresh()
    odd.encoder[1][1] = HalfReLU()
    extra = fresh()
    extra.scale = torch.nn.Parameter(torch.ones(()))  # the step would never set its gradient
    patched = fresh()
    patched.encoder[1][1].forward = lambda x: x / 2  # on the instance, not the class
    for model in (tied, odd, extra, patched):
        assert fastpath.chain(model) is None
        assert not fastpath.applies(model, "mse", "fp32", distributed=False)
    assert fastpath.chain(fresh()) is not None


def _zero_grad(p: torch.Tensor) -> None:
    p.grad.zero_()


def _zeros(grads: tuple) -> tuple:
    return tuple(None if g is None else g * 0 for g in grads)


def _param(model):
    return model.decoder[0][0].weight


#: hooks of every kind, each one that changes the gradients: name -> register(model) -> handle
HOOKS = {
    "tensor hook": lambda m: _param(m).register_hook(lambda g: g * 0),
    "post-accumulate hook": lambda m: _param(m).register_post_accumulate_grad_hook(_zero_grad),
    "full backward hook": lambda m: m.decoder[0][0].register_full_backward_hook(
        lambda mod, gin, gout: _zeros(gin)
    ),
    "full backward pre-hook": lambda m: m.decoder[0][0].register_full_backward_pre_hook(
        lambda mod, gout: (gout[0] * 3,)
    ),
    "forward pre-hook": lambda m: m.decoder[0][0].register_forward_pre_hook(
        lambda mod, args: (args[0] * 0.5,)
    ),
    "forward hook": lambda m: m.decoder[0][0].register_forward_hook(lambda mod, a, out: out * 2),
    "forward hook with kwargs": lambda m: m.decoder[0][0].register_forward_hook(
        lambda mod, a, kw, out: out * 2, with_kwargs=True
    ),
    "global forward hook": lambda m: torch.nn.modules.module.register_module_forward_hook(
        lambda mod, a, out: out * 2 if type(mod) is torch.nn.Linear else None
    ),
    "global forward pre-hook": lambda m: torch.nn.modules.module.register_module_forward_pre_hook(
        lambda mod, args: (args[0] * 0.5,) if type(mod) is torch.nn.Linear else None
    ),
    "global backward hook": lambda m: torch.nn.modules.module.register_module_full_backward_hook(
        lambda mod, gin, gout: _zeros(gin) if type(mod) is torch.nn.Linear else None
    ),
    "global backward pre-hook": (
        lambda m: torch.nn.modules.module.register_module_full_backward_pre_hook(
            lambda mod, gout: (gout[0] * 3,) if type(mod) is torch.nn.Linear else None
        )
    ),
}


@pytest.mark.filterwarnings("ignore:.*(backward hook|module output).*:UserWarning")
@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_hook_of_any_kind_refuses_the_fast_step_or_hands_it_to_autograd(kind, when, caplog):
    torch.manual_seed(0)
    model = aekit.create_model("mlp", SHAPE, hidden=[16], latent_dim=3)
    x, target = batch("mse", "01")
    step = fastpath.MLPStep(model, "mse")
    if when == "after":
        step(x, target)  # the checked first step: no difference yet
        assert not step.uses_autograd
    handle = HOOKS[kind](model)
    try:
        if when == "before":
            assert not fastpath.applies(model, "mse", "fp32", distributed=False)
            with pytest.raises(ValueError, match="hook"):
                fastpath.MLPStep(model, "mse")
            return
        model.zero_grad(set_to_none=True)
        ref_loss = sum(model.loss_terms(model(x), x, target, "mse").values())
        ref_loss.backward()
        ref = [p.grad.clone() for p in model.parameters()]
        loss = step(x, target)  # with the hook, through autograd
    finally:
        handle.remove()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
    for p, r in zip(model.parameters(), ref, strict=True):
        torch.testing.assert_close(p.grad, r)
    assert "run with autograd" in caplog.text


def test_a_first_step_that_differs_from_autograd_switches_the_run_to_autograd(monkeypatch, caplog):
    torch.manual_seed(0)
    model = aekit.create_model("mlp", SHAPE, hidden=[16], latent_dim=3)
    x, target = batch("mse", "01")
    ref_loss, ref = autograd_grads(model, "mse", x, target)
    step = fastpath.MLPStep(model, "mse")
    monkeypatch.setattr(step, "_act_backward", lambda *a: None)  # a wrong backward
    for _ in range(2):
        loss = step(x, target)
        assert loss.item() == pytest.approx(ref_loss, rel=1e-6)
        for p, r in zip(model.parameters(), ref, strict=True):
            torch.testing.assert_close(p.grad, r)
    assert step.uses_autograd
    assert "differs from autograd's on the first step" in caplog.text


def test_a_first_step_that_raises_switches_the_run_to_autograd(monkeypatch, caplog):
    torch.manual_seed(0)
    model = aekit.create_model("mlp", SHAPE, hidden=[16], latent_dim=3, batchnorm=True)
    x, target = batch("mse", "01")
    ref = copy.deepcopy(model)
    ref_loss, ref_grads = autograd_grads(ref, "mse", x, target)
    ref(x)  # the running statistics after one training-mode forward

    def broken(*a):
        raise RuntimeError("a kernel we did not expect")

    step = fastpath.MLPStep(model, "mse")
    monkeypatch.setattr(step, "_loss", broken)  # after the forward: BatchNorm has counted it
    assert step(x, target).item() == pytest.approx(ref_loss, rel=1e-6)
    for p, r in zip(model.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(p.grad, r)
    for a, b in zip(model.buffers(), ref.buffers(), strict=True):
        torch.testing.assert_close(a, b)  # counted once, by autograd's step
    assert step.uses_autograd and "it raised RuntimeError" in caplog.text


def test_batchnorm_in_eval_mode_is_handed_to_autograd():
    torch.manual_seed(0)
    model = aekit.create_model("mlp", SHAPE, hidden=[16], latent_dim=3, batchnorm=True)
    x, target = batch("mse", "01")
    step = fastpath.MLPStep(model, "mse")
    step(x, target)
    model.eval()  # running statistics, not the batch's: the step's kernels would be wrong
    ref_loss, ref = autograd_grads(model, "mse", x, target)
    assert step(x, target).item() == pytest.approx(ref_loss, rel=1e-6)
    for p, r in zip(model.parameters(), ref, strict=True):
        torch.testing.assert_close(p.grad, r)


def test_flatten_gives_a_channels_last_batch_its_gradient_channels_last():
    """A conv encoder trained channels-last: the gradient reaching its last ReLU has the
    ReLU's own (NHWC) layout, with the values autograd's flatten gives, twice differentiable."""
    from aekit.layers import Flatten

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 5, 5, generator=g).contiguous(memory_format=torch.channels_last)
    up = torch.randn(4, 200, generator=g)
    grads = {}
    for name, flat in (("aekit", Flatten()), ("torch", lambda t: t.flatten(1))):
        leaf = x.clone().requires_grad_()
        h = torch.relu(leaf)  # (B, C, H, W) channels-last, not a leaf: as in the encoder
        h.register_hook(lambda gr, name=name: grads.__setitem__(name, gr))
        y = flat(h)
        assert torch.equal(y, x.relu().flatten(1))
        y.backward(up)
    assert torch.equal(grads["aekit"], grads["torch"])
    assert grads["aekit"].is_contiguous(memory_format=torch.channels_last)
    assert not grads["torch"].is_contiguous(memory_format=torch.channels_last)  # the fix's why
    c = x.clone().requires_grad_()
    (gc,) = torch.autograd.grad(Flatten()(c * 1).pow(2).sum(), c, create_graph=True)
    (gg,) = torch.autograd.grad(gc.sum(), c)
    assert torch.equal(gg, torch.full_like(c, 2.0))


def test_a_bias_before_batchnorm_does_not_send_the_run_to_autograd(monkeypatch):
    """Its gradient is 0 in exact arithmetic, float32 noise on both sides: 4.4e-8 against
    2.4e-8 on these 200 digits switched the run to autograd, with a warning to the user."""
    import numpy as np
    from sklearn.datasets import load_digits

    from aekit.sklearn import AutoencoderReducer

    said = []
    monkeypatch.setattr(fastpath.logger, "warning", lambda *a: said.append(a[0] % a[1:]))
    r = AutoencoderReducer(epochs=1, hidden=[32], latent_dim=2).fit(load_digits().data[:200])
    assert said == [] and np.isfinite(r.history_[-1]["train_loss"])


# -- the default precision: bf16 autocast for convolutions on a CPU with native bfloat16 ------
CONV_QUICK = {"name": "conv", "channels": [8, 16], "latent_dim": 4}


@pytest.mark.parametrize(
    "native,model,train,want",
    [
        (True, CONV_QUICK, {}, "bf16"),
        (True, CONV_QUICK, {"precision": "fp32"}, "fp32"),  # given, even equal to the default
        (False, CONV_QUICK, {}, "fp32"),  # emulated bf16 is slower than float32
        (True, {"name": "mlp"}, {}, "fp32"),  # the float32 autograd-free step is faster
        (True, {"name": "linear"}, {}, "fp32"),
    ],
)
def test_conv_models_train_in_bf16_on_a_cpu_with_native_bf16_unless_told(
    runs, monkeypatch, caplog, native, model, train, want
):
    monkeypatch.setattr(step_module, "native_bf16", lambda: native)
    with caplog.at_level("INFO", logger="aekit.training.step"):
        run = aekit.train(quick(runs, model=model, train=train), report=False)
    assert run.config.train.precision == want
    assert aekit.Run.load(run.run_dir).config.train.precision == want  # config.json says so
    assert ("precision bf16" in caplog.text) == (want == "bf16")
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


def test_a_bf16_conv_run_takes_the_fast_transposed_convolutions_and_says_bf16(runs, monkeypatch):
    monkeypatch.setattr(step_module, "native_bf16", lambda: True)
    run = aekit.train(quick(runs, model=CONV_QUICK))
    fast = [m for m in run.model.modules() if isinstance(m, FastConvTranspose2d)]
    assert len(fast) == 2 and all(m.fast_ok for m in fast)  # its bf16 run-time check passed
    assert "in bf16 autocast" in (run.run_dir / "README.md").read_text()
    assert "precision: bf16" in (run.run_dir / "summary.txt").read_text()
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # float32 weights
