"""Speak the course domain aloud: a small, deterministic speech corpus made offline.

Mini-Omni trains on thousands of hours of real speech (LibriTTS, VCTK, VoiceAssistant-400K). The
course machines can download none of it (spec ``offline.md``), and a ``tiny`` model could not use
it anyway. So the course makes its own corpus: the ~260 question/answer pairs of
:mod:`omni_lib.data.domain`, read by Debian's offline speech engines (flite, festival,
espeak-ng). Questions are asked by 12 voices; every answer is spoken by one "assistant" voice::

    python -m omni_lib.data.synth --small          # -> data/course/       (the copy the course ships)
    python -m omni_lib.data.synth                  # -> data/course-full/  (3 voices per question)
    python -m omni_lib.data.synth --out DIR --seed 1 --limit 3

The plan (which texts, which voices, which split) is pure Python and needs no engine::

    >>> plan = build_plan(small=True)
    >>> len(plan.questions), len(plan.answers)
    (543, 259)
    >>> clip = plan.questions[0]
    >>> clip.id, clip.split, clip.voice.name, clip.text
    ('102-1-0002', 'train', 'flite/kal', 'WHAT IS ONE PLUS THREE')
    >>> clip.path
    'train/102/1/102-1-0002.flac'

Splits. Voices 101-110 are training voices, 201-202 are held out (never in training), 301 is the
assistant. About 12 % of the items are held out (never in training, in any voice: ``domain``).

==================== =========================================== ===================================
split                who asks                                    what
==================== =========================================== ===================================
train                training voices, 3 per item (2 if small)    the training items
test-voices          held-out voices, 1 per item                 training items (a quarter if small)
test-items           training voices, 3 per item (1 if small)    the held-out items
answers-train        the assistant                               answers to the training items
answers-test-items   the assistant                               answers to the held-out items
==================== =========================================== ===================================

Layout, as LibriSpeech (OpenSLR SLR12) so that one loader reads both: ``<split>/<speaker>/<chapter>/
<speaker>-<chapter>-<utt>.flac`` and ``<speaker>-<chapter>.trans.txt`` (upper case, no
punctuation), where chapter = topic number and utt = the item's number in its topic, so one
question has the same ``<chapter>-<utt>`` in every voice. Beside them: ``assistant.jsonl`` (one
line per spoken question: texts, both audio paths, voice, split, durations), ``items.tsv`` (every
text pair and whether it is held out), ``SPEAKERS.txt`` and a ``README.md`` with the counts.
Audio is 16 kHz mono 16-bit FLAC (Whisper's rate), cut to the speech plus 0.1 s, peak at -1 dBFS:
the engines differ in loudness and silence, and a model should not tell voices apart by those.

Deterministic: one seed fixes the held-out items and every voice assignment (hash-based, see
:func:`omni_lib.data.domain.rank`); the engines, soxr and the FLAC encoder are deterministic on one
machine, so a rerun gives the same bytes (other engine versions may give other audio).

The shipped ``data/course`` was made with ``python -m omni_lib.data.synth --small`` (seed 0):
802 clips (543 questions, 259 answers), 22 min of audio, 26 MB (``du -sh``: 28 MB), made in 40 s
on 2 idle cores. The full corpus: 1,263 clips, 35 min, 41 MB, 53 s.
Engines: ``apt-get install flite espeak-ng festival festvox-us-slt-hts festvox-kallpc16k
festvox-kdlpc16k`` (``scripts/setup.sh`` does this when it may).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import DATA_DIR
from ..cli import add_debug, at_least, command, writable_dir
from . import domain
from .domain import Item, rank

RATE = 16_000               # Hz: Whisper's rate; SNAC resamples to 24 kHz itself
PEAK_DB = -1.0              # every clip peaks here, whatever the engine's loudness
TRIM_DB = -40.0             # 10 ms frames this far below the loudest frame are silence
MARGIN_S = 0.1              # silence kept before and after the speech
QUESTION_SPLITS = ("train", "test-voices", "test-items")
ANSWER_SPLITS = ("answers-train", "answers-test-items")
# (training voices per training item, share of training items in test-voices, voices per held-out item)
SIZES = {"full": (3, 1.0, 3), "small": (2, 0.25, 1)}


@dataclass(frozen=True)
class Voice:
    """One speaker: an engine, its voice name, and the numeric id used in the file names."""
    speaker: int
    engine: str             # "flite", "festival" or "espeak-ng"
    voice: str              # the engine's own name for it
    sex: str
    role: str               # "train", "held-out" or "assistant"
    about: str
    options: tuple = ()     # extra engine arguments (espeak-ng speaking rate)

    @property
    def name(self) -> str:
        return f"{self.engine}/{self.voice}"


VOICES = (
    Voice(101, "flite", "kal16", "M", "train", "US male, diphone"),
    Voice(102, "flite", "kal", "M", "train", "US male, diphone, 8 kHz telephone band"),
    Voice(103, "flite", "awb", "M", "train", "Scottish male, statistical parametric"),
    Voice(104, "festival", "kal_diphone", "M", "train", "US male, diphone, festival's rendering of kal"),
    Voice(105, "festival", "ked_diphone", "M", "train", "US male, diphone"),
    Voice(106, "espeak-ng", "en-us", "M", "train", "American, formant"),
    Voice(107, "espeak-ng", "en-us+f2", "F", "train", "American, female variant, formant"),
    Voice(108, "espeak-ng", "en-gb-scotland", "M", "train", "Scottish, slower: 150 words a minute", ("-s", "150")),
    Voice(109, "espeak-ng", "en-029", "M", "train", "Caribbean, slower: 150 words a minute", ("-s", "150")),
    Voice(110, "espeak-ng", "en-gb-x-rp+f2", "F", "train", "Received Pronunciation, female variant"),
    # Held out: engine families that training has seen, but a new speaker and a new accent.
    Voice(201, "flite", "rms", "M", "held-out", "US male, statistical parametric"),
    Voice(202, "espeak-ng", "en-gb-x-gbclan", "M", "held-out", "Lancashire, formant"),
    # The assistant: the most natural voice available. flite's slt (the same CMU ARCTIC speaker)
    # is not used, so that no question is asked in the assistant's voice.
    Voice(301, "festival", "cmu_us_slt_arctic_hts", "F", "assistant", "US female, HMM-based: HTS"),
)
TRAIN_VOICES = tuple(v for v in VOICES if v.role == "train")
HELD_OUT_VOICES = tuple(v for v in VOICES if v.role == "held-out")
ASSISTANT = next(v for v in VOICES if v.role == "assistant")
APT = {"flite": "flite", "espeak-ng": "espeak-ng",
       "festival": "festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k"}


@dataclass(frozen=True)
class Clip:
    """One recording to make: ``voice`` reads ``item``'s question (or answer) into ``split``."""
    split: str
    item: Item
    voice: Voice

    @property
    def is_answer(self) -> bool:
        return self.split in ANSWER_SPLITS

    @property
    def id(self) -> str:
        return f"{self.voice.speaker}-{self.item.chapter}-{self.item.index:04d}"

    @property
    def path(self) -> str:
        """Relative to the corpus root, LibriSpeech style."""
        return f"{self.split}/{self.voice.speaker}/{self.item.chapter}/{self.id}.flac"

    @property
    def text(self) -> str:
        """The transcript, as LibriSpeech writes it: upper case, no punctuation."""
        return (self.item.answer if self.is_answer else self.item.question).upper()

    @property
    def spoken(self) -> str:
        """What the engine reads (capitals and punctuation shape the intonation)."""
        return self.item.answer_spoken if self.is_answer else self.item.question_spoken


@dataclass
class Plan:
    """Everything to synthesise: questions (by split, item, voice) and one answer per item."""
    seed: int
    size: str
    questions: list[Clip]
    answers: list[Clip]

    @property
    def clips(self) -> list[Clip]:
        return self.questions + self.answers


def build_plan(seed: int = 0, small: bool = False, limit: int | None = None) -> Plan:
    """Which voice says what, in which split; deterministic in ``seed``; no audio is made.

    ``limit`` keeps only the first ``limit`` training and first ``limit`` held-out items (for
    tests and quick looks); the clips kept are exactly those of the full plan for those items.
    """
    per_item, share, per_held = SIZES["small" if small else "full"]
    items = domain.items(seed)
    train = [it for it in items if not it.held_out]
    held = [it for it in items if it.held_out]
    n_tv = round(share * len(train))
    tv_items = sorted(sorted(train, key=lambda it: rank(seed, "test-voices", it.id))[:n_tv],
                      key=items.index)
    voices = {"train": _spread(train, TRAIN_VOICES, per_item, seed, "train"),
              "test-voices": _spread(tv_items, HELD_OUT_VOICES, 1, seed, "test-voices"),
              "test-items": _spread(held, TRAIN_VOICES, per_held, seed, "test-items")}
    if limit is not None:
        keep = {it.id for it in train[:limit] + held[:limit]}
        voices = {s: {i: v for i, v in got.items() if i in keep} for s, got in voices.items()}
    by_id = {it.id: it for it in items}
    questions = [Clip(split, by_id[i], v) for split in QUESTION_SPLITS
                 for i, vs in voices[split].items() for v in vs]
    asked = {c.item.id for c in questions}
    answers = [Clip("answers-test-items" if it.held_out else "answers-train", it, ASSISTANT)
               for it in items if it.id in asked]
    return Plan(seed, "small" if small else "full", questions, answers)


def _spread(items: list[Item], voices: tuple[Voice, ...], k: int, seed: int, salt: str) -> dict:
    """``{item id: k voices}``, each voice used equally often (to within one), otherwise random.

    Items are visited in a seeded order; each takes the k voices used least so far, ties broken
    by a seeded hash. Returns the items in their domain order, voices in speaker order.
    """
    used = {v.speaker: 0 for v in voices}
    chosen = {}
    for it in sorted(items, key=lambda it: rank(seed, salt, it.id)):
        pick = sorted(voices, key=lambda v: (used[v.speaker], rank(seed, salt, it.id, v.speaker)))[:k]
        for v in pick:
            used[v.speaker] += 1
        chosen[it.id] = sorted(pick, key=lambda v: v.speaker)
    return {it.id: chosen[it.id] for it in items}


# ----------------------------------------------------------------------------------- generation
class EngineMissing(RuntimeError):
    """A speech engine (or one of its voices) is not installed."""


def generate(out: str | Path | None = None, *, seed: int = 0, small: bool = False,
             limit: int | None = None, jobs: int | None = None, quiet: bool = False) -> dict:
    """Synthesise the plan into ``out`` (replacing an earlier corpus there); returns a summary.

    The corpus is built in ``<out>.partial`` and moved into place at the end, so an interrupted
    run never leaves a half-written corpus behind. ``out`` defaults to ``data/course`` with
    ``small`` and ``data/course-full`` without.
    """
    out = Path(out) if out is not None else DATA_DIR / ("course" if small else "course-full")
    plan = build_plan(seed, small, limit)
    _check_replaceable(out)
    check_engines({c.voice for c in plan.clips})
    t0 = time.perf_counter()
    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix="omni-synth-") as tmp:
            samples = _synthesise(plan, stage, Path(tmp), jobs or os.cpu_count() or 1, quiet)
        _write_texts(plan, stage, samples)
    except BaseException:               # an engine failed, or Ctrl-C: leave no half corpus behind
        shutil.rmtree(stage, ignore_errors=True)
        raise
    seconds = time.perf_counter() - t0
    if out.exists():
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        stage.rename(out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.rename(out)
    summary = _summary(plan, samples) | {"seconds_to_generate": round(seconds, 1), "out": str(out)}
    if not quiet:
        print(f"synth: {summary['clips']} clips, {summary['audio_minutes']:.1f} min of audio, "
              f"{_megabytes(out):.1f} MB in {out}, made in {seconds:.0f} s")
    return summary


def check_engines(voices) -> None:
    """Raise :class:`EngineMissing`, naming the Debian packages, if an engine or voice is missing.

    festival and espeak-ng fail loudly on an unknown voice (caught in :func:`_speak`); flite
    quietly uses its default voice instead, so its voice list is checked here.
    """
    engines = {v.engine for v in voices}
    missing = sorted(e for e in engines if shutil.which(e) is None)
    if missing:
        pkgs = " ".join(APT[e] for e in missing)
        raise EngineMissing(f"speech engine(s) {', '.join(missing)} not installed; on Debian/Ubuntu: "
                            f"sudo apt-get install {pkgs}. The course ships a generated copy in "
                            f"data/course, so this is only needed to regenerate it.")
    if "flite" in engines:
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
        lacking = sorted(v.voice for v in voices if v.engine == "flite" and v.voice not in listed)
        if lacking:
            raise EngineMissing(f"this flite has no voice(s) {', '.join(lacking)} (it lists "
                                f"{' '.join(listed[2:])}); Debian's flite package has them all.")


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that holds anything but an earlier corpus (never delete user files)."""
    if out.exists() and any(out.iterdir()) and not (out / "assistant.jsonl").is_file():
        raise FileExistsError(f"{out} exists and is not a corpus made by omni_lib.data.synth (no "
                              f"assistant.jsonl); choose another --out or empty it first.")


def _synthesise(plan: Plan, stage: Path, tmp: Path, jobs: int, quiet: bool) -> dict[str, int]:
    """Run the engines, then convert every clip; returns ``{clip path: number of samples}``."""
    # festival starts slowly (~0.3 s), so it reads many texts per process; flite and espeak-ng
    # start in milliseconds and get one process per clip. Threads suffice: the work is in
    # subprocesses and in numpy/soxr, which release the GIL.
    tasks = []
    for v in VOICES:
        mine = [c for c in plan.clips if c.voice == v]
        size = 24 if v.engine == "festival" else 1
        tasks += [mine[i:i + size] for i in range(0, len(mine), size)]
    samples: dict[str, int] = {}

    def run(batch: list[Clip]) -> None:
        wavs = [tmp / f"{c.split}-{c.id}.wav" for c in batch]
        _speak(batch[0].voice, [c.spoken for c in batch], wavs)
        for c, wav in zip(batch, wavs):
            samples[c.path] = _to_flac(wav, stage / c.path)

    with ThreadPoolExecutor(jobs) as pool:
        for n, _ in enumerate(pool.map(run, tasks), 1):
            if not quiet and n % 100 == 0:
                print(f"synth: {n}/{len(tasks)} batches", file=sys.stderr)
    return samples


def _speak(voice: Voice, texts: list[str], wavs: list[Path]) -> None:
    """Have ``voice`` read each text into the matching WAV file (at the engine's own rate)."""
    if voice.engine == "festival":
        def quoted(s):
            return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'
        script = wavs[0].with_suffix(".scm")
        script.write_text(f"(voice_{voice.voice})\n" + "".join(
            f"(utt.save.wave (utt.synth (Utterance Text {quoted(t)})) {quoted(w)} 'riff)\n"
            for t, w in zip(texts, wavs)))
        cmd = ["festival", "-b", str(script)]
    elif voice.engine == "flite":
        (text,), (wav,) = texts, wavs
        cmd = ["flite", "-voice", voice.voice, "-t", text, "-o", str(wav)]
    else:
        (text,), (wav,) = texts, wavs
        cmd = ["espeak-ng", "-v", voice.voice, *voice.options, "-w", str(wav), text]
    done = subprocess.run(cmd, capture_output=True, text=True)
    missing = [w for w in wavs if not w.is_file() or w.stat().st_size <= 44]
    if done.returncode != 0 or missing:
        raise EngineMissing(f"{voice.name} made no audio for {texts[0]!r} (exit {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-300:]}\nIs the voice installed? "
                            f"sudo apt-get install {APT[voice.engine]}")


def _to_flac(wav: Path, flac: Path) -> int:
    """Engine WAV -> 16 kHz mono, silence trimmed, peak normalised, 16-bit FLAC; returns samples."""
    import soundfile as sf

    from ..audio import to_model_audio

    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    x = to_model_audio(data, rate, target_rate=RATE, name=str(wav)).numpy().astype(np.float64)
    x = _trim(x)
    x *= 10 ** (PEAK_DB / 20) / max(float(np.abs(x).max()), 1e-9)
    flac.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(flac), np.round(x * 32767).astype(np.int16), RATE, format="FLAC", subtype="PCM_16",
             compression_level=1.0)       # the strongest: 3 % smaller, still instant
    return len(x)


def _trim(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence: keep from the first to the last loud 10 ms frame, + margin."""
    hop, margin = RATE // 100, int(MARGIN_S * RATE)
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt((x[:n * hop].reshape(n, hop) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (TRIM_DB / 20))
    return x[max(0, loud[0] * hop - margin):min(len(x), (loud[-1] + 1) * hop + margin)]


# ----------------------------------------------------------------------------------- text files
def _write_texts(plan: Plan, root: Path, samples: dict[str, int]) -> None:
    """trans.txt per chapter, assistant.jsonl, items.tsv, SPEAKERS.txt and README.md."""
    chapters: dict[Path, list[str]] = {}
    for c in plan.clips:
        chapters.setdefault(root / Path(c.path).parent, []).append(f"{c.id} {c.text}")
    for folder, lines in chapters.items():
        speaker, chapter = folder.parent.name, folder.name
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(sorted(lines)) + "\n")

    with open(root / "assistant.jsonl", "w") as f:
        for row in manifest_rows(plan, samples):
            f.write(json.dumps(row) + "\n")
    with open(root / "items.tsv", "w") as f:
        f.write("id\ttopic\tsplit\tquestion\tanswer\n")
        for it in domain.items(plan.seed):
            f.write(f"{it.id}\t{it.topic}\t{'test' if it.held_out else 'train'}\t{it.question}\t{it.answer}\n")
    (root / "SPEAKERS.txt").write_text(_speakers_txt(plan, samples))
    (root / "README.md").write_text(_readme(plan, samples))


def manifest_rows(plan: Plan, samples: dict[str, int] | None = None) -> list[dict]:
    """One dict per spoken question, as written to ``assistant.jsonl`` (durations need ``samples``)."""
    rows, answers = [], {a.item.id: a for a in plan.answers}
    for q in plan.questions:
        a = answers[q.item.id]
        row = {"id": q.id, "item": q.item.id, "topic": q.item.topic, "split": q.split,
               "question": q.item.question, "answer": q.item.answer,
               "question_audio": q.path, "answer_audio": a.path,
               "voice": q.voice.name, "speaker": q.voice.speaker}
        if samples is not None:
            row["question_seconds"] = round(samples[q.path] / RATE, 3)
            row["answer_seconds"] = round(samples[a.path] / RATE, 3)
        rows.append(row)
    return rows


def _summary(plan: Plan, samples: dict[str, int]) -> dict:
    splits = {}
    for s in QUESTION_SPLITS + ANSWER_SPLITS:
        mine = [c for c in plan.clips if c.split == s]
        splits[s] = {"clips": len(mine), "items": len({c.item.id for c in mine}),
                     "voices": len({c.voice.speaker for c in mine}),
                     "minutes": round(sum(samples[c.path] for c in mine) / RATE / 60, 2)}
    return {"seed": plan.seed, "size": plan.size, "clips": len(plan.clips),
            "items": len({c.item.id for c in plan.clips}), "words": len(domain.vocabulary()),
            "audio_minutes": round(sum(samples.values()) / RATE / 60, 2), "splits": splits}


def _speakers_txt(plan: Plan, samples: dict[str, int]) -> str:
    lines = ["; The speakers of this corpus: synthetic voices, in the format of LibriSpeech's SPEAKERS.TXT.",
             "; SUBSET: the splits the voice speaks in. MINUTES: its audio. NAME: engine/voice (description).",
             ";ID  |SEX| SUBSET                            |MINUTES| NAME"]
    for v in VOICES:
        mine = [c for c in plan.clips if c.voice == v]
        if mine:
            subsets = ", ".join(s for s in QUESTION_SPLITS + ANSWER_SPLITS if any(c.split == s for c in mine))
            minutes = sum(samples[c.path] for c in mine) / RATE / 60
            lines.append(f"{v.speaker:<5d}| {v.sex} | {subsets:<34s}| {minutes:5.2f} | {v.name} ({v.about})")
    return "\n".join(lines) + "\n"


def _readme(plan: Plan, samples: dict[str, int]) -> str:
    s = _summary(plan, samples)
    flag = " --small" if plan.size == "small" else ""
    rows = "\n".join(f"| {name} | {d['clips']} | {d['items']} | {d['voices']} | {d['minutes']:.1f} |"
                     for name, d in s["splits"].items())
    voices = "\n".join(f"| {v.speaker} | {v.role} | {v.name} | {v.sex} | {v.about} |" for v in VOICES)
    per_item, share, per_held = SIZES[plan.size]
    return f"""# The course's spoken corpus ({plan.size}, seed {plan.seed})

Made offline by `python -m omni_lib.data.synth{flag} --seed {plan.seed}` from the closed domain in
`omni_lib/data/domain.py`: {s['items']} question/answer pairs over {s['words']} words (sums,
differences, next/previous number, days of the week, colours of things, counting), read by speech
engines (flite, festival, espeak-ng). {s['clips']} clips, {s['audio_minutes']:.1f} minutes, 16 kHz mono
16-bit FLAC. Rerunning the command with the same seed gives the same texts, voices and (with the
same engine versions) the same audio bytes.

`mel-rvq.pt` holds the course codec (`omni_lib.mel_codec`: SNAC's token layout, decodable offline,
fitted on the training answers) and every answer's codes in it, so no machine fits or encodes
anything; after regenerating the corpus, remake it with `python -m omni_lib.prepare --ship`.

| split | clips | items | voices | minutes |
|---|---|---|---|---|
{rows}

- `train`: training items, each asked by {per_item} of the {len(TRAIN_VOICES)} training voices.
- `test-voices`: {'all' if share == 1 else f'{share:.0%} of the'} training items, each asked by one of the
  {len(HELD_OUT_VOICES)} held-out voices, which appear nowhere else (generalisation to new voices).
- `test-items`: the held-out items (about {domain.HELD_OUT_FRACTION:.0%} of each topic), each asked by
  {_n(per_held, 'training voice')}; they appear in no training split, as audio or text (generalisation
  to new questions).
- `answers-train`, `answers-test-items`: every answer, once, in the assistant's voice ({ASSISTANT.name}).

## Layout

LibriSpeech's (OpenSLR SLR12): `<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`, one
`<speaker>-<chapter>.trans.txt` per folder (upper case, no punctuation). Chapter = topic number,
utt = the item's number within its topic, so one question has the same `<chapter>-<utt>` in
every voice. `omni_lib.data.LibriSpeech(root / "train")` reads a split as ASR data.

- `assistant.jsonl`: one line per spoken question: `id`, `item`, `topic`, `split`, `question`,
  `answer`, `question_audio`, `answer_audio` (paths relative to this folder), `voice`, `speaker`,
  `question_seconds`, `answer_seconds`. `omni_lib.data.load_course(split=...)` reads it.
- `items.tsv`: every text pair with its split (`train` / `test`), for text-only training.
- `SPEAKERS.txt`: the voices, as in LibriSpeech.

## Voices

| id | role | engine/voice | sex | about |
|---|---|---|---|---|
{voices}

Audio: each engine's output resampled to 16 kHz (soxr), leading and trailing silence cut to
{MARGIN_S:g} s, peak normalised to {PEAK_DB:g} dBFS (so loudness does not reveal the engine).
"""


def _n(k: int, noun: str) -> str:
    return f"{k} {noun}" + ("" if k == 1 else "s")


def _megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


@command("python -m omni_lib.data.synth")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m omni_lib.data.synth", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (default data/course with --small, "
                                             "else data/course-full)")
    ap.add_argument("--small", action="store_true", help="fewer voices per question: the shipped "
                                                         "copy (< 30 MB)")
    ap.add_argument("--seed", type=int, default=0, help="held-out items and voice assignment (default 0)")
    ap.add_argument("--limit", type=at_least(1), help="only the first N training and N held-out items")
    ap.add_argument("--jobs", type=at_least(1), help="parallel engine processes (default: CPU count)")
    add_debug(ap)
    args = ap.parse_args(argv)
    if args.out is not None:
        writable_dir(args.out, "--out")
    try:
        generate(args.out, seed=args.seed, small=args.small, limit=args.limit, jobs=args.jobs)
    except (EngineMissing, FileExistsError) as e:
        print(f"synth: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
