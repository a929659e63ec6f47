"""omni_lib.audio: every input form becomes mono float32 in [-1, 1] at the model rate, or a clear error."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from omni_lib.audio import load_audio, to_model_audio


def sine(n, rate, hz=440.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def convert(*args, **kwargs):
    """to_model_audio, failing the test on any warning (the good inputs must convert silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return to_model_audio(*args, **kwargs)


# ----------------------------------------------------------------------------------- conversions
def test_mono_float_at_target_rate_is_unchanged():
    x = sine(1000, 24000)
    y = convert(x, 24000)
    assert y.dtype == torch.float32 and y.shape == (1000,)
    assert torch.equal(y, torch.from_numpy(x))


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_stereo_is_averaged_in_both_orientations(layout):
    left, right = sine(3000, 24000), np.zeros(3000, np.float32)
    x = np.stack([left, right], axis=1 if layout == "channels_last" else 0)   # [N, 2] or [2, N]
    y = convert(x, 24000)
    assert y.shape == (3000,)
    assert torch.allclose(y, torch.from_numpy(left / 2))


def test_torch_input_and_float_dtypes():
    x = sine(500, 24000)
    t = torch.from_numpy(x)
    for arr in (t, t.to(torch.bfloat16), x.astype(np.float16), x.astype(np.float64)):
        y = convert(arr, 24000)
        assert y.dtype == torch.float32 and y.shape == (500,)
        assert torch.allclose(y, torch.from_numpy(x), atol=1e-2)


@pytest.mark.parametrize("dtype, values, expected", [
    (np.int16, [-32768, 0, 16384, 32767], [-1.0, 0.0, 0.5, 32767 / 32768]),
    (np.int32, [-2**31, 0, 2**30], [-1.0, 0.0, 0.5]),
    (np.uint8, [0, 128, 192, 255], [-1.0, 0.0, 0.5, 127 / 128]),   # 8-bit WAV is centred on 128
])
def test_integer_pcm_is_scaled_by_its_full_range(dtype, values, expected):
    y = convert(np.array(values * 50, dtype=dtype), 24000)    # repeated: avoid the silence warning
    assert torch.allclose(y[: len(values)], torch.tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_resampling_gives_the_right_length_and_content(rate):
    n = rate // 2 + 7                                          # 0.5 s and a bit: not a round length
    y = convert(sine(n, rate), np.int64(rate))               # numpy ints work as rates too
    assert y.shape == (math.ceil(n * 24000 / rate),)
    expected = torch.from_numpy(sine(len(y), 24000))
    middle = slice(1000, len(y) - 1000)                        # resampler edges are not a sine
    assert (y[middle] - expected[middle]).abs().max() < 0.02


def test_int16_stereo_44k_like_a_wav_file():
    x = np.zeros((44100, 2), dtype=np.int16)
    x[:, 0] = 16384
    y = convert(x, 44100)
    assert y.shape == (24000,) and abs(float(y[12000]) - 0.25) < 1e-3


# ----------------------------------------------------------------------------------- warnings
def test_silence_warns():
    with pytest.warns(UserWarning, match="silent"):
        y = to_model_audio(np.zeros(100, np.float32), 24000)
    assert y.abs().max() == 0


def test_float_above_one_is_clipped_with_a_warning():
    x = np.array([0.5, 1.7, -3.0, 0.0], np.float32)
    with pytest.warns(UserWarning, match=r"up to 3.*clipping"):
        y = to_model_audio(x, 24000)
    assert y.tolist() == [0.5, 1.0, -1.0, 0.0]


def test_max_seconds_cuts_and_says_so():
    x = sine(24000 * 3, 24000)
    with pytest.warns(UserWarning, match=r"3.00 s long; cutting it to the first 2 s"):
        y = to_model_audio(x, 24000, max_seconds=2)
    assert y.shape == (48000,)
    assert convert(x, 24000, max_seconds=5).shape == (72000,)  # shorter than the limit: untouched


# ----------------------------------------------------------------------------------- rejections
@pytest.mark.parametrize("audio, rate, match", [
    (np.zeros(0, np.float32), 24000, "is empty"),
    (np.zeros((0, 2), np.float32), 24000, "is empty"),
    (np.array([0.1, np.nan, 0.2], np.float32), 24000, "1 NaN or inf"),
    (np.array([0.1, np.inf, -np.inf], np.float64), 24000, "2 NaN or inf"),
    (np.zeros((2, 3, 100), np.float32), 24000, r"shape \(2, 3, 100\).*\[N\]"),
    (np.float32(0.5), 24000, "shape"),
    (np.array(0.5), 24000, "shape"),
    (np.zeros((100, 100), np.float32), 24000, "neither dimension looks like channels"),
    (sine(100, 24000), 0, "not a sample rate"),
    (sine(100, 24000), -16000, "not a sample rate"),
    (sine(100, 24000), float("nan"), "not a sample rate"),
    (sine(100, 24000), 16, r"absurd.*did you mean 16000 Hz"),
    (sine(100, 24000), 10_000_000, "absurd"),
    (sine(100, 24000), "16k", "must be a number of Hz"),
    (np.zeros(10, np.complex64), 24000, "dtype complex64"),
])
def test_bad_inputs_are_rejected_with_a_reason(audio, rate, match):
    with pytest.raises(ValueError, match=match):
        to_model_audio(audio, rate)


def test_bad_max_seconds():
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        to_model_audio(sine(100, 24000), 24000, max_seconds=0)


def test_unsupported_type():
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        to_model_audio("speech.wav", 24000)


# ----------------------------------------------------------------------------------- files
def test_load_audio_reads_a_stereo_16k_wav(tmp_path):
    path = tmp_path / "clip.wav"
    x = np.stack([sine(8000, 16000), sine(8000, 16000)], axis=1)
    sf.write(path, x, 16000, subtype="PCM_16")
    y = load_audio(path)
    assert y.dtype == torch.float32 and y.shape == (12000,)
    assert (y[1000:-1000] - torch.from_numpy(sine(12000, 24000))[1000:-1000]).abs().max() < 0.02
    assert load_audio(path, target_rate=16000).shape == (8000,)


def test_load_audio_missing_and_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(ValueError, match=r"could not read .*notes.wav.* as audio"):
        load_audio(bad)


def test_speed_perturbation_scales_duration_and_pitch_together():
    from omni_lib.audio import speed_perturb

    t = torch.arange(16_000) / 16_000
    tone = 0.5 * torch.sin(2 * math.pi * 440 * t)
    for factor in (0.9, 1.1):
        y = speed_perturb(tone, factor, 16_000)
        assert abs(len(y) - 16_000 / factor) <= 1
        peak_hz = torch.fft.rfft(y).abs().argmax().item() * 16_000 / len(y)
        assert abs(peak_hz - 440 * factor) < 3, (factor, peak_hz)
        assert y.abs().max() <= 1
    with pytest.raises(ValueError, match="speed factor"):
        speed_perturb(tone, 0, 16_000)
