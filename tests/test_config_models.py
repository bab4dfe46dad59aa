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
