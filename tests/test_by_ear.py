"""The by-ear scorer on scripted models: perfect codes score the codec's ceiling, wrong codes score
nothing, and a model whose speech contradicts its text shows in the consistency WER."""

import pytest
import torch

from omni_lib import DATA_DIR, by_ear
from omni_lib.batches import Example
from omni_lib.config import OmniConfig
from omni_lib.prepare import course_codec, course_tokenizer

CFG = OmniConfig.from_preset("tiny")


@pytest.fixture(scope="module")
def setup():
    codec, tok = course_codec(CFG), course_tokenizer(CFG)
    items = by_ear.ceiling_answers(DATA_DIR / "course", "test-items", 6)
    examples = [Example("A1A2", answer=tok.encode(text), meta={"id": str(i)}) for i, (text, _) in enumerate(items)]
    return codec, tok, items, examples, by_ear.listener("base")


def scripted(answers):
    """A stand-in for :func:`by_ear.speak` that 'says' the given (text, 24 kHz wave) pairs."""
    return lambda model, examples, codec, tokenizer, task="A1A2": answers


def test_perfect_codes_score_the_codecs_ceiling(setup, monkeypatch):
    codec, tok, items, examples, asr = setup
    perfect = []
    for text, w16 in items:
        frames = codec.encode(w16, 16_000)                          # the reference answer's own codes
        perfect.append((text, by_ear.voice(codec, frames)))
    monkeypatch.setattr(by_ear, "speak", scripted(perfect))
    spoken = by_ear.heard_answers(None, examples, codec, tok, asr)
    ceiling = by_ear.codec_ceiling(codec, items, asr)
    assert by_ear.accuracy(spoken) >= 1 - 2 * ceiling["codec"] - 1e-9 and by_ear.accuracy(spoken) >= 0.8
    assert by_ear.consistency_wer(spoken) <= max(0.1, 2 * ceiling["codec"])


def test_wrong_codes_score_nothing_and_contradicting_speech_shows(setup, monkeypatch):
    codec, tok, items, examples, asr = setup
    g = torch.Generator().manual_seed(0)
    noise = [(text, by_ear.voice(codec, torch.randint(0, 1024, (7, 20), generator=g))) for text, _ in items]
    monkeypatch.setattr(by_ear, "speak", scripted(noise))
    spoken = by_ear.heard_answers(None, examples, codec, tok, asr)
    assert by_ear.accuracy(spoken) == 0
    assert by_ear.consistency_wer(spoken) > 0.5
    # right speech, but the text says something else: accuracy by ear stays, consistency falls
    shuffled = [(items[(i + 1) % len(items)][0], by_ear.voice(codec, codec.encode(w, 16_000)))
                for i, (_, w) in enumerate(items)]
    monkeypatch.setattr(by_ear, "speak", scripted(shuffled))
    spoken = by_ear.heard_answers(None, examples, codec, tok, asr)
    assert by_ear.accuracy(spoken) >= 0.8 and by_ear.consistency_wer(spoken) > 0.2


def test_an_empty_answer_is_heard_as_nothing_and_is_wrong(setup):
    codec, _, _, _, asr = setup
    assert by_ear.transcribe(asr, [torch.zeros(0)]) == [""]
    assert by_ear.voice(codec, torch.zeros(7, 0, dtype=torch.long)).shape == (0,)
    assert not by_ear.Spoken("0", "one plus one is two", "", "", torch.zeros(0)).right
