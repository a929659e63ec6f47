"""The offline codec: calibrated once, saved, and reloaded exactly, so a trained model's codes decode
with the very codebooks that made its training codes."""

import json
import shutil
import warnings

import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.config import OmniConfig
from omni_lib.prepare import calibrated_tag, course_codec, read_manifest


def small_corpus(tmp_path, n=2):
    rows = [r for r in read_manifest(DATA_DIR / "course") if r["split"] == "train"][: 40]
    picked = list({r["answer_audio"]: r for r in rows}.values())[:n]
    for r in picked:
        (tmp_path / r["answer_audio"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA_DIR / "course" / r["answer_audio"], tmp_path / r["answer_audio"])
    (tmp_path / "assistant.jsonl").write_text("".join(json.dumps(r) + "\n" for r in picked))
    return tmp_path, picked


def test_offline_codec_is_saved_and_reloaded_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root, rows = small_corpus(tmp_path / "corpus")
    cfg = OmniConfig.from_preset("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, real = course_codec(cfg, root=root, cache_dir=tmp_path / "cache")
        assert not real
        assert (tmp_path / "cache" / f"snac-{calibrated_tag(root)}" / "codebooks.pt").is_file()
        again, _ = course_codec(cfg, root=root, cache_dir=tmp_path / "cache")
    wave = load_audio(root / rows[0]["answer_audio"], target_rate=16_000)
    codes = first.encode(wave, 16_000)
    assert torch.equal(codes, again.encode(wave, 16_000))
    assert len(codes[0].unique()) > 3                     # calibrated: codes follow the speech
    assert torch.equal(first.decode(codes), again.decode(codes))


def test_shipped_offline_codes_are_what_the_shipped_codec_makes(monkeypatch):
    """data/course ships the offline codec's codebooks and every answer's codes (no SNAC encoding on
    machines without the real SNAC): re-encoding answers with that codec gives the shipped codes."""
    from omni_lib.prepare import shipped_offline_codes

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = DATA_DIR / "course"
    shipped = shipped_offline_codes(root)
    assert shipped is not None, "data/course/snac-offline.pt is missing or stale: python -m omni_lib.prepare --ship"
    answers = sorted({r["answer_audio"] for r in read_manifest(root)})
    assert sorted(shipped["codes"]) == answers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec, real = course_codec(OmniConfig.from_preset("tiny"))
    assert not real
    for a in answers[:: len(answers) // 3][:3]:
        again = codec.encode(load_audio(root / a, target_rate=16_000), 16_000)
        assert torch.equal(again, shipped["codes"][a].long()), a
