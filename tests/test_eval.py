"""Evaluation: metrics against scikit-image and closed forms, the PCA baseline against
scikit-learn's PCA, the fitted code prior, a VAE's ELBO and NLL, and `aekit eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _tiny_runs import tiny_run
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.decomposition import PCA

import aekit
from aekit.cli.main import main
from aekit.evaluation.evaluate import chunks, evaluate, unit_images, unit_rows
from aekit.evaluation.metrics import (
    bce_per_image,
    psnr_per_image,
    reconstruction_metrics,
    sse_per_image,
    ssim_per_image,
)
from aekit.evaluation.prior import CodePrior

# the end-of-run figures are not what these tests are about (conftest.without_end_plots)
pytestmark = pytest.mark.usefixtures("no_end_plots")


def _pairs(shape=(6, 1, 28, 28), seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g)
    b = (a + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    return a, b


@pytest.mark.parametrize("shape", [(6, 1, 28, 28), (4, 1, 8, 8), (3, 3, 16, 12)])
def test_ssim_and_psnr_agree_with_scikit_image_reference(shape):
    a, b = _pairs(shape)
    ours_s = ssim_per_image(b, a)
    ours_p = psnr_per_image(b, a)
    for i in range(len(a)):
        x, y = a[i].double().numpy(), b[i].double().numpy()
        if shape[1] == 1:  # scikit-image's defaults: 7x7 uniform window
            ref = structural_similarity(x[0], y[0], data_range=1.0)
        else:
            ref = structural_similarity(x, y, data_range=1.0, channel_axis=0)
        assert ours_s[i].item() == pytest.approx(ref, abs=1e-10)
        assert ours_p[i].item() == pytest.approx(
            peak_signal_noise_ratio(x, y, data_range=1.0), abs=1e-9
        )


def test_known_pairs_have_the_closed_form_values():
    a = torch.full((2, 1, 28, 28), 0.25)
    b = a + 0.1  # every pixel off by 0.1: MSE 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr_per_image(b, a).tolist() == pytest.approx([20.0, 20.0])
    assert sse_per_image(b, a).tolist() == pytest.approx([7.84, 7.84])  # 784 * 0.01
    assert ssim_per_image(a, a).tolist() == pytest.approx([1.0, 1.0])
    p, t = torch.rand(3, 1, 5, 5), (torch.rand(3, 1, 5, 5) > 0.5).float()
    ref = torch.nn.functional.binary_cross_entropy(p.double(), t.double(), reduction="none")
    assert torch.allclose(bce_per_image(p, t), ref.flatten(1).sum(1))


def test_bce_only_where_the_range_allows_it():
    a, _ = _pairs()
    assert "bce_per_image" in reconstruction_metrics(a, a)
    assert "bce_per_image" not in reconstruction_metrics(a * 1.5 - 0.2, a)


def test_pca_baseline_equals_scikit_learn_pca_error():
    run = tiny_run("mlp")
    model = aekit.load(run)
    train = aekit.load_dataset("digits", split="train")
    test = aekit.load_dataset("digits", split="val")
    res = evaluate(model, test, train)
    xt = train.images().flatten(1).double().numpy()
    xv = test.images().flatten(1).double().numpy()
    sk = PCA(model.latent_dim).fit(xt)
    ref = ((sk.inverse_transform(sk.transform(xv)) - xv) ** 2).sum(1).mean()
    assert res["pca"]["k"] == model.latent_dim == 2
    assert res["pca"]["sse_per_image"] == pytest.approx(ref, rel=1e-9)
    ours = ((model.reconstruct(test.images()) - test.images()) ** 2).flatten(1).sum(1).mean()
    assert res["model"]["sse_per_image"] == pytest.approx(float(ours), rel=1e-5)
    assert res["ratio_to_pca"] == pytest.approx(res["model"]["sse_per_image"] / ref, rel=1e-6)


def test_metrics_are_in_unit_pixels_for_a_minus_one_to_one_model():
    model = aekit.load(tiny_run("denoise"))
    test = aekit.load_dataset("digits", split="val")
    res = evaluate(model, test)
    x = test.images("-11")
    rec = (model.reconstruct(x) + 1) / 2
    ref = ((rec - (x + 1) / 2) ** 2).mean()
    assert res["model"]["mse"] == pytest.approx(float(ref), rel=1e-5)


def test_denoising_run_reports_noisy_and_denoised_psnr():
    res = json.loads((tiny_run("denoise") / "eval.json").read_text())
    d = res["denoising"]
    assert d["noise"] == "gaussian" and d["noise_level"] == 0.3
    assert d["noisy_input"]["psnr"] < 20 and "psnr" in d["denoised"]


def test_gaussian_prior_is_the_maximum_likelihood_fit_and_samples_repeatably(tmp_path):
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=(2000, 3)) @ np.diag([1.0, 2.0, 0.5]) + [1, -2, 3])
    p = CodePrior.fit(z)
    assert torch.allclose(p.means[0], z.mean(0))
    assert np.allclose(p.covariances[0].numpy(), np.cov(z.numpy().T))
    s1 = p.sample(500, torch.Generator().manual_seed(3))
    s2 = p.sample(500, torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)
    many = p.sample(20000, torch.Generator().manual_seed(1)).double()
    assert np.allclose(np.cov(many.numpy().T), p.covariances[0].numpy(), atol=0.1)
    p.save(tmp_path / "prior.json")
    q = CodePrior.load(tmp_path / "prior.json")
    assert torch.equal(
        q.sample(5, torch.Generator().manual_seed(0)), p.sample(5, torch.Generator().manual_seed(0))
    )
    gmm = CodePrior.fit(z, "gmm", n_components=3)
    assert gmm.weights.sum().item() == pytest.approx(1.0) and gmm.means.shape == (3, 3)


def test_plain_autoencoder_run_stores_its_fitted_prior():
    run = tiny_run("mlp")
    prior = json.loads((run / "prior.json").read_text())
    assert prior["kind"] == "gaussian" and len(prior["means"][0]) == 2


@pytest.mark.skipif("vae" not in aekit.list_models(), reason="no vae model registered")
def test_vae_evaluation_reports_elbo_and_a_tighter_importance_sampled_nll(tmp_path):
    run = aekit.train(
        {
            "data": {"name": "digits", "binarize": True},
            "model": {"name": "vae", "hidden": [32], "latent_dim": 2, "nll_samples": 0},
            "train": {"epochs": 2, "batch_size": 64, "recon_every": 0},
            "run": {"out_dir": str(tmp_path)},
        },
        report=False,
    )
    test = aekit.load_dataset("digits", split="val")
    run.model.train()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    res = evaluate(run.model, test, binarize=True, nll_samples=20)
    own = res["model_metrics"]
    assert own["nll_is20_nats"] < own["neg_elbo_nats"]  # IWAE bound is tighter in expectation
    assert own["nll_is20_nats"] > 0
    # no side effects on the caller: the global RNG and the model's train mode are as they were
    assert torch.equal(torch.get_rng_state(), before) and run.model.training
    # and the sampled numbers are still repeatable, whatever the global RNG holds
    torch.manual_seed(7)
    assert evaluate(run.model, test, binarize=True, nll_samples=20)["model_metrics"] == own


def test_eval_cli_prints_the_table_and_writes_eval_json(capsys):
    run = tiny_run("conv")
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "PCA (4 comp.)" in out and "SSIM" in out and "squared error per image" in out
    res = json.loads((run / "eval.json").read_text())
    assert res["split"] == "val" and res["n_images"] == 180  # digits has no test set


def test_eval_and_the_model_card_name_a_vaes_numbers_for_people(tmp_path, capsys):
    """Readable names (report/texts.py, one mapping) in `aekit eval` and README.md; raw keys
    in the JSON."""
    run = aekit.train(
        {
            "data": {"name": "digits"},
            "model": {"name": "vae", "hidden": [32], "latent_dim": 2},
            "train": {"epochs": 1, "recon_every": 0},
            "run": {"out_dir": str(tmp_path), "name": "v"},
        }
    )
    readable = "negative ELBO = reconstruction + KL (nats per image)"
    card = (run.path / "README.md").read_text()
    assert readable in card and "neg_elbo_nats" not in card
    assert main(["eval", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert readable in out and "neg_elbo_nats" not in out
    assert main(["eval", str(run.path), "--json"]) == 0
    assert "neg_elbo_nats" in json.loads(capsys.readouterr().out)["model_metrics"]


def test_eval_of_a_folder_that_is_not_a_run_is_one_line_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_metrics_in_chunks_equal_the_metrics_at_once():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 1, 8, 8, generator=g)
    recon = torch.rand(50, 1, 8, 8, generator=g)
    whole = reconstruction_metrics(recon, x, chunk=1000)
    parts = reconstruction_metrics(recon, x, chunk=7)
    assert whole.keys() == parts.keys() and "bce_per_image" in parts
    for k in whole:
        torch.testing.assert_close(parts[k], whole[k])
    recon[45, 0, 0, 0] = 1.5  # out of [0, 1] in the last chunk only: no BCE at all
    assert "bce_per_image" not in reconstruction_metrics(recon, x, chunk=7)


def test_unit_rows_are_unit_images_a_chunk_at_a_time():
    data = aekit.load_dataset("digits", split="train")
    rows = unit_rows(data)
    torch.testing.assert_close(
        torch.cat([rows(s) for s in chunks(len(data), 100)]), unit_images(data)
    )
    stoch = unit_rows(data, "stochastic")
    assert torch.equal(stoch(slice(100, 200)), stoch(slice(100, 200)))  # the same draw
    assert set(stoch(slice(0, 100)).unique().tolist()) <= {0.0, 1.0}


def _mapped_digits(tmp_path, monkeypatch):
    """sklearn digits as a memory-mapped uint8 .npy: (train, val) Datasets over the map."""
    from sklearn.datasets import load_digits

    from aekit.data import load_dataset, mapped
    from aekit.data.mapped import MappedArray
    from aekit.data.sources import clear_cache

    d = load_digits()
    npy = tmp_path / "digits.npy"
    np.save(npy, np.rint(d.images * (255 / 16)).astype(np.uint8))
    np.save(tmp_path / "digits_labels.npy", d.target)
    monkeypatch.setattr(mapped, "MMAP_MIN_BYTES", 0)
    clear_cache()
    train, val = (load_dataset(str(npy), split=s) for s in ("train", "val"))
    assert isinstance(val.x, MappedArray)
    return npy, train, val


def _count_reads(monkeypatch, source) -> list[int]:
    """Rows of every read of ``source`` (a MappedArray), in order."""
    from aekit.data.mapped import MappedArray

    reads, gather = [], MappedArray.gather

    def spy(self, idx):
        out = gather(self, idx)
        if self.rows is not None and np.array_equal(self.rows, source.rows):
            reads.append(len(out))
        return out

    monkeypatch.setattr(MappedArray, "gather", spy)
    return reads


def test_evaluate_reads_a_mapped_split_a_chunk_at_a_time(tmp_path, monkeypatch):
    _, train, val = _mapped_digits(tmp_path, monkeypatch)
    torch.manual_seed(0)
    model = aekit.create_model("mlp", (1, 8, 8), hidden=[16], latent_dim=4)
    reads = _count_reads(monkeypatch, val.x)
    whole = evaluate(model, val, train)
    assert reads == [len(val)]  # one chunk: the whole split at once
    reads.clear()
    parts = evaluate(model, val, train, chunk=50)
    assert max(reads) == 50 and sum(reads) == len(val) and len(reads) > 3
    assert parts["model"] == pytest.approx(whole["model"], rel=1e-6)
    assert parts["pca"] == pytest.approx(whole["pca"], rel=1e-6)


def test_end_of_run_metrics_read_the_validation_split_a_chunk_at_a_time(
    tmp_path, runs, monkeypatch
):
    import aekit.training.trainer as trainer
    from aekit.training.final import end_of_run_metrics

    npy, _, val = _mapped_digits(tmp_path, monkeypatch)
    cfg = {"data": {"name": str(npy)}, "train": {"epochs": 1, "recon_every": 0}}
    cfg["run"] = {"out_dir": str(runs)}
    whole = aekit.train(cfg, report=False).result
    reads = _count_reads(monkeypatch, val.x)
    at_end: list[int] = []

    def chunked(*args):
        reads.clear()  # the per-epoch validation's reads (batches of 256) came before
        out = end_of_run_metrics(*args, chunk=40)
        at_end.extend(reads)
        return out

    monkeypatch.setattr(trainer, "end_of_run_metrics", chunked)
    parts = aekit.train(cfg, report=False).result
    assert max(at_end) == 40 and sum(at_end) == len(val)
    assert parts["val_mse"] == pytest.approx(whole["val_mse"], rel=1e-6)
    assert parts["pca_val_mse"] == pytest.approx(whole["pca_val_mse"], rel=1e-6)
