"""The course codec's codes: shipped with the corpus, exactly what the shipped codec makes, refitted
bit-identically for a corpus without them, and SNAC refused offline in seconds."""

import json
import shutil
import time
import warnings

import pytest
import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.config import OmniConfig
from omni_lib.prepare import SHIPPED, corpus_tag, course_codec, read_manifest, shipped_codes


def small_corpus(tmp_path, n=2):
    rows = [r for r in read_manifest(DATA_DIR / "course") if r["split"] == "train"][: 40]
    picked = list({r["answer_audio"]: r for r in rows}.values())[:n]
    for r in picked:
        (tmp_path / r["answer_audio"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA_DIR / "course" / r["answer_audio"], tmp_path / r["answer_audio"])
    (tmp_path / "assistant.jsonl").write_text("".join(json.dumps(r) + "\n" for r in picked))
    return tmp_path, picked


def test_a_corpus_without_shipped_codes_fits_its_codec_once_and_reloads_it_exactly(tmp_path):
    root, rows = small_corpus(tmp_path / "corpus", n=3)
    cfg = OmniConfig.from_preset("tiny")
    first = course_codec(cfg, root=root, cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / f"mel-rvq-{corpus_tag(root)}" / "codec.pt").is_file()
    again = course_codec(cfg, root=root, cache_dir=tmp_path / "cache")
    refit = course_codec(cfg, root=root, cache_dir=tmp_path / "other-cache")     # fitted anew: the same bytes
    assert first.digest() == again.digest() == refit.digest()
    wave = load_audio(root / rows[0]["answer_audio"], target_rate=16_000)
    codes = first.encode(wave, 16_000)
    assert torch.equal(codes, refit.encode(wave, 16_000))
    assert len(codes[0].unique()) > 3                     # codes follow the speech


def test_shipped_codes_are_what_the_shipped_codec_makes():
    """data/course ships the course codec and every answer's codes: re-encoding answers with that
    codec gives the shipped codes (and a stale file, made for another manifest, is ignored)."""
    root = DATA_DIR / "course"
    shipped = shipped_codes(root)
    assert shipped is not None, f"data/course/{SHIPPED} is missing or stale: python -m omni_lib.prepare --ship"
    answers = sorted({r["answer_audio"] for r in read_manifest(root)})
    assert sorted(shipped) == answers
    codec = course_codec(OmniConfig.from_preset("tiny"))
    assert codec.kind == "mel-rvq"
    for a in answers[:: len(answers) // 3][:3]:
        again = codec.encode(load_audio(root / a, target_rate=24_000), 24_000)
        assert torch.equal(again, shipped[a].long()), a


def test_snac_offline_fails_in_seconds_naming_the_asset(monkeypatch):
    from omni_lib.hub import HubUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(HubUnavailable, match="hubertsiuzdak/snac_24khz"):
        course_codec(OmniConfig.from_preset("tiny", codec="snac"))
    assert time.perf_counter() - t0 < 30


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
