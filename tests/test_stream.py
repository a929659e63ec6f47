"""Streaming: text pieces and audio chunks arrive as their steps complete, the concatenated audio
equals a one-shot decode of the frames, the reference mode reproduces the release's chunking, and
the chat command runs end to end on our format and on the release format (random stand-ins)."""

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import soundfile as sf
import torch

from omni_lib import DATA_DIR
from omni_lib.codec import Codec
from omni_lib.config import OmniConfig
from omni_lib.decode import AudioChunk, Generation, TextPiece, generate, stream
from omni_lib.model import OmniModel
from omni_lib.text import TextTokenizer


@pytest.fixture(scope="module")
def parts():
    cfg = OmniConfig.from_preset("tiny", n_layer=1, codec="snac")     # SNAC's exact streaming (course codec: below)
    torch.manual_seed(0)
    model = OmniModel(cfg).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = Codec.load(random_init=True, cfg=cfg)
    return cfg, model, codec, TextTokenizer.for_config(cfg)


def run(model, codec, tok, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # a random model puts specials inside frames
        items = list(stream(model, "T1A2", codec=codec, tokenizer=tok, text_ids=tok.encode("two plus two"), **kw))
    return items[:-1], items[-1]


def test_stream_equals_one_shot_and_generate(parts):
    cfg, model, codec, tok = parts
    items, gen = run(model, codec, tok, max_new_steps=40, chunk_frames=4)
    assert isinstance(gen, Generation)
    assert torch.equal(gen.tokens, generate(model, "T1A2", text_ids=tok.encode("two plus two"), max_new_steps=40).tokens)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    audio = torch.cat([c.audio for c in chunks])
    frames = gen.frames.masked_fill(gen.frames >= cfg.audio_codebook_size, 0)
    oneshot = codec.decode(frames)
    assert len(audio) == len(oneshot) == frames.shape[1] * cfg.samples_per_frame
    assert (audio - oneshot).abs().max() < 1e-5
    # chunk k (4 frames + 3 of right context) can leave once frame 4k + 6 is complete, at step 4k + 13
    assert [c.step for c in chunks[:3]] == [13, 17, 21]
    text = "".join(i.text for i in items if isinstance(i, TextPiece))
    assert text == tok.decode([t for t in gen.text_ids if t < tok.n_text])
    times = [i.t for i in items]
    assert times == sorted(times)


def test_reference_mode_chunks_at_steps_10_14_18_and_drops_the_tail(parts):
    cfg, model, codec, tok = parts
    items, gen = run(model, codec, tok, max_new_steps=40, reference_mode=True)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    assert [c.step for c in chunks] == [10, 14, 18, 22, 26, 30, 34, 38][: len(chunks)]
    assert all(len(c.audio) == 4 * cfg.samples_per_frame for c in chunks)
    assert len(chunks) == gen.frames.shape[1] // 4                # the tail after the last full chunk is not sent


def test_first_audio_with_one_frame_chunks(parts):
    _, model, codec, tok = parts
    items, _ = run(model, codec, tok, max_new_steps=20, chunk_frames=1)
    first = next(i for i in items if isinstance(i, AudioChunk))
    assert first.step == 10                                       # frame 0 complete at step 7, + 3 context frames


def test_a_one_frame_first_chunk_then_larger_ones_equals_one_shot(parts):
    cfg, model, codec, tok = parts
    items, gen = run(model, codec, tok, max_new_steps=30, chunk_frames=4, first_chunk_frames=1)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    assert [c.step for c in chunks[:3]] == [10, 14, 18]          # frame 0 + 3 context; then 4 frames each
    assert [len(c.audio) // cfg.samples_per_frame for c in chunks[:3]] == [1, 4, 4]
    one_shot = codec.decode(gen.frames)
    assert (torch.cat([c.audio for c in chunks]) - one_shot).abs().max() < 1e-5


def test_the_latency_pieces_add_up_to_the_first_audio(parts):
    cfg, model, codec, tok = parts
    items, gen = run(model, codec, tok, max_new_steps=30, first_chunk_frames=1)
    lat = gen.latency
    p = lat.pieces_ms()
    assert list(p) == ["audio_load_ms", "whisper_ms", "prefill_ms", "first_frame_ms", "right_context_ms",
                       "codec_ms", "first_audio_ms"]
    assert all(v >= 0 for v in p.values())
    assert p["first_audio_ms"] == pytest.approx(sum(v for k, v in p.items() if k != "first_audio_ms"), abs=0.5)
    first = next(i for i in items if isinstance(i, AudioChunk))
    assert p["first_audio_ms"] == pytest.approx(first.t * 1000, abs=0.5)   # the same moment the chunk left
    assert lat.notes["first_audio_step"] == 10 and lat.steps_after == gen.steps - 1 - 10
    assert lat.audio_after_s == pytest.approx((gen.frames.shape[1] - 1) * cfg.samples_per_frame / cfg.sample_rate)
    assert lat.real_time_factor > 0 and "first audio" in lat.format()


def test_abandoned_stream_then_a_new_one(parts):
    _, model, codec, tok = parts
    _, full = run(model, codec, tok, max_new_steps=25)
    it = stream(model, "T1A2", codec=codec, tokenizer=tok, text_ids=tok.encode("hello"), max_new_steps=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, _ in zip(range(5), it):
            pass
    it.close()
    _, again = run(model, codec, tok, max_new_steps=25)
    assert torch.equal(full.tokens, again.tokens)


def test_chat_command_on_our_format(parts, tmp_path, capsys):
    from omni_lib.chat import main

    cfg, model, _, tok = parts
    model.save_pretrained(tmp_path / "tiny")
    tok.save(tmp_path / "tiny" / "text_tokenizer.json")
    out = tmp_path / "answer.wav"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = main(["--ckpt", str(tmp_path / "tiny"), "--audio", str(DATA_DIR / "samples" / "rms-0002.flac"),
                    "--out", str(out), "--random-snac", "--max-steps", "20"])
    assert rep["task"] == "A1A2 batch-parallel" and rep["steps"] <= 20 and rep["latency"]["whisper_ms"] > 0
    audio, rate = sf.read(out)
    assert rate == 24_000 and len(audio) == (rep["steps"] - 7) * cfg.samples_per_frame
    err = capsys.readouterr().err
    assert "steps/s" in err and "first audio" in err and "fp32: exact" in err
    lat = rep["latency"]
    assert lat["first_audio_ms"] == pytest.approx(sum(v for k, v in lat.items() if k.endswith("_ms")
                                                      and k != "first_audio_ms"), abs=0.5)
    assert lat["audio_load_ms"] > 0 and lat["first_audio_step"] == 10     # one-frame first chunk: 7 + 3 context
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = main(["--ckpt", str(tmp_path / "tiny"), "--audio", str(DATA_DIR / "samples" / "rms-0002.flac"),
                     "--out", str(tmp_path / "fast.wav"), "--random-snac", "--max-steps", "20", "--precision", "fast"])
    assert fast["precision"].startswith("fast: int8") and sf.read(tmp_path / "fast.wav")[1] == 24_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = main(["--ckpt", str(tmp_path / "tiny"), "--text", "what is two plus two", "--random-snac",
                    "--max-steps", "12", "--text-only"])
    assert rep["task"] == "T1T2" and rep["out"] is None


def test_chat_command_on_the_release_format(tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from release_fixture import write_release
    from test_model import TINY

    from omni_lib.chat import main
    from omni_lib.whisper_weights import random_whisper

    # the released text vocabulary (the Qwen2 tokenizer needs it), tiny blocks, Whisper-small width
    cfg = OmniConfig.from_preset("mini-omni", **{**TINY, "whisper_dim": 768, "text_vocab_size": 152_000})
    write_release(tmp_path, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = random_whisper("small")
        torch.save({"dims": vars(w.dims), "model_state_dict": w.state_dict()}, tmp_path / "small.pt")
        rep = main(["--ckpt", str(tmp_path), "--audio", str(DATA_DIR / "samples" / "rms-0002.flac"),
                    "--random-snac", "--max-steps", "12", "--no-batch-parallel"])
    assert rep["task"] == "A1A2" and rep["steps"] <= 12


@pytest.fixture(scope="module")
def course_codec_model():
    """A 1-layer tiny model on the course codec (the tiny preset's default) and that codec."""
    from omni_lib.prepare import course_codec

    cfg = OmniConfig.from_preset("tiny", n_layer=1)
    torch.manual_seed(0)
    return cfg, OmniModel(cfg).eval(), course_codec(cfg), TextTokenizer.for_config(cfg)


def test_course_codec_streams_first_audio_at_step_8(course_codec_model):
    _, model, codec, tok = course_codec_model
    items, gen = run(model, codec, tok, max_new_steps=16, chunk_frames=1)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    assert chunks[0].step == 8                                   # frame 0 complete at step 7, + 1 context frame
    assert sum(len(c.audio) for c in chunks) == gen.frames.shape[1] * 2048     # the tail is flushed


def test_chat_speaks_through_the_models_own_codec_and_refuses_another(course_codec_model, tmp_path):
    from omni_lib.chat import main

    cfg, model, codec, tok = course_codec_model
    d = tmp_path / "model"
    model.save_pretrained(d)
    tok.save(d / "text_tokenizer.json")
    with pytest.raises(SystemExit, match="codec.pt is missing"):
        main(["--ckpt", str(d), "--text", "what is two plus two", "--max-steps", "12"])
    codec.save(d / "codec.pt")
    with pytest.raises(SystemExit, match="trained on the course codec .* cannot speak through a random SNAC"):
        main(["--ckpt", str(d), "--text", "what is two plus two", "--random-snac", "--max-steps", "12"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                          # an untrained model puts specials in frames
        rep = main(["--ckpt", str(d), "--text", "what is two plus two", "--max-steps", "12", "--out",
                    str(tmp_path / "a.wav")])
    audio, rate = sf.read(tmp_path / "a.wav")
    assert rate == 24_000 and len(audio) == (rep["steps"] - 7) * cfg.samples_per_frame


def test_chat_rejects_a_non_model_directory(tmp_path):
    from omni_lib.chat import main

    with pytest.raises(SystemExit, match="not a model directory"):
        main(["--ckpt", str(tmp_path), "--text", "hi", "--random-snac"])
