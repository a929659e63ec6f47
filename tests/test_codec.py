"""omni_lib.codec on a random-weight SNAC 24 kHz (the real weights are not reachable offline)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")   # hub calls fail in ~2 s instead of retrying

import json
import math
import time

import numpy as np
import pytest
import torch
from snac import SNAC

from omni_lib.codec import (SNAC_24KHZ_CONFIG, Codec, StreamingDecoder, check_model, codes_to_frames,
                            frames_to_codes, load_snac, receptive_field_frames, receptive_field_samples)
from omni_lib.config import OmniConfig

CFG = OmniConfig()
K = CFG.audio_codebook_size
N = CFG.samples_per_frame
TOL = 1e-5        # streaming vs one-shot, stated in StreamingDecoder's docstring


@pytest.fixture(scope="module")
def codec():
    torch.set_num_threads(2)
    with pytest.warns(UserWarning, match="RANDOM weights.*noise"):
        return Codec(load_snac(random_init=True, seed=0), CFG)


@pytest.fixture(scope="module")
def frames10():
    return torch.randint(0, K, (7, 10), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def oneshot(codec, frames10):
    return codec.decode(frames10)


def z(*shape):
    return torch.zeros(*shape, dtype=torch.long)


def random_codes(F, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, K, (1, F * k), generator=g) for k in (1, 2, 4)]


# ----------------------------------------------------------------------------------- codes <-> frames
@pytest.mark.parametrize("F", [0, 1, 5, 33])
def test_codes_and_frames_are_exact_inverses(F):
    codes = random_codes(F)
    frames = codes_to_frames(codes)
    assert frames.shape == (7, F) and frames.dtype == torch.long
    back = frames_to_codes(frames)
    assert [c.shape for c in back] == [(1, F), (1, 2 * F), (1, 4 * F)]
    assert all(torch.equal(a, b) for a, b in zip(codes, back))
    assert torch.equal(codes_to_frames([c[0] for c in codes]), frames)       # [n] works like [1, n]
    assert torch.equal(codes_to_frames(frames_to_codes(frames)), frames)


def test_spec_grid_by_hand_for_two_frames():
    coarse, middle, fine = torch.tensor([100, 101]), torch.arange(200, 204), torch.arange(300, 308)
    frames = codes_to_frames([coarse, middle, fine])
    # spec §5: coarse[f], middle[2f], fine[4f], fine[4f+1], middle[2f+1], fine[4f+2], fine[4f+3]
    assert frames[:, 0].tolist() == [100, 200, 300, 301, 201, 302, 303]
    assert frames[:, 1].tolist() == [101, 202, 304, 305, 203, 306, 307]
    assert frames[4, 1] == middle[3] and frames[3, 1] == fine[5] and frames[6, 0] == fine[3]


@pytest.mark.parametrize("codes, match", [
    (random_codes(2)[:2], "expected 3 codebooks.*got 2"),
    (random_codes(2) + random_codes(2)[:1], "expected 3 codebooks.*got 4"),
    (z(3, 4), "expected 3 codebooks.*got Tensor"),
    ([torch.zeros(1, 2), torch.zeros(1, 4), torch.zeros(1, 8)], "must be integer"),
    ([z(2, 2)] * 3, r"one clip"),
    ([z(2), z(4), z(7)], "not in the ratio 1:2:4"),
    ([z(2), z(3), z(8)], "not in the ratio 1:2:4"),
    ([torch.tensor([0, K]), z(4), z(8)], f"coarse SNAC code {K} .* outside"),
    ([z(2), torch.tensor([0, 0, -1, 0]), z(8)], "middle SNAC code -1 .* outside"),
])
def test_bad_codes_are_rejected(codes, match):
    with pytest.raises(ValueError, match=match):
        codes_to_frames(codes)


@pytest.mark.parametrize("frames, match", [
    ([[1, 2, 3]] * 6 + [[1, 2]], "unequal lengths"),
    (z(6, 3), r"\[7, F\].*got torch.int64 \(6, 3\)"),
    (z(7), r"\[7, F\]"),
    (torch.zeros(7, 3), "integer"),
    (torch.full((7, 3), K), f"SNAC code in frames {K} at index \\(0, 0\\) is outside \\[0, {K}\\)"),
    (torch.full((7, 3), K + 1), "outside"),          # e.g. pad_a (4097) left in by mistake
])
def test_bad_frames_are_rejected(frames, match):
    with pytest.raises(ValueError, match=match):
        frames_to_codes(frames)


def test_frames_given_as_rows():
    rows = [list(range(i, i + 3)) for i in range(7)]
    assert torch.equal(codes_to_frames(frames_to_codes(rows)), torch.tensor(rows))


# ----------------------------------------------------------------------------------- encode / decode
@pytest.mark.parametrize("n, rate, F", [(5000, 24000, 3), (2048, 24000, 1), (2049, 24000, 2), (16000, 16000, 12)])
def test_encode_gives_ceil_n_over_2048_frames(codec, n, rate, F):
    audio = 0.3 * np.sin(np.arange(n) / 7.0).astype(np.float32)
    frames = codec.encode(audio, rate)
    assert F == math.ceil(n * 24000 / rate / N)
    assert frames.shape == (7, F) and frames.dtype == torch.long
    assert frames.min() >= 0 and frames.max() < K
    frames[0, 0] = 1                                   # a normal tensor, editable in place


def test_encode_rejects_what_audio_rejects(codec):
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(np.array([0.1, np.nan] * 100, np.float32), 24000)


def test_decode_shape_and_determinism(codec, frames10, oneshot):
    assert oneshot.shape == (10 * N,) and oneshot.dtype == torch.float32
    assert oneshot.abs().max() <= 1.0                  # SNAC ends in tanh
    small = frames10[:, :3]
    assert torch.equal(codec.decode(small), codec.decode(small))            # noise off: same every time
    torch.manual_seed(1)
    a = codec.decode(small, noise=True)
    torch.manual_seed(2)
    b = codec.decode(small, noise=True)
    torch.manual_seed(1)
    c = codec.decode(small, noise=True)
    assert not torch.equal(a, b) and torch.equal(a, c)                       # noise on: only the seed decides
    assert not torch.equal(a, codec.decode(small))
    assert all("forward" not in m.__dict__ for m in codec.model.modules())   # noise switch restored
    assert codec.decode(z(7, 0)).shape == (0,)


# ----------------------------------------------------------------------------------- receptive field
def test_receptive_field_analytic_matches_a_perturbation(codec, frames10, oneshot):
    before, after = receptive_field_samples(codec)
    assert receptive_field_frames(codec) == (math.ceil(after / N), math.ceil(before / N)) == (3, 3)
    f = 5
    changed = frames10.clone()
    changed[:, f] = (changed[:, f] + 1) % K           # every code of frame 5
    idx = (codec.decode(changed) - oneshot).nonzero()[:, 0]
    first, last = idx.min().item(), idx.max().item()
    assert f * N - before <= first and last <= (f + 1) * N - 1 + after       # analytic is a bound...
    assert f * N - first > 2 * N and last - (f + 1) * N >= 2 * N              # ...and reaches into frame 3 / 8


# ----------------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("chunk", [1, 3, 4])
def test_streaming_equals_one_shot(codec, frames10, oneshot, chunk):
    stream = StreamingDecoder(codec, chunk_frames=chunk)
    assert (stream.left_context, stream.right_context) == (3, 3)
    assert stream.latency_frames == 3 and stream.latency_ms == pytest.approx(256.0)
    chunks = []
    for a, b in [(0, 3), (3, 4), (4, 8), (8, 10)]:     # pushes of 3, 1, 4, 2 frames
        chunks += stream.push(frames10[:, a:b])
    assert all(c.shape == (chunk * N,) and c.dtype == torch.float32 for c in chunks)
    tail = stream.flush()
    assert len(tail) == 10 * N - len(chunks) * chunk * N
    wave = torch.cat(chunks + [tail])
    assert wave.shape == oneshot.shape
    assert (wave - oneshot).abs().max() < TOL


def test_streaming_waits_for_right_context_and_resets(codec, frames10):
    stream = StreamingDecoder(codec, chunk_frames=2)
    assert stream.push(frames10[:, :4]) == []          # 2 frames + 3 of right context not there yet
    assert len(stream.push(frames10[:, 4:5])) == 1
    stream.flush()
    assert stream.flush().shape == (0,) and stream.push(frames10[:, :2]) == []   # a fresh utterance


def test_too_little_context_shows_seams(codec, frames10, oneshot):
    stream = StreamingDecoder(codec, chunk_frames=4, left_context=1, right_context=1)
    wave = torch.cat(stream.push(frames10) + [stream.flush()])
    assert (wave - oneshot).abs().max() > 100 * TOL


def test_reference_mode_has_seams_and_drops_the_tail(codec, frames10, oneshot):
    stream = StreamingDecoder(codec, reference_mode=True)
    assert stream.latency_frames == 0
    chunks = stream.push(frames10)
    assert len(chunks) == 2 and stream.flush().shape == (0,)                  # frames 8, 9 never sent
    assert torch.equal(chunks[1], codec.decode(frames10[:, 4:8]))            # each chunk decoded alone
    wave = torch.cat(chunks)
    assert wave.shape == (8 * N,)
    assert (wave - oneshot[: 8 * N]).abs().max() > 100 * TOL


def test_streaming_validates(codec):
    with pytest.raises(ValueError, match="chunk_frames must be >= 1"):
        StreamingDecoder(codec, chunk_frames=0)
    with pytest.raises(ValueError, match="outside"):
        StreamingDecoder(codec).push(torch.full((7, 2), K + 1))


# ----------------------------------------------------------------------------------- loading
def test_load_snac_offline_fails_fast_and_clearly():
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"hubertsiuzdak/snac_24khz(.|\n)*huggingface-cli download "
                                                r"hubertsiuzdak/snac_24khz --local-dir DIR(.|\n)*random_init=True"):
        load_snac()
    assert time.monotonic() - start < 15


def test_load_snac_bad_local_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a local directory nor a hub id"):
        load_snac(str(tmp_path / "missing" / "snac"))
    (tmp_path / "config.json").write_text(json.dumps(SNAC_24KHZ_CONFIG))
    with pytest.raises(FileNotFoundError, match="has no pytorch_model.bin"):
        load_snac(tmp_path)


def test_load_snac_from_local_dir_round_trips(codec, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SNAC_24KHZ_CONFIG))
    torch.save(codec.model.state_dict(), tmp_path / "pytorch_model.bin")
    model = load_snac(tmp_path)
    assert not model.training
    mine, theirs = codec.model.state_dict(), model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_random_init_is_seeded_and_leaves_the_global_rng_alone(codec):
    state = torch.get_rng_state()
    with pytest.warns(UserWarning, match="RANDOM"):
        again = load_snac(random_init=True, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    w = "quantizer.quantizers.0.codebook.weight"
    assert torch.equal(again.state_dict()[w], codec.model.state_dict()[w])
    assert sum(p.numel() for p in again.parameters()) == 19_842_914          # 19.8 M, spec §5


def test_other_snac_is_refused():
    model = SNAC(**dict(SNAC_24KHZ_CONFIG, codebook_size=1024))
    with pytest.raises(ValueError, match="24 kHz model hubertsiuzdak/snac_24khz"):
        check_model(model, CFG)


def test_calibrated_codebooks_make_codes_follow_speech():
    """A random SNAC gives nearly constant codes; codebooks filled from speech latents do not."""
    from omni_lib.audio import load_audio
    from omni_lib.codec import calibrate_codebooks

    root = os.path.join(os.path.dirname(__file__), "..", "data", "samples")
    waves = [load_audio(os.path.join(root, f"{n}.flac"), 16000).numpy() for n in ("slt-0001", "rms-0002")]
    with pytest.warns(UserWarning, match="RANDOM"):
        plain, calibrated = Codec.load(random_init=True), Codec.load(random_init=True)
    calibrate_codebooks(calibrated, waves, sample_rate=16000, seed=3)
    before = plain.encode(waves[0], 16000)
    after = calibrated.encode(waves[0], 16000)
    F = after.shape[1]
    assert len(before[0].unique()) <= F // 4          # measured 3 of 35: nearly constant
    assert len(after[0].unique()) >= F // 2           # measured 32 of 35
    again = calibrate_codebooks(Codec.load(random_init=True), waves, sample_rate=16000, seed=3)
    assert torch.equal(again.encode(waves[0], 16000), after)   # seeded: reproducible
