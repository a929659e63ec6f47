"""omni_lib.data.synth: the plan keeps its promises, a tiny run has the right layout and bytes,
and the shipped data/course is exactly what the generator plans (no engine needed for that)."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from omni_lib import DATA_DIR
from omni_lib.data import domain, synth
from omni_lib.data.synth import (ASSISTANT, HELD_OUT_VOICES, TRAIN_VOICES, EngineMissing,
                                 build_plan, generate, manifest_rows)

SHIPPED = DATA_DIR / "course"
ENGINES = ("flite", "espeak-ng", "festival")
needs_engines = pytest.mark.skipif(any(shutil.which(e) is None for e in ENGINES),
                                   reason="speech engines not installed (apt-get install flite espeak-ng festival ...)")


# ----------------------------------------------------------------------------------- the plan
@pytest.mark.parametrize("small", [False, True])
def test_plan_splits_voices_and_items(small):
    plan = build_plan(small=small)
    per_item, share, per_held = synth.SIZES["small" if small else "full"]
    train_ids = {it.id for it in domain.items() if not it.held_out}
    by = {s: [c for c in plan.clips if c.split == s] for s in synth.QUESTION_SPLITS + synth.ANSWER_SPLITS}

    assert {c.voice for c in by["train"]} == set(TRAIN_VOICES)
    assert {c.item.id for c in by["train"]} == train_ids
    assert set(Counter(c.item.id for c in by["train"]).values()) == {per_item}
    assert {c.voice for c in by["test-voices"]} == set(HELD_OUT_VOICES)
    assert {c.item.id for c in by["test-voices"]} <= train_ids
    assert len(by["test-voices"]) == round(share * len(train_ids))
    assert {c.voice for c in by["test-items"]} <= set(TRAIN_VOICES)
    assert {c.item.id for c in by["test-items"]} == {it.id for it in domain.items() if it.held_out}
    assert set(Counter(c.item.id for c in by["test-items"]).values()) == {per_held}
    # held-out voices and items never reach training; the assistant never asks
    assert not any(c.voice in HELD_OUT_VOICES for c in by["train"] + by["test-items"])
    assert all(c.voice == ASSISTANT for c in plan.answers)
    assert ASSISTANT not in {c.voice for c in plan.questions}
    assert sorted(c.item.id for c in plan.answers) == sorted(it.id for it in domain.items())
    # each voice is used equally often (to within one) in train
    counts = Counter(c.voice.speaker for c in by["train"]).values()
    assert max(counts) - min(counts) <= 1
    assert len({c.path for c in plan.clips}) == len(plan.clips)


def test_plan_is_deterministic_and_seeded():
    assert manifest_rows(build_plan(seed=0)) == manifest_rows(build_plan(seed=0))
    assert manifest_rows(build_plan(seed=0)) != manifest_rows(build_plan(seed=1))


def test_limit_keeps_a_subset_of_the_full_plan():
    full, tiny = build_plan(), build_plan(limit=2)
    assert set(tiny.clips) <= set(full.clips)
    assert len({c.item.id for c in tiny.questions if c.split == "train"}) == 2
    assert len({c.item.id for c in tiny.questions if c.split == "test-items"}) == 2


def test_transcripts_are_librispeech_style():
    for c in build_plan(small=True).clips:
        assert c.text == c.text.upper() and c.text.replace(" ", "").isalpha()
        speaker, chapter, utt = c.id.split("-")
        assert c.path == f"{c.split}/{speaker}/{chapter}/{c.id}.flac" and len(utt) == 4


# ----------------------------------------------------------------------------------- generation
def _generate_tiny(out: Path) -> dict:
    return generate(out, limit=1, jobs=2, quiet=True)


@needs_engines
def test_tiny_generation_layout_and_identical_bytes(tmp_path):
    summary = _generate_tiny(tmp_path / "a")
    root, plan = tmp_path / "a", build_plan(limit=1)
    assert summary["clips"] == len(plan.clips)
    # every planned clip: a 16 kHz mono FLAC, listed with its transcript in its chapter's trans.txt
    for c in plan.clips:
        info = sf.info(str(root / c.path))
        assert (info.samplerate, info.channels, info.format) == (16_000, 1, "FLAC")
        assert 0.3 < info.duration < 8
        trans = (root / c.path).parent / f"{c.voice.speaker}-{c.item.chapter}.trans.txt"
        assert f"{c.id} {c.text}" in trans.read_text().splitlines()
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.flac")) == sorted(c.path for c in plan.clips)
    rows = [json.loads(line) for line in (root / "assistant.jsonl").read_text().splitlines()]
    assert [{k: r[k] for k in r if not k.endswith("_seconds")} for r in rows] == manifest_rows(plan)
    for name in ("README.md", "SPEAKERS.txt", "items.tsv"):
        assert (root / name).is_file()
    # same seed, same bytes (README and manifest included)
    _generate_tiny(tmp_path / "b")
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (root / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a corpus"):
        generate(tmp_path, limit=1, quiet=True)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_missing_engine_names_the_debian_packages(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(EngineMissing, match="apt-get install .*flite"):
        generate(tmp_path / "out", limit=1, quiet=True)
    assert synth.main(["--out", str(tmp_path / "out"), "--limit", "1"]) == 1
    assert "festvox-us-slt-hts" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- the shipped copy
def test_shipped_corpus_is_the_small_plan():
    plan = build_plan(small=True)
    rows = [json.loads(line) for line in (SHIPPED / "assistant.jsonl").read_text().splitlines()]
    assert [{k: r[k] for k in r if not k.endswith("_seconds")} for r in rows] == manifest_rows(plan)
    items = {it.id: it for it in domain.items()}
    for r in rows:
        assert 0.3 < r["question_seconds"] < 8 and 0.3 < r["answer_seconds"] < 8
        assert (r["question"], r["answer"]) == (items[r["item"]].question, items[r["item"]].answer)


def test_shipped_corpus_files_exist_and_nothing_else():
    plan = build_plan(small=True)
    on_disk = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*.flac")}
    assert on_disk == {c.path for c in plan.clips}
    for c in plan.clips:               # headers only: fast
        info = sf.info(str(SHIPPED / c.path))
        assert (info.samplerate, info.channels) == (16_000, 1), c.path
    texts = {}
    for trans in SHIPPED.rglob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            uid, text = line.split(" ", 1)
            texts[(trans.parent.parent.parent.name, uid)] = text
    assert texts == {(c.split, c.id): c.text for c in plan.clips}
    items = (SHIPPED / "items.tsv").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in items] == [it.id for it in domain.items()]


def test_shipped_corpus_fits_in_30_mb():
    # as `du` counts: whole 4 KiB blocks per file
    blocks = sum(-(-p.stat().st_size // 4096) for p in SHIPPED.rglob("*") if p.is_file())
    assert blocks * 4096 <= 30 * 2**20
