"""The optimised training hot path computes what the straightforward loop computes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import quick

import aekit
from aekit.config import TrainConfig
from aekit.data import BatchMaker, Dataset
from aekit.losses import reconstruction_loss
from aekit.training import fastpath
from aekit.training.optim import can_fuse, make_optimizer
from aekit.training.trainer import Trainer, config_from_any


def history(cfg: dict) -> list[dict]:
    """Per-epoch records of a bare training run (no plots or report: only the loop)."""
    return Trainer(config_from_any(cfg)).run().history


def reference_losses(pixel_range: str, epochs: int, bs: int, lr: float) -> list[float]:
    """The loop people write: float batches, F.mse_loss, foreach Adam, loss.item() per step."""
    train = aekit.load_dataset("digits", split="train")
    torch.manual_seed(0)
    model = aekit.create_model("mlp", train.sample_shape, pixel_range)
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
    model = {"name": "mlp", "output_bias": "torch"}  # the reference keeps PyTorch's init
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
    for _ in range(2):  # the second call reuses the buffers of the first
        loss = step(x, target)
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
        for p, r in zip(model.parameters(), ref):
            torch.testing.assert_close(p.grad, r, rtol=1e-5, atol=1e-7)


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


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_trainer_takes_the_fast_step_and_trains_as_autograd_does(runs, loss):
    # 1617 samples: a smaller last batch each epoch
    train = {"epochs": 2, "batch_size": 100, "loss": loss}
    fast = Trainer(config_from_any(quick(runs, train=train)))
    slow = Trainer(config_from_any(quick(runs, train={**train, "fast_mlp_step": False})))
    a, b = fast.run(), slow.run()
    assert fast._fast is not None and slow._fast is None
    for ha, hb in zip(a.history, b.history):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)


def test_fast_step_refuses_hooks_shared_layers_and_unknown_subclasses():
    def fresh():
        return aekit.create_model("mlp", (1, 8, 8), "01", hidden=[16, 16], latent_dim=3)

    hooked = fresh()
    hooked.encoder.register_forward_hook(lambda *a: None)
    tied = fresh()
    tied.decoder[0][2] = tied.encoder[1][2]  # one 16 -> 16 layer in both halves

    class HalfReLU(torch.nn.ReLU):
        def forward(self, x):
            return super().forward(x) / 2

    odd = fresh()
    odd.encoder[1][1] = HalfReLU()
    for model in (hooked, tied, odd):
        assert fastpath.chain(model) is None
    assert fastpath.chain(fresh()) is not None


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
