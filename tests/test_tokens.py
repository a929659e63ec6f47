"""Token space and task layouts against the spec's literal ids (spec §1, §2).

The literal ids below are written out from the spec on purpose: they are the contract with the
released checkpoint, so the test must not derive them from the code under test.
"""

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import TASKS, TokenSpace, build_batch_parallel, build_input, speech_span

MO = OmniConfig.from_preset("mini-omni")

# spec §1 for the released model
EOT, PAD_T, INPUT_T, ANSWER_T, ASR = 151936, 151937, 151938, 151939, 151940
EOA, PAD_A, INPUT_A, ANSWER_A = 4096, 4097, 4098, 4099


def A(value, layer):
    return value + 152000 + 4160 * layer


def test_config_sizes():
    assert MO.padded_vocab_size == 181120
    assert MO.audio_vocab_size == 4160
    assert MO.text_special_start == 151936
    assert MO.n_audio_layers * MO.audio_vocab_size == 29120


def test_presets_and_overrides():
    tiny = OmniConfig.from_preset("tiny")
    assert tiny.padded_vocab_size == tiny.text_vocab_size + 7 * 4160
    assert OmniConfig.from_preset("mini-omni", n_layer=2).n_layer == 2
    with pytest.raises(KeyError, match="unknown preset"):
        OmniConfig.from_preset("huge")
    with pytest.raises(TypeError, match="no field"):
        OmniConfig.from_preset("tiny", n_layers=2)
    with pytest.raises(ValueError, match="multiple of n_query_groups"):
        OmniConfig.from_preset("tiny", n_head=5)


def test_config_roundtrip(tmp_path):
    cfg = OmniConfig.from_preset("tiny", n_layer=1)
    cfg.save(tmp_path / "c.json")
    back = OmniConfig.load(tmp_path / "c.json")
    assert back == cfg and back.diff(cfg) == {}
    assert cfg.diff(OmniConfig.from_preset("tiny"))["n_layer"] == (1, 3)


def test_special_ids():
    ts = TokenSpace(MO)
    assert (ts.eot, ts.pad_t, ts.input_t, ts.answer_t, ts.asr) == (EOT, PAD_T, INPUT_T, ANSWER_T, ASR)
    assert (ts.eoa, ts.pad_a, ts.input_a, ts.answer_a) == (EOA, PAD_A, INPUT_A, ANSWER_A)
    assert [ts.audio_offset(i) for i in range(7)] == [152000 + 4160 * i for i in range(7)]
    assert ts.audio_id(PAD_A, 6) == 181057
    assert ts.text_logit_slice() == slice(0, 152000)
    assert ts.audio_logit_slice(3) == slice(164480, 168640)
    vals = torch.randint(0, 4160, (7, 5))
    assert torch.equal(ts.audio_value(ts.shift_audio(vals)), vals)


def expected(task, L=0, text=()):
    """Spec §2 table, written out literally."""
    n = len(text)
    if task in ("A1A2", "A1T2", "ASR"):
        last = ANSWER_A if task == "A1A2" else PAD_A
        audio = [INPUT_A] + [PAD_A] * L + [EOA, last]
        txt = [INPUT_T] + [PAD_T] * L + [EOT, ASR if task == "ASR" else ANSWER_T]
    else:
        audio = [PAD_A] * (n + 2) + [ANSWER_A if task == "T1A2" else PAD_A]
        txt = [INPUT_T, *text, EOT, ANSWER_T]
    return [[A(v, i) for v in audio] for i in range(7)] + [txt]


@pytest.mark.parametrize("task", TASKS)
def test_build_input_exact(task):
    kw = dict(n_audio=5) if task in ("A1A2", "A1T2", "ASR") else dict(text_ids=[9707, 11, 1879, 0])
    rows = build_input(task, MO, **kw)
    exp = expected(task, L=kw.get("n_audio", 0), text=kw.get("text_ids", ()))
    assert rows.dtype == torch.long and rows.shape == (8, len(exp[0]))
    assert rows.tolist() == exp
    TokenSpace(MO).check_rows(rows)


def test_build_input_tiny_preset_shifts():
    tiny = OmniConfig.from_preset("tiny")
    rows = build_input("T1A2", tiny, text_ids=[5, 6])
    assert rows[7].tolist() == [tiny.text_vocab_size - 64 + 2, 5, 6, tiny.text_vocab_size - 64, tiny.text_vocab_size - 61]
    assert rows[3, -1].item() == tiny.text_vocab_size + 3 * 4160 + ANSWER_A


def test_batch_parallel():
    b = build_batch_parallel(MO, n_audio=3)
    assert b.shape == (2, 8, 6)
    assert b[0].tolist() == expected("A1A2", 3) and b[1].tolist() == expected("A1T2", 3)


def test_speech_span():
    assert speech_span("A1A2", 4) == slice(1, 5)
    assert speech_span("T1T2", 4) == slice(0, 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(task="A1A2"), "n_audio"),
        (dict(task="T1A2"), "text_ids is empty"),
        (dict(task="T1T2", text_ids=[EOT]), "outside"),
        (dict(task="T1T2", text_ids=[-1]), "outside"),
        (dict(task="ASR", n_audio=3, text_ids=[1]), "not text_ids"),
        (dict(task="T1T2", text_ids=[1], n_audio=2), "not speech"),
        (dict(task="S2S"), "unknown task"),
    ],
)
def test_build_input_bad(kwargs, match):
    task = kwargs.pop("task")
    with pytest.raises(ValueError, match=match):
        build_input(task, MO, **kwargs)


def test_check_rows_names_bad_id():
    rows = build_input("A1T2", MO, n_audio=2)
    rows[2, 1] = A(5, 3)  # a layer-3 id in the layer-2 row
    with pytest.raises(ValueError, match="audio-row 2 id 164485 at index"):
        TokenSpace(MO).check_rows(rows)
    with pytest.raises(ValueError, match=r"expected \(8, T\)"):
        TokenSpace(MO).check_rows(rows[:7])
    with pytest.raises(ValueError, match="audio value 4160"):
        TokenSpace(MO).shift_audio(torch.full((7, 1), 4160))


def test_no_literal_vocab_numbers_outside_config():
    """Spec: every id derives from the config; 152000 / 4160 may be written as code only in config.py.

    Only number tokens count (docstrings may quote the released ids for readers).
    """
    import io
    import pathlib
    import tokenize

    forbidden = {152000, 4160, 151936, 181120, 29120}
    root = pathlib.Path(__file__).resolve().parents[1] / "omni_lib"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "config.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.NUMBER and tok.string.replace("_", "").isdigit():
                if int(tok.string.replace("_", "")) in forbidden:
                    offenders.append(f"{path.name}:{tok.start[0]}: {tok.line.strip()}")
    assert not offenders, offenders
