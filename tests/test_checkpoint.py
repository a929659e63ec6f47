"""Loading the released checkpoint: bad directories and tensors give clear errors; the full
`mini-omni` shapes load and match the spec's forward pass (random stand-in weights, see
release_fixture.py: the real checkpoint cannot be downloaded on test machines)."""

import os
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import yaml

from omni_lib.checkpoint import fuse_qkv, read_release_config, split_qkv
from omni_lib.config import OmniConfig
from omni_lib.model import OmniModel
from omni_lib.tokens import build_input

from release_fixture import release_config, write_release
from test_model import TINY, reference_logits

CFG = OmniConfig.from_preset("mini-omni", **TINY)


def load_quietly(d, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OmniModel.from_mini_omni(d, **kw)


def test_qkv_split_is_per_group():
    """Rows of the fused matrix: group 0 = [q0 q1 | k0 | v0], group 1 = [q2 q3 | k1 | v1] (2 q heads per group)."""
    hs = CFG.head_size
    fused = torch.arange((CFG.n_head + 2 * CFG.n_query_groups) * hs).float()[:, None]
    q, k, v = split_qkv(fused, CFG)
    blocks = lambda t: (t[:, 0].reshape(-1, hs)[:, 0] / hs).long().tolist()  # noqa: E731  (block index of each head)
    assert blocks(q) == [0, 1, 4, 5] and blocks(k) == [2, 6] and blocks(v) == [3, 7]
    assert torch.equal(fuse_qkv(q, k, v, CFG), fused)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*gpt-omni/mini-omni"):
        OmniModel.from_mini_omni(tmp_path / "nope")
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump(release_config(CFG)))
    with pytest.raises(FileNotFoundError, match="lacks lit_model.pth"):
        OmniModel.from_mini_omni(tmp_path)


def test_hub_download_fails_fast_offline():
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="the Mini-Omni checkpoint: 'gpt-omni/mini-omni' is not cached"):
        OmniModel.from_mini_omni("gpt-omni/mini-omni")
    assert time.monotonic() - start < 10


def test_wrong_shape_names_key_and_both_shapes(tmp_path):
    sd = write_release(tmp_path, CFG)
    sd["transformer.h.1.mlp.fc_2.weight"] = torch.zeros(7, CFG.n_embd)
    torch.save(sd, tmp_path / "lit_model.pth")
    with pytest.raises(ValueError, match=r"backbone.layers.1.mlp.up_proj.weight: checkpoint \(7, 64\) vs model \(96, 64\)"):
        load_quietly(tmp_path, whisper=False)


def test_config_that_does_not_match_the_weights(tmp_path):
    write_release(tmp_path, CFG)
    y = release_config(CFG)
    y["n_layer"] = 3                                                  # the file has 2 layers
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump(y))
    with pytest.raises(ValueError, match="missing backbone.layers.2"):
        load_quietly(tmp_path, whisper=False)
    y = release_config(CFG)
    y["padded_vocab_size"] = 181_000
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump(y))
    with pytest.raises(ValueError, match="padded_vocab_size = 181000 but the Mini-Omni token space gives"):
        read_release_config(tmp_path / "model_config.yaml")
    y = release_config(CFG)
    y["norm_class_name"] = "LayerNorm"
    (tmp_path / "model_config.yaml").write_text(yaml.safe_dump(y))
    with pytest.raises(ValueError, match="unsupported settings.*norm_class_name"):
        read_release_config(tmp_path / "model_config.yaml")


def test_unknown_key_and_non_finite_weights(tmp_path):
    sd = write_release(tmp_path, CFG)
    torch.save({**sd, "transformer.extra.weight": torch.zeros(1)}, tmp_path / "lit_model.pth")
    with pytest.raises(KeyError, match="unexpected key 'transformer.extra.weight'"):
        load_quietly(tmp_path, whisper=False)
    sd["transformer.ln_f.weight"][3] = float("inf")
    torch.save(sd, tmp_path / "lit_model.pth")
    with pytest.raises(ValueError, match="non-finite values in \\['backbone.norm.weight'\\]"):
        load_quietly(tmp_path, whisper=False)


def test_pickled_objects_are_refused(tmp_path):
    write_release(tmp_path, CFG)
    torch.save({"transformer.wte.weight": torch.zeros(2), "evil": print}, tmp_path / "lit_model.pth")
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        load_quietly(tmp_path, whisper=False)


def test_whisper_small_pt_in_the_directory_is_used(tmp_path):
    from omni_lib.whisper_weights import random_whisper

    write_release(tmp_path, OmniConfig.from_preset("mini-omni", **{**TINY, "whisper_dim": 768}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = random_whisper("small", seed=5)
    torch.save({"dims": vars(w.dims), "model_state_dict": w.state_dict()}, tmp_path / "small.pt")
    model = load_quietly(tmp_path)
    assert model.whisper is not None and model.whisper.window_s == 30 and model.whisper.dim == 768
    assert torch.equal(model.whisper.encoder.conv1.weight, w.encoder.conv1.weight)


@pytest.mark.slow
def test_full_mini_omni_shapes_match_the_spec(tmp_path):
    """The released sizes (532 M parameters, 24 layers) load and give the spec's logits.

    Measured: max |logit| 2.9, max |ours - spec| 2.6e-5 (each is ~3.5e-5 from a float64 run).
    """
    cfg = OmniConfig.from_preset("mini-omni")
    sd = write_release(tmp_path, cfg, seed=1, emb_std=0.02)
    model = load_quietly(tmp_path, whisper=False)
    assert sum(p.numel() for p in model.parameters()) == 532_010_880
    ids = build_input("A1A2", cfg, n_audio=6)[None]
    feats = torch.randn(1, 6, 768, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(ids, feats)
    text, audio = reference_logits(sd, cfg, ids, feats, torch.tensor([6]))
    torch.testing.assert_close(ours.text_logits, text, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.audio_logits, audio, atol=1e-4, rtol=0)
