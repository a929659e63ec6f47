"""LibriSpeech, LibriTTS and VCTK loaders on tiny fixtures in each corpus's exact layout: lazy
examples, and every broken file skipped with a warning and counted, never raised mid-iteration."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import warnings

import numpy as np
import pytest
import soundfile as sf

from omni_lib import DATA_DIR
from omni_lib.data import VCTK, CorpusWarning, LibriSpeech, LibriTTS, load_course
from omni_lib.data.corpus import MAX_WARNINGS


def tone(path, seconds=0.1, rate=16_000, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format=fmt)


def garbage(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio at all" * 10)


def collect(corpus):
    """All examples, and the CorpusWarnings raised while iterating."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = list(corpus)
    return examples, [w for w in caught if issubclass(w.category, CorpusWarning)]


# ----------------------------------------------------------------------------------- LibriSpeech
def librispeech_split(root):
    """dev-clean/<spk>/<chapter>/: two good chapters, then one of each kind of damage."""
    split = root / "LibriSpeech" / "dev-clean"
    for spk, chap, n in (("84", "121123", 2), ("1272", "128104", 3)):
        folder = split / spk / chap
        for u in range(n):
            tone(folder / f"{spk}-{chap}-{u:04d}.flac", seconds=0.1 + 0.05 * u)
        (folder / f"{spk}-{chap}.trans.txt").write_text(
            "".join(f"{spk}-{chap}-{u:04d} WORDS OF UTTERANCE {u}\n" for u in range(n)))
    bad = split / "1272" / "135031"                       # damaged chapter
    tone(bad / "1272-135031-0000.flac")                      # good
    garbage(bad / "1272-135031-0001.flac")                   # unreadable
    tone(bad / "1272-135031-0002.flac")                      # not in trans.txt
    tone(bad / "1272-135031-0004.flac")                      # empty transcript line
    (bad / "1272-135031.trans.txt").write_text("1272-135031-0000 FINE\n1272-135031-0001 BROKEN AUDIO\n"
                                               "1272-135031-0003 NO AUDIO FILE\n1272-135031-0004\n")
    for u in range(2):                                       # chapter without trans.txt
        tone(split / "2277" / "149896" / f"2277-149896-{u:04d}.flac")
    return split


def test_librispeech_reads_in_order_with_texts_and_rates(tmp_path):
    split = librispeech_split(tmp_path)
    corpus = LibriSpeech(tmp_path / "LibriSpeech", split="dev-clean")
    examples, _ = collect(corpus)
    assert [ex.id for ex in examples] == ["84-121123-0000", "84-121123-0001", "1272-128104-0000",
                                          "1272-128104-0001", "1272-128104-0002", "1272-135031-0000"]
    ex = examples[1]
    assert (ex.text, ex.speaker, ex.extra["chapter"]) == ("WORDS OF UTTERANCE 1", "84", "121123")
    assert (ex.sample_rate, ex.num_samples, ex.audio) == (16_000, 2400, None)
    assert ex.path == split / "84" / "121123" / "84-121123-0001.flac"
    assert ex.load(24_000).shape == (3600,)
    assert [e.id for e in LibriSpeech(split, limit=2)] == ["84-121123-0000", "84-121123-0001"]
    decoded = next(iter(LibriSpeech(split, decode=True)))
    assert decoded.audio.dtype == np.float32 and decoded.audio.shape == (1600,)


def test_librispeech_skips_warns_and_counts_every_kind_of_damage(tmp_path):
    corpus = LibriSpeech(librispeech_split(tmp_path))
    examples, caught = collect(corpus)
    assert len(examples) == 6
    # unreadable 0001, unlisted 0002, missing 0003, empty line 0004, two without trans.txt
    assert corpus.skipped == 6
    assert len(corpus.errors) == 5 and len(caught) == 5
    joined = "\n".join(corpus.errors)
    for what in ("1272-135031-0001.flac: unreadable audio", "1272-135031-0002.flac: not listed",
                 "1272-135031-0003.flac: listed in", "no transcript for 1272-135031-0004",
                 "no 2277-149896.trans.txt: 2 utterances"):
        assert what in joined
    collect(corpus)                                         # a second pass counts afresh
    assert corpus.skipped == 6


def test_librispeech_warnings_are_capped(tmp_path):
    folder = tmp_path / "s" / "1" / "2"
    for u in range(MAX_WARNINGS + 5):
        garbage(folder / f"1-2-{u:04d}.flac")
    (folder / "1-2.trans.txt").write_text("".join(f"1-2-{u:04d} X\n" for u in range(MAX_WARNINGS + 5)))
    corpus = LibriSpeech(tmp_path / "s", decode=True)
    examples, caught = collect(corpus)
    assert examples == [] and corpus.skipped == MAX_WARNINGS + 5 == len(corpus.errors)
    assert len(caught) == MAX_WARNINGS + 1 and "more problems" in str(caught[-1].message)


def test_librispeech_clear_errors_for_wrong_folders(tmp_path):
    librispeech_split(tmp_path)
    with pytest.raises(ValueError, match="holds splits .*dev-clean.*pass split="):
        LibriSpeech(tmp_path / "LibriSpeech")
    with pytest.raises(FileNotFoundError, match="openslr.org/12"):
        LibriSpeech(tmp_path / "LibriSpeech", split="test-other")
    (tmp_path / "empty").mkdir()
    with pytest.warns(CorpusWarning, match="found no utterances"):
        assert list(LibriSpeech(tmp_path / "empty")) == []


def test_librispeech_reads_the_course_corpus():
    train = LibriSpeech(DATA_DIR / "course", split="train")
    ids = {ex.id: ex.text for ex in train}
    course = load_course(split="train")
    assert train.skipped == 0
    assert ids == {ex.id: ex.question.upper() for ex in course}


# ----------------------------------------------------------------------------------- LibriTTS
def libritts_split(root):
    split = root / "LibriTTS" / "dev-clean"
    folder = split / "84" / "121123"
    for i, (norm, orig) in enumerate((("Mister Quilter is here.", "Mr. Quilter is here."),
                                      ("Twenty one days.", "21 days."))):
        uid = f"84_121123_00000{i}_000000"
        tone(folder / f"{uid}.wav", rate=24_000)
        (folder / f"{uid}.normalized.txt").write_text(norm)
        (folder / f"{uid}.original.txt").write_text(orig)
    (folder / "84_121123.trans.tsv").write_text("ignored\n")
    tone(folder / "84_121123_000005_000000.wav", rate=24_000)           # no text at all
    (folder / "84_121123_000006_000000.normalized.txt").write_text("No audio.")   # no wav
    garbage(folder / "84_121123_000007_000000.wav")                        # unreadable
    (folder / "84_121123_000007_000000.normalized.txt").write_text("Broken.")
    tone(folder / "84_121123_000008_000000.wav", rate=24_000)             # empty text
    (folder / "84_121123_000008_000000.normalized.txt").write_text("  \n")
    return split


def test_libritts_texts_and_damage(tmp_path):
    libritts_split(tmp_path)
    corpus = LibriTTS(tmp_path / "LibriTTS", split="dev-clean")
    examples, caught = collect(corpus)
    assert [(ex.id, ex.text) for ex in examples] == [("84_121123_000000_000000", "Mister Quilter is here."),
                                                     ("84_121123_000001_000000", "Twenty one days.")]
    assert examples[1].extra["original"] == "21 days." and examples[0].sample_rate == 24_000
    assert examples[0].speaker == "84" and examples[0].extra["chapter"] == "121123"
    assert corpus.skipped == 4 == len(caught)
    original = LibriTTS(tmp_path / "LibriTTS" / "dev-clean", text="original")
    examples, _ = collect(original)
    assert [ex.text for ex in examples] == ["Mr. Quilter is here.", "21 days."]
    # 000007 and 000008 now fail for lack of an original text, before their audio is looked at
    assert original.skipped == 4 and sum(".original.txt: missing" in e for e in original.errors) == 3


def test_libritts_arguments(tmp_path):
    with pytest.raises(ValueError, match="normalized"):
        LibriTTS(tmp_path, text="raw")
    with pytest.raises(FileNotFoundError, match="openslr.org/60"):
        LibriTTS(tmp_path / "nope")


# ----------------------------------------------------------------------------------- VCTK
def vctk_092(root):
    for spk, n in (("p225", 2), ("p226", 1)):
        for u in range(1, n + 1):
            for mic in ("mic1", "mic2"):
                tone(root / "wav48_silence_trimmed" / spk / f"{spk}_{u:03d}_{mic}.flac", rate=48_000)
            (root / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (root / "txt" / spk / f"{spk}_{u:03d}.txt").write_text(f"Sentence {u} of {spk}.\n")
    tone(root / "wav48_silence_trimmed" / "p226" / "p226_009_mic1.flac", rate=48_000)   # no txt
    for u in (1, 2):                                                                    # like p315
        tone(root / "wav48_silence_trimmed" / "p315" / f"p315_{u:03d}_mic1.flac", rate=48_000)
    garbage(root / "wav48_silence_trimmed" / "s5" / "s5_001_mic1.flac")
    (root / "txt" / "s5").mkdir(parents=True)
    (root / "txt" / "s5" / "s5_001.txt").write_text("Broken audio.")


def test_vctk_092_mics_texts_and_damage(tmp_path):
    vctk_092(tmp_path)
    corpus = VCTK(tmp_path)
    examples, caught = collect(corpus)
    assert [(ex.id, ex.speaker, ex.text) for ex in examples] == [
        ("p225_001", "p225", "Sentence 1 of p225."), ("p225_002", "p225", "Sentence 2 of p225."),
        ("p226_001", "p226", "Sentence 1 of p226.")]
    assert examples[0].extra == {"release": "0.92", "mic": "mic1"} and examples[0].sample_rate == 48_000
    assert examples[0].path.name == "p225_001_mic1.flac"
    assert corpus.skipped == 4 and len(caught) == 3          # p226_009, p315 (2 files, 1 warning), s5
    mic2 = list(VCTK(tmp_path, mic="mic2"))
    assert [ex.path.name for ex in mic2] == ["p225_001_mic2.flac", "p225_002_mic2.flac", "p226_001_mic2.flac"]


def test_vctk_080_layout(tmp_path):
    tone(tmp_path / "wav48" / "p225" / "p225_001.wav", rate=48_000)
    (tmp_path / "txt" / "p225").mkdir(parents=True)
    (tmp_path / "txt" / "p225" / "p225_001.txt").write_text("Please call Stella.")
    corpus = VCTK(tmp_path)
    (ex,) = list(corpus)
    assert (ex.id, ex.text, ex.extra["release"], ex.extra["mic"]) == ("p225_001", "Please call Stella.", "0.80", None)


def test_vctk_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither wav48_silence_trimmed"):
        VCTK(tmp_path)
    with pytest.raises(FileNotFoundError, match="datashare.ed.ac.uk"):
        VCTK(tmp_path / "missing")
    with pytest.raises(ValueError, match="mic"):
        VCTK(tmp_path, mic="mic3")


def test_voice_assistant_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from omni_lib.data import VoiceAssistant400K

    monkeypatch.setitem(sys.modules, "pyarrow", None)          # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match="pip install pyarrow"):
        VoiceAssistant400K(tmp_path)
