"""Turn the course corpus into training examples: Whisper features and answer codes, each made once.

Example (a few minutes the first time, seconds once cached)::

    data = prepare_course(OmniConfig.from_preset("tiny"))
    {k: len(v) for k, v in data.pools.items()}
    # {'ASR': 1362, 'A1T2': 1362, 'A1A2': 1362, 'T1T2': 227, 'T1A2': 227, 'TTS': 227}

Every spoken question gives an ASR, an A1T2 and an A1A2 example (its voice, its features), and
so do its speed-perturbed copies (``SPEEDS``: 454 recordings x 3 speeds); every
training item gives T1T2, T1A2 and TTS examples (text in, the assistant's answer out). The
evaluation sets follow the corpus splits: held-out voices on training items, and held-out items
(never trained on, in any voice). Features are cached by audio content and codes by answer file,
under ``cache_dir``, so a second run (or the next stage) starts at once.

The answers' codes come from the preset's codec (``OmniConfig.codec``): for ``tiny`` the course
codec (:mod:`omni_lib.mel_codec`, SNAC's token layout, decodable offline), whose codes ship with
the corpus; ``codec="snac"`` uses the real SNAC (``--codec snac``, needs the hub once).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio, speed_perturb
from omni_lib.batches import Example
from omni_lib.cli import add_debug, command, read_torch
from omni_lib.config import OmniConfig

CACHE = Path(__file__).resolve().parents[1] / "build" / "cache"

# Speed-perturbed copies of every training question (omni_lib.audio.speed_perturb): each question
# is spoken by only 2 of the corpus's 10 training voices, and a tiny model that hears the same two
# recordings again and again learns them, not the words. Ko et al. (2015) use 0.9 and 1.1 for ASR.
SPEEDS = (0.9, 1.1)


@dataclass
class CourseData:
    pools: dict[str, list[Example]]                 # training examples by task
    evals: dict[str, list[Example]]                 # evaluation sets by name
    tokenizer: object
    codec: str                                      # what made the answers' codes: OmniConfig.codec
    stats: dict = field(default_factory=dict)


def course_tokenizer(cfg: OmniConfig):
    """The text tokenizer of a preset; ``tiny`` keeps the Qwen2 tokens of the training texts."""
    from omni_lib.data import domain
    from omni_lib.text import TextTokenizer

    corpus = [t for q, a in domain.pairs("train") for t in (q, a)]
    return TextTokenizer.for_config(cfg, corpus=corpus if cfg.text_tokenizer == "qwen2-compact" else None)


def course_codec(cfg: OmniConfig, *, root: Path | str = DATA_DIR / "course", cache_dir: Path | str = CACHE,
                 progress: bool = False):
    """The codec that makes (and decodes) the course corpus's answer codes for ``cfg``.

    ``cfg.codec == "mel-rvq"`` (the tiny preset): the course codec (:mod:`omni_lib.mel_codec`)
    fitted on the corpus's training answers: the copy shipped in ``root`` (``mel-rvq.pt``), or, for
    a corpus without one, fitted once (about 20 s, deterministic) and kept in ``cache_dir``.
    ``"snac"``: the real SNAC from the hub; offline this fails in seconds, naming the asset.

        >>> course_codec(OmniConfig.from_preset("tiny")).kind
        'mel-rvq'
    """
    from omni_lib.mel_codec import MelCodec

    root = Path(root)
    if cfg.codec == "snac":
        from omni_lib.codec import Codec

        return Codec.load(cfg.snac_model, cfg=cfg)
    shipped = shipped_codes(root)
    if shipped:
        return MelCodec.load(root / SHIPPED, cfg)
    saved = Path(cache_dir) / f"mel-rvq-{corpus_tag(root)}" / "codec.pt"
    if saved.is_file():
        return MelCodec.load(saved, cfg)
    speech = [load_audio(root / a, target_rate=cfg.sample_rate) for a in train_answers(root)]
    codec = MelCodec.fit(speech, cfg.sample_rate, cfg=cfg, progress=progress)
    codec.save(saved)
    return codec


def corpus_tag(root: Path) -> str:
    """Which corpus a shipped or cached codec was fitted on: a hash of its manifest."""
    return hashlib.sha1((Path(root) / "assistant.jsonl").read_bytes()).hexdigest()[:8]


SHIPPED = "mel-rvq.pt"   # in the corpus root: the course codec's codebooks and every answer's codes


def shipped_codes(root: Path) -> dict | None:
    """The course codec's codes shipped with the corpus (``{path: [7, F] int16}``), or None when
    absent or made for another corpus (the tag hashes the manifest)."""
    f = Path(root) / SHIPPED
    if not f.is_file():
        return None
    shipped = read_torch(f, fix="Restore it from the repository (git checkout -- data/course/mel-rvq.pt) "
                                "or make it again: python -m omni_lib.prepare --ship")
    return shipped["codes"] if shipped.get("tag") == corpus_tag(Path(root)) else None


def ship_course_codes(cfg: OmniConfig, root: Path | str = DATA_DIR / "course", *, progress: bool = True) -> Path:
    """Fit the course codec on ``root``'s training answers, encode every answer, and save both in
    ``root/mel-rvq.pt`` (about 1.5 MB), so that no machine needs to fit or encode anything. Run it
    after regenerating the corpus: ``python -m omni_lib.prepare --ship`` (the same bytes every time)."""
    from tqdm.auto import tqdm

    from omni_lib.mel_codec import MelCodec

    root = Path(root)
    speech = [load_audio(root / a, target_rate=cfg.sample_rate) for a in train_answers(root)]
    codec = MelCodec.fit(speech, cfg.sample_rate, cfg=cfg, progress=progress)
    answers = sorted({r["answer_audio"] for r in read_manifest(root)})
    codes = {a: codec.encode(load_audio(root / a, target_rate=cfg.sample_rate), cfg.sample_rate).to(torch.int16)
             for a in tqdm(answers, desc="course codec codes", disable=not progress)}
    return codec.save(root / SHIPPED, extra={"tag": corpus_tag(root), "codes": codes})


def train_answers(root: Path) -> list[str]:
    """The spoken answers of the training split (the offline codec's calibration audio)."""
    return sorted({r["answer_audio"] for r in read_manifest(root) if r["split"] == "train"})


def read_manifest(root: Path) -> list[dict]:
    path = Path(root) / "assistant.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the course corpus lives in data/course "
                                f"(regenerate it with python -m omni_lib.data.synth --small)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prepare_course(cfg: OmniConfig, tokenizer=None, *, root: Path | str = DATA_DIR / "course",
                   cache_dir: Path | str = CACHE, progress: bool = True, speeds=SPEEDS) -> CourseData:
    """Examples for every task and split of the course corpus (see the module docstring).

    ``speeds``: each training question also joins the ASR, A1T2 and A1A2 pools played at these
    speeds (``()``: none); evaluation sets are never perturbed."""
    from tqdm.auto import tqdm

    from omni_lib.encoder import WhisperEncoder

    root, cache_dir = Path(root), Path(cache_dir)
    tokenizer = tokenizer or course_tokenizer(cfg)
    rows = read_manifest(root)

    # Whisper features of every spoken question, cached by content (and model, window)
    tag = f"{Path(str(cfg.whisper_model)).stem}-{cfg.whisper_window_s:g}s"
    ears = WhisperEncoder.from_config(cfg, cache_dir=cache_dir / f"whisper-{tag}")
    feats = {}                                            # (path, speed) -> [L, D]

    def hear(paths, speed=1):
        what = "Whisper features" + ("" if speed == 1 else f", speed {speed:g}")
        for i in tqdm(range(0, len(paths), 16), desc=what, disable=not progress):
            chunk = paths[i:i + 16]
            waves = [load_audio(root / p, target_rate=16_000) for p in chunk]
            f, n = ears.encode([w if speed == 1 else speed_perturb(w, speed, 16_000) for w in waves], 16_000)
            for p, fb, nb in zip(chunk, f, n):
                feats[p, speed] = fb[: int(nb)].clone()

    hear([r["question_audio"] for r in rows])
    for speed in speeds:
        hear([r["question_audio"] for r in rows if r["split"] == "train"], speed)

    # the answers' codes, once per answer file: shipped with the corpus (course codec), or made by
    # the codec and cached (a warm cache needs no codec at all)
    answer_paths = sorted({r["answer_audio"] for r in rows})
    shipped = shipped_codes(root) if cfg.codec == "mel-rvq" else None
    if shipped and all(p in shipped for p in answer_paths):
        frames = {p: shipped[p].long() for p in answer_paths}
    else:
        kind = "snac-real" if cfg.codec == "snac" else f"mel-rvq-{corpus_tag(root)}"
        files = {p: cache_dir / kind / "codes" / (p.replace("/", "__") + ".pt") for p in answer_paths}
        codec = None if all(f.is_file() for f in files.values()) else course_codec(cfg, root=root, cache_dir=cache_dir)
        frames = {}
        for p, cached in tqdm(files.items(), desc=f"{cfg.codec} codes", disable=not progress or codec is None):
            if not cached.is_file():
                codes = codec.encode(load_audio(root / p, target_rate=cfg.sample_rate), cfg.sample_rate)
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.save(codes, cached.with_suffix(".tmp"))
                cached.with_suffix(".tmp").replace(cached)              # atomic: no half-written cache file
            frames[p] = read_torch(cached, fix="Delete it: it is made again on the next run")

    def ex(task, r, speed=1, **kw):
        return Example(task, meta={"id": r["id"], "item": r["item"], "voice": r.get("voice"), "split": r["split"],
                                   "speed": speed}, **kw)

    enc = tokenizer.encode
    pools = {t: [] for t in ("ASR", "A1T2", "A1A2", "T1T2", "T1A2", "TTS")}
    evals = {"asr/test-voices": [], "asr/test-items": [], "a1t2/test-voices": [], "a1t2/test-items": [],
             "t1t2/train": [], "t1t2/test-items": [], "codes/train": []}
    seen_items = set()
    for r in rows:
        q, a, fq, fr = enc(r["question"]), enc(r["answer"]), feats[r["question_audio"], 1], frames[r["answer_audio"]]
        if r["split"] == "train":
            for speed in (1, *speeds):
                fs = feats[r["question_audio"], speed]
                pools["ASR"].append(ex("ASR", r, answer=q, features=fs, speed=speed))
                pools["A1T2"].append(ex("A1T2", r, answer=a, features=fs, speed=speed))
                pools["A1A2"].append(ex("A1A2", r, answer=a, frames=fr, features=fs, speed=speed))
            if r["item"] not in seen_items:
                seen_items.add(r["item"])
                pools["T1T2"].append(ex("T1T2", r, question=q, answer=a))
                pools["T1A2"].append(ex("T1A2", r, question=q, answer=a, frames=fr))
                pools["TTS"].append(ex("TTS", r, answer=a, frames=fr))
                evals["t1t2/train"].append(ex("T1T2", r, question=q, answer=a))
                evals["codes/train"].append(ex("T1A2", r, question=q, answer=a, frames=fr))
        else:
            split = r["split"]                      # test-voices | test-items
            evals[f"asr/{split}"].append(ex("ASR", r, answer=q, features=fq))
            evals[f"a1t2/{split}"].append(ex("A1T2", r, answer=a, features=fq))
            if split == "test-items" and all(e.meta["item"] != r["item"] for e in evals["t1t2/test-items"]):
                evals["t1t2/test-items"].append(ex("T1T2", r, question=q, answer=a))
    stats = {"pools": {k: len(v) for k, v in pools.items()}, "evals": {k: len(v) for k, v in evals.items()},
             "codec": cfg.codec, "speeds": list(speeds)}
    return CourseData(pools, evals, tokenizer, cfg.codec, stats)


@command("python -m omni_lib.prepare")
def main(argv: list[str] | None = None) -> int:
    """Prepare the course corpus's examples (Whisper features and answer codes, cached), or ``--ship``
    the course codec with every answer's codes into the corpus folder.

        python -m omni_lib.prepare                    # features + course-codec codes (offline)
        python -m omni_lib.prepare --codec snac       # features + real SNAC codes (needs the hub once)
        python -m omni_lib.prepare --ship             # after regenerating data/course: refit, re-encode
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m omni_lib.prepare", description=main.__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(main.__doc__.split("\n")[2:]))
    ap.add_argument("--root", default=str(DATA_DIR / "course"))
    ap.add_argument("--ship", action="store_true", help="fit the course codec and save it with every answer's codes")
    ap.add_argument("--codec", default=None, choices=["mel-rvq", "snac"],
                    help="the answers' codec (default: the preset's; tiny: mel-rvq, the course codec)")
    ap.add_argument("--preset", default="tiny")
    add_debug(ap)
    args = ap.parse_args(argv)
    from omni_lib.config import PRESETS

    if args.preset not in PRESETS:
        ap.error(f"--preset {args.preset!r}: choose one of {sorted(PRESETS)}")
    if not Path(args.root, "assistant.jsonl").is_file():
        ap.error(f"--root {args.root}: no assistant.jsonl there (the course corpus is data/course)")
    cfg = OmniConfig.from_preset(args.preset, **({"codec": args.codec} if args.codec else {}))
    if args.ship:
        if cfg.codec != "mel-rvq":
            ap.error("--ship writes the course codec's codes (--codec mel-rvq); SNAC codes are cached, not shipped")
        print(ship_course_codes(cfg, args.root))
        return 0
    data = prepare_course(cfg, root=args.root)      # the hub out of reach: one line (@command)
    print(json.dumps(data.stats, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
