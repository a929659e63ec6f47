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


def test_speed_perturbed_copies_join_the_training_pools_only(tmp_path, monkeypatch):
    from omni_lib.prepare import prepare_course

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = read_manifest(DATA_DIR / "course")
    picked = [r for r in rows if r["split"] == "train"][:3] + [r for r in rows if r["split"] == "test-voices"][:1]
    root = tmp_path / "corpus"
    for r in picked:
        for key in ("question_audio", "answer_audio"):
            (root / r[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA_DIR / "course" / r[key], root / r[key])
    (root / "assistant.jsonl").write_text("".join(json.dumps(r) + "\n" for r in picked))
    cfg = OmniConfig.from_preset("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_course(cfg, root=root, cache_dir=tmp_path / "cache", progress=False, speeds=(0.9, 1.1))
        plain = prepare_course(cfg, root=root, cache_dir=tmp_path / "cache", progress=False, speeds=())
    for task in ("ASR", "A1T2", "A1A2"):
        assert len(data.pools[task]) == 3 * len(plain.pools[task]) == 9
        assert sorted(e.meta["speed"] for e in data.pools[task]) == [0.9] * 3 + [1] * 3 + [1.1] * 3
    assert len(data.pools["T1T2"]) == len(plain.pools["T1T2"])         # text in: nothing to perturb
    assert data.evals["asr/test-voices"][0].meta["speed"] == 1           # evaluation is never perturbed
    assert data.stats["speeds"] == [0.9, 1.1] and plain.stats["speeds"] == []
    by_speed = {e.meta["speed"]: e for e in data.pools["ASR"] if e.meta["id"] == picked[0]["id"]}
    n = {s: len(e.features) for s, e in by_speed.items()}
    assert n[1.1] < n[1] < n[0.9]                                       # faster speech, fewer Whisper frames
    assert abs(n[1] / n[1.1] - 1.1) < 0.1 and abs(n[1] / n[0.9] - 0.9) < 0.1
    assert torch.equal(by_speed[1].features, plain.pools["ASR"][0].features)
