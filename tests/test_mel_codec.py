"""The course codec: SNAC's token layout, deterministic, intelligible to Whisper-base, streamed with
first audio one frame after frame 0, its bad inputs refused, and a model bound to its own codec."""

import pickle

import numpy as np
import pytest
import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.codec import StreamingDecoder, check_codec, codes_to_frames, frames_to_codes, speaking_codec
from omni_lib.config import OmniConfig
from omni_lib.mel_codec import MelCodec, rvq_decode, rvq_encode
from omni_lib.prepare import course_codec, read_manifest

CFG = OmniConfig.from_preset("tiny")
ROOT = DATA_DIR / "course"


@pytest.fixture(scope="module")
def codec():
    return course_codec(CFG)


def answers(split, n):
    """(text, 24 kHz wave) of the first n distinct assistant answers of a split."""
    seen = {}
    for r in read_manifest(ROOT):
        if r["split"] == split and r["answer_audio"] not in seen and len(seen) < n:
            seen[r["answer_audio"]] = r["answer"]
    return [(t, load_audio(ROOT / a, target_rate=24_000)) for a, t in seen.items()]


def test_codes_have_snacs_layout_and_round_trip_through_frames(codec):
    _, wave = answers("train", 1)[0]
    frames = codec.encode(wave, 24_000)
    F = -(-len(wave) // CFG.samples_per_frame)
    assert frames.shape == (7, F) and frames.dtype == torch.long
    assert 0 <= int(frames.min()) and int(frames.max()) < 1024 <= CFG.audio_codebook_size
    assert torch.equal(codes_to_frames(frames_to_codes(frames, cfg=CFG), cfg=CFG), frames)
    assert codec.decode(frames).shape == (F * CFG.samples_per_frame,)


def test_encode_and_decode_are_deterministic(codec):
    _, wave = answers("train", 1)[0]
    a, b = codec.encode(wave, 24_000), codec.encode(wave.clone(), 24_000)
    assert torch.equal(a, b)
    assert torch.equal(codec.decode(a), codec.decode(b))


def test_fit_is_deterministic_and_each_scale_reduces_the_error():
    waves = [w for _, w in answers("train", 4)]
    one, two = (MelCodec.fit(waves, 24_000, codebook_size=32, cfg=CFG) for _ in range(2))
    assert one.digest() == two.digest()
    from omni_lib.mel_codec import _frames_mel

    mel = _frames_mel(waves[0], 24_000, CFG)
    codes = rvq_encode(mel, one.books)
    errors = [np.abs(rvq_decode(codes, one.books, scales=s) - mel).mean() for s in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]


def test_rvq_on_a_worked_example():
    books = [np.array([[0.0], [10.0]]), np.array([[-1.0], [1.0]]), np.array([[0.0], [0.5]])]
    mel = np.array([[10.0], [10.0], [12.0], [12.0]])
    codes = rvq_encode(mel, books)
    assert [c.tolist() for c in codes] == [[1], [0, 1], [1, 1, 1, 1]]
    np.testing.assert_allclose(rvq_decode(codes, books)[:, 0], [9.5, 9.5, 11.5, 11.5])
    np.testing.assert_allclose(rvq_decode(codes, books, scales=1)[:, 0], [10, 10, 10, 10])


@pytest.fixture(scope="module")
def whisper_base():
    from omni_lib.by_ear import listener

    return listener("base")


def test_held_out_answers_through_the_codec_are_intelligible_to_whisper_base(codec, whisper_base):
    """The codec's promise: what it decodes, a speech recogniser understands (held-out answers:
    never seen by the codebook fit). Measured on these 8: 0 % WER for both the codec and the originals."""
    from omni_lib.by_ear import transcribe
    from omni_lib.by_ear import spoken_form as normalise
    from omni_lib.wer import word_errors

    items = answers("test-items", 8)
    heard = transcribe(whisper_base, [codec.decode(codec.encode(w, 24_000)) for _, w in items])
    wer = word_errors([normalise(t) for t, _ in items], [normalise(h) for h in heard])["wer"]
    assert wer <= 0.10, list(zip([t for t, _ in items], heard))


def test_streaming_first_audio_one_frame_after_frame_0_and_the_whole_answer_flushed(codec):
    _, wave = answers("test-items", 1)[0]
    frames = codec.encode(wave, 24_000)
    F = frames.shape[1]
    stream = StreamingDecoder(codec, chunk_frames=1)
    assert (stream.left_context, stream.right_context) == codec.context_frames() == (1, 1)
    assert stream.push(frames[:, :1]) == []                   # frame 0 waits for one frame of context
    first = stream.push(frames[:, 1:2])
    assert len(first) == 1 and len(first[0]) == CFG.samples_per_frame
    rest = [c for f in range(2, F) for c in stream.push(frames[:, f:f + 1])] + [stream.flush()]
    streamed = torch.cat(first + rest)
    oneshot = codec.decode(frames)
    assert streamed.shape == oneshot.shape                     # the tail is flushed, nothing dropped
    # not sample-equal (each chunk's phase is solved on its own), but the same spectrum
    from omni_lib.mel_codec import log_mel

    a, b = log_mel(streamed.numpy()), log_mel(oneshot.numpy())
    assert np.abs(a - b).mean() < 0.5 * np.abs(b - b.mean()).mean()


def test_streamed_answers_read_as_well_to_whisper(codec, whisper_base):
    """Seams measured by ear: 4-frame streamed answers are transcribed as well as one-shot decodes
    (measured on these 8: the same normalised transcripts but one, where only the streamed one was right)."""
    from omni_lib.by_ear import transcribe
    from omni_lib.by_ear import spoken_form as normalise
    from omni_lib.wer import word_errors

    items = answers("test-items", 8)
    one, streamed = [], []
    for _, w in items:
        frames = codec.encode(w, 24_000)
        s = StreamingDecoder(codec, chunk_frames=4)
        streamed.append(torch.cat(s.push(frames) + [s.flush()]))
        one.append(codec.decode(frames))
    refs = [normalise(t) for t, _ in items]
    wer = {k: word_errors(refs, [normalise(h) for h in transcribe(whisper_base, waves)])["wer"]
           for k, waves in (("one-shot", one), ("streamed", streamed))}
    assert wer["streamed"] <= wer["one-shot"] + 0.05, wer


def test_bad_codes_and_empty_frames(codec):
    with pytest.raises(ValueError, match="coarse code 2000 is out of range: this course codec has 1024 coarse entries"):
        codec.decode(torch.full((7, 2), 2000))
    with pytest.raises(ValueError, match="out of range|4096"):
        codec.decode(torch.full((7, 2), 5000))
    assert codec.decode(torch.zeros(7, 0, dtype=torch.long)).shape == (0,)
    with pytest.raises(ValueError, match=r"integer \[7, F\]"):
        codec.decode(torch.zeros(6, 3, dtype=torch.long))


def test_a_model_speaks_only_through_the_codec_it_was_trained_on(codec, tmp_path):
    from omni_lib.codec import Codec, load_snac

    with pytest.warns(UserWarning, match="RANDOM"):
        snac = Codec(load_snac(random_init=True), OmniConfig.from_preset("tiny", codec="snac"))
    with pytest.raises(ValueError, match="trained on mel-rvq codes but was given a snac codec"):
        check_codec(CFG, snac)
    with pytest.raises(ValueError, match="trained on snac codes but was given a mel-rvq codec"):
        check_codec(OmniConfig.from_preset("tiny", codec="snac"), codec)
    with pytest.raises(ValueError, match="trained on the course codec .* cannot speak through a random SNAC"):
        speaking_codec(CFG, tmp_path, random_snac=True)
    with pytest.raises(FileNotFoundError, match="codec.pt is missing"):
        speaking_codec(CFG, tmp_path)
    codec.save(tmp_path / "codec.pt")
    assert speaking_codec(CFG, tmp_path).digest() == codec.digest()


def test_a_codec_file_never_runs_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    bad = tmp_path / "codec.pt"
    bad.write_bytes(pickle.dumps({"coarse": Payload()}))
    with pytest.raises(ValueError, match="is not a course codec file"):
        MelCodec.load(bad, CFG)
    assert not (tmp_path / "ran").exists()
    with pytest.raises(FileNotFoundError, match="refit it with python -m omni_lib.prepare --ship"):
        MelCodec.load(tmp_path / "missing.pt", CFG)
