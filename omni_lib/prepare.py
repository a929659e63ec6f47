"""Turn the course corpus into training examples: Whisper features and SNAC codes, each made once.

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

Offline there is no real SNAC: the codes then come from the exact architecture with random
weights whose codebooks are filled from the assistant's own speech
(:func:`omni_lib.codec.calibrate_codebooks`): informative codes, unintelligible audio.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio, speed_perturb
from omni_lib.batches import Example
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
    real_snac: bool
    stats: dict = field(default_factory=dict)


def course_tokenizer(cfg: OmniConfig):
    """The text tokenizer of a preset; ``tiny`` keeps the Qwen2 tokens of the training texts."""
    from omni_lib.data import domain
    from omni_lib.text import TextTokenizer

    corpus = [t for q, a in domain.pairs("train") for t in (q, a)]
    return TextTokenizer.for_config(cfg, corpus=corpus if cfg.text_tokenizer == "qwen2-compact" else None)


def course_codec(cfg: OmniConfig, *, root: Path | str = DATA_DIR / "course", cache_dir: Path | str = CACHE,
                 seed: int = 0):
    """(codec, real): the real SNAC when it can be had, else random weights with calibrated codebooks.

    Offline, the codebooks are calibrated on the training answers of the corpus at ``root`` once
    and saved in ``cache_dir``, so the codec that decodes a trained model's codes is exactly the
    one that made its training codes (codes of a random SNAC flip with float noise: never recompute).
    """
    from omni_lib.codec import Codec, calibrate_codebooks
    from omni_lib.hub import HubUnavailable

    try:
        return Codec.load(cfg.snac_model, cfg=cfg), True
    except HubUnavailable:
        warnings.warn("no real SNAC here: the answers' codes come from a random-weight SNAC with codebooks "
                      "filled from the assistant's speech. They are informative, but no model trained on them "
                      "can produce intelligible audio (online, the real SNAC is used)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = Codec.load(random_init=True, seed=seed, cfg=cfg)
    saved = Path(cache_dir) / f"snac-{calibrated_tag(Path(root), seed)}" / "codebooks.pt"
    quantizers = codec.model.quantizer.quantizers
    shipped = shipped_offline_codes(Path(root)) if seed == 0 else None
    if shipped or saved.is_file():
        books = shipped["codebooks"] if shipped else torch.load(saved, weights_only=True)
        for q, w in zip(quantizers, books):
            q.codebook.weight.data.copy_(w)
        return codec, False
    speech = [load_audio(Path(root) / a, target_rate=16_000) for a in train_answers(Path(root))]
    calibrate_codebooks(codec, speech, sample_rate=16_000, seed=seed)
    saved.parent.mkdir(parents=True, exist_ok=True)
    torch.save([q.codebook.weight.data.clone() for q in quantizers], saved.with_suffix(".tmp"))
    saved.with_suffix(".tmp").replace(saved)
    return codec, False


def calibrated_tag(root: Path, seed: int = 0) -> str:
    """Cache key of the offline codec: calibrated codebooks depend on the corpus (its manifest) and seed."""
    return f"calibrated-{hashlib.sha1((root / 'assistant.jsonl').read_bytes()).hexdigest()[:8]}" + (f"-{seed}" if seed else "")


SHIPPED = "snac-offline.pt"   # in the corpus root: the offline codec's codebooks and every answer's codes


def shipped_offline_codes(root: Path) -> dict | None:
    """The offline codes shipped with the corpus (``{"tag", "codebooks", "codes"}``), or None when
    absent or made for another corpus (the tag hashes the manifest)."""
    f = Path(root) / SHIPPED
    if not f.is_file():
        return None
    shipped = torch.load(f, weights_only=True)
    return shipped if shipped.get("tag") == calibrated_tag(Path(root)) else None


def ship_offline_codes(cfg: OmniConfig, root: Path | str = DATA_DIR / "course", *, progress: bool = True) -> Path:
    """Calibrate the offline codec on ``root``'s training answers, encode every answer, and save
    both in ``root/snac-offline.pt`` (0.5 MB), so that machines without the real SNAC need no
    SNAC encoding at all. Run it after regenerating the corpus: ``python -m omni_lib.prepare --ship``."""
    from tqdm.auto import tqdm

    from omni_lib.codec import Codec, calibrate_codebooks

    root = Path(root)
    (root / SHIPPED).unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = Codec.load(random_init=True, seed=0, cfg=cfg)
    calibrate_codebooks(codec, [load_audio(root / a, target_rate=16_000) for a in train_answers(root)],
                        sample_rate=16_000, seed=0)
    answers = sorted({r["answer_audio"] for r in read_manifest(root)})
    codes = {a: codec.encode(load_audio(root / a, target_rate=16_000), 16_000).to(torch.int16)
             for a in tqdm(answers, desc="SNAC codes", disable=not progress)}
    books = [q.codebook.weight.data.clone() for q in codec.model.quantizer.quantizers]
    torch.save({"tag": calibrated_tag(root), "codebooks": books, "codes": codes}, root / SHIPPED)
    return root / SHIPPED


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

    # SNAC codes of every answer, once per answer file; a warm cache needs no codec at all
    answer_paths = sorted({r["answer_audio"] for r in rows})
    files = lambda kind: {p: cache_dir / f"snac-{kind}" / (p.replace("/", "__") + ".pt") for p in answer_paths}  # noqa: E731
    from omni_lib.hub import hub_reachable

    calibrated = calibrated_tag(root)
    real = all(f.is_file() for f in files("real").values()) or None
    frames = {}
    if real is None and not hub_reachable():
        shipped = shipped_offline_codes(root)
        if shipped and all(p in shipped["codes"] for p in answer_paths):      # shipped with the corpus
            frames, real = {p: shipped["codes"][p].long() for p in answer_paths}, False
        elif all(f.is_file() for f in files(calibrated).values()):
            real = False
    codec = None
    if real is None:
        codec, real = course_codec(cfg, root=root, cache_dir=cache_dir)
    for p, cached in tqdm(files("real" if real else calibrated).items(), desc="SNAC codes",
                          disable=not progress or bool(frames)):
        if p in frames:
            continue
        if not cached.is_file():
            codes = codec.encode(load_audio(root / p, target_rate=16_000), 16_000)
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save(codes, cached.with_suffix(".tmp"))
            cached.with_suffix(".tmp").replace(cached)              # atomic: no half-written cache file
        frames[p] = torch.load(cached, weights_only=True)

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
             "real_snac": real, "speeds": list(speeds)}
    return CourseData(pools, evals, tokenizer, real, stats)


def main(argv: list[str] | None = None) -> int:
    """``python -m omni_lib.prepare --ship [--root data/course]``: write the corpus's offline codes."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--root", default=str(DATA_DIR / "course"))
    ap.add_argument("--ship", action="store_true", help="calibrate the offline codec and save every answer's codes")
    ap.add_argument("--preset", default="tiny")
    args = ap.parse_args(argv)
    if not args.ship:
        ap.error("nothing to do: pass --ship")
    print(ship_offline_codes(OmniConfig.from_preset(args.preset), args.root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
