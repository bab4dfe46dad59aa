"""Model configs share their fields by inheritance, and a model's capabilities are declared
class attributes that agree with what the model can do."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import aekit
from aekit._registry import list_models, model_entry
from aekit.models.mlp import MLPConfig
from aekit.models.vae import VariationalConfig
from aekit.recipes import load_recipe

SHAPE = (1, 8, 8)


def test_mlp_and_vae_families_inherit_their_shared_fields():
    mlp_keys = {f.name for f in dataclasses.fields(MLPConfig)}
    vae_keys = {f.name for f in dataclasses.fields(VariationalConfig)}
    for name in ("sparse", "contractive"):
        cls = model_entry(name).config_cls
        assert issubclass(cls, MLPConfig) and mlp_keys <= {f.name for f in dataclasses.fields(cls)}
    for name in ("vae", "conv_vae"):
        cls = model_entry(name).config_cls
        assert issubclass(cls, VariationalConfig)
        assert vae_keys <= {f.name for f in dataclasses.fields(cls)}
    # sparse and contractive keep the output bias PyTorch draws, as their papers do
    assert model_entry("sparse").config_cls().output_bias == "torch"
    assert model_entry("contractive").config_cls().output_bias == "torch"
    assert MLPConfig().output_bias == "data_mean"


@pytest.mark.parametrize("name", list_models())
def test_declared_capabilities_match_what_the_model_does(name):
    model = aekit.create_model(name, SHAPE).eval()
    x = torch.rand(3, *SHAPE)
    g = torch.Generator().manual_seed(0)
    if model.has_prior:
        assert model.sample(2, g).shape == (2, *SHAPE)
    else:
        with pytest.raises(NotImplementedError):
            model.sample(2, g)
    if model.has_decoder_basis:
        assert model.decoder_basis().shape == (x[0].numel(), model.latent_dim)
    else:
        with pytest.raises(NotImplementedError):
            model.decoder_basis()
    if model.variational:
        mu, logvar = model.posterior(x)
        assert mu.shape == logvar.shape == (3, model.latent_dim)
        assert torch.isfinite(model.nll(x, k=2)).all()
    else:
        with pytest.raises(NotImplementedError):
            model.posterior(x)
        with pytest.raises(NotImplementedError):
            model.nll(x)


def test_the_capabilities_are_declared_where_expected():
    caps = {
        n: (c.has_prior, c.variational, c.has_decoder_basis)
        for n in list_models()
        for c in [model_entry(n).cls]
    }
    assert caps["vae"] == caps["conv_vae"] == (True, True, False)
    assert caps["linear"] == (False, False, True)
    assert caps["mlp"] == caps["conv"] == (False, False, False)


def test_the_default_mlp_has_batchnorm_after_each_hidden_layer_only():
    model = aekit.create_model("mlp", (1, 28, 28), hidden=[128, 64, 12], latent_dim=3)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))]
    kinds = ["BN" if isinstance(m, torch.nn.BatchNorm1d) else m.out_features for m in layers]
    # none after the code (3) or the output (784): BatchNorm follows the 6 hidden Linears
    assert kinds == [128, "BN", 64, "BN", 12, "BN", 3, 12, "BN", 64, "BN", 128, "BN", 784]
    # the families measured without it, and the recipes that were, keep it off
    assert not model_entry("sparse").config_cls().batchnorm
    assert not model_entry("contractive").config_cls().batchnorm
    for recipe in ("fc-mnist", "sigmoid-bce", "deep-sigmoid-l2"):
        assert load_recipe(recipe)[0]["model"]["batchnorm"] is False
