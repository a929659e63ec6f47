"""Speech scored by ear: the model talks, its codec turns the codes into sound, Whisper listens.

Teacher-forced code accuracy says whether a model predicts the training codes; it cannot say
whether the speech says the right thing. The field's measure (e.g. GLM-4-Voice, Table 6) is to
transcribe the model's own speech with a speech recogniser. Here:

- **spoken QA by ear**: the transcript of the spoken answer equals the reference answer (both in
  :func:`spoken_form`: numbers as words, as the course's answers are written). Spoken questions decode batch-parallel (A1A2 speech
  from the A1T2 text, spec §7), written questions with T1A2.
- **consistency ASR-WER**: the transcript against the model's *own* text answer (does it say
  what it writes? The released Mini-Omni scores 25.3 % in GLM-4-Voice's Table 6).
- **the codec's ceiling**: the same recogniser on the reference answers' codec round trip beside
  the original recordings, for answers the codec was fitted on and for held-out answers.
- **naturalness, a proxy**: DNSMOS (``speechmos``, which ships its models) of the model's speech,
  of the codec round trip and of the original recordings. DNSMOS was trained on noisy human
  speech; it ranks, it does not measure a codec's artefacts faithfully.

    model, tok = load_for_chat("build/tiny/stage3/model")       # omni_lib.chat
    report = score_by_ear(model, prepare_course(model.cfg), speaking_codec(model.cfg, "build/tiny/stage3/model"))
    report["spoken_qa_by_ear_seen"]                             # e.g. 0.9

``python -m omni_lib.eval ear --ckpt DIR`` runs it from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
import time
from typing import Sequence

import torch

from omni_lib.batches import Example
from omni_lib.codec import playable
from omni_lib.decode import Request, generate, generate_batch
from omni_lib.wer import basic_normalise, word_errors

WHISPER_RATE = 16_000
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return " ".join(_ONES[int(d)] for d in str(n))        # Whisper's run-together digits ("109" for "ten nine")


def spoken_form(text: str) -> str:
    """Text as the course's answers are written: numbers as words, lower case, no punctuation.

    Whisper writes what it hears in digits (``8-4 is 4.``, ``2, 3, 4.``); the references are words
    (``eight minus four is four``). Whisper's own ``EnglishTextNormalizer`` goes the other way and
    scores such pairs as errors (``8 -4 is 4`` vs ``8 4 is 4``; ``234`` vs ``2 3 4``), so the original
    recordings of held-out answers scored 18 % "WER". Here a single hyphen between two numbers is a
    minus, a chain of them a list::

        >>> spoken_form("8-4 is 4.")
        'eight minus four is four'
        >>> spoken_form("4-5-6-7.")
        'four five six seven'
        >>> spoken_form("2 + 13 is 15")
        'two plus thirteen is fifteen'
    """
    t = text.lower()
    t = re.sub(r"\d+(?:\s*-\s*\d+){2,}", lambda m: m.group().replace("-", " "), t)   # 4-5-6-7: a list
    t = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " minus ", t).replace("+", " plus ")
    t = re.sub(r"\d+", lambda m: f" {_words(int(m.group()))} ", t)
    return basic_normalise(t)


@dataclass
class Spoken:
    """One spoken answer: what it should say, what the model wrote, and what Whisper heard."""
    id: str
    reference: str               # the reference answer text
    text: str                    # the model's own text answer
    heard: str                   # Whisper's transcript of the model's speech
    wave: torch.Tensor           # the speech, 24 kHz

    @property
    def right(self) -> bool:
        return bool(self.heard) and spoken_form(self.heard) == spoken_form(self.reference)


def listener(name: str = "base", *, max_tokens: int = 40):
    """Whisper (``name`` or a checkpoint path) as a recogniser: ``transcribe(list of 16 kHz waves)``.

    ``max_tokens``: the course's answers are at most ~10 words; a garbled answer can make Whisper
    hallucinate up to its 224-token limit, which costs time and says nothing more."""
    from omni_lib.eval import WhisperASR
    from omni_lib.whisper_weights import load_whisper

    return WhisperASR(load_whisper(name).eval(), f"whisper-{name}", {}, max_tokens=max_tokens)


def transcribe(asr, waves_24k: Sequence[torch.Tensor], *, batch_size: int = 16) -> list[str]:
    """Transcripts of 24 kHz waves (resampled to Whisper's 16 kHz); an empty wave is heard as ''."""
    import soxr

    out = [""] * len(waves_24k)
    todo = [i for i, w in enumerate(waves_24k) if len(w)]
    for k in range(0, len(todo), batch_size):
        idx = todo[k:k + batch_size]
        waves = [torch.from_numpy(soxr.resample(waves_24k[i].numpy(), 24_000, WHISPER_RATE)).float() for i in idx]
        for i, text in zip(idx, asr.transcribe(waves)):
            out[i] = text
    return out


def voice(codec, frames: torch.Tensor) -> torch.Tensor:
    """Decode a generation's ``[7, F]`` frames; values the codec cannot decode (an untrained model's
    audio specials or codes past the codebook) are played as code 0, as the streaming decoder does."""
    if frames.shape[1] == 0:
        return torch.zeros(0)
    return codec.decode(playable(frames, codec)[0])


@torch.inference_mode()
def speak(model, examples: Sequence[Example], codec, tokenizer, *, task: str = "A1A2",
          max_new_steps: int = 96, batch_size: int = 16) -> list[tuple[str, torch.Tensor]]:
    """(text answer, 24 kHz speech) for each example: spoken questions (``features``) batch-parallel
    A1A2, written questions (``question`` ids) T1A2 in batches."""
    from omni_lib.codec import check_codec

    check_codec(model.cfg, codec)
    n_text = tokenizer.n_text
    gens = []
    if task == "A1A2":
        gens = [generate(model, "A1A2", audio_features=e.features, batch_parallel=True, max_new_steps=max_new_steps)
                for e in examples]
    elif task == "T1A2":
        for i in range(0, len(examples), batch_size):
            reqs = [Request("T1A2", text_ids=tuple(e.question)) for e in examples[i:i + batch_size]]
            gens += generate_batch(model, reqs, max_new_steps=max_new_steps)
    else:
        raise ValueError(f"task {task!r}: by ear scores A1A2 (spoken questions) or T1A2 (written ones)")
    return [(tokenizer.decode([t for t in g.text_ids if t < n_text]), voice(codec, g.frames)) for g in gens]


def heard_answers(model, examples, codec, tokenizer, asr, *, task: str = "A1A2") -> list[Spoken]:
    """:func:`speak` then :func:`transcribe`: one :class:`Spoken` per example."""
    said = speak(model, examples, codec, tokenizer, task=task)
    heard = transcribe(asr, [w for _, w in said])
    return [Spoken(e.meta.get("id", str(i)), tokenizer.decode(e.answer), text, h, w)
            for i, (e, (text, w), h) in enumerate(zip(examples, said, heard))]


def accuracy(spoken: Sequence[Spoken]) -> float:
    return sum(s.right for s in spoken) / max(1, len(spoken))


def consistency_wer(spoken: Sequence[Spoken]) -> float:
    """Corpus WER of what was heard against the model's own text answers (both in :func:`spoken_form`)."""
    return word_errors([spoken_form(s.text) for s in spoken], [spoken_form(s.heard) for s in spoken])["wer"]


def codec_ceiling(codec, answers: Sequence[tuple[str, torch.Tensor]], asr, *, dnsmos: bool = False) -> dict:
    """WER of Whisper on ``answers`` (``(text, 16 kHz wave)``) as recorded and through the codec;
    with ``dnsmos``, their naturalness proxy too (about 1.6 s a clip on 2 cores: asked for once)."""
    import soxr

    refs = [spoken_form(t) for t, _ in answers]
    originals = [torch.from_numpy(soxr.resample(w.numpy(), WHISPER_RATE, 24_000)).float() for _, w in answers]
    round_trip = [codec.decode(codec.encode(w, 24_000)) for w in originals]
    out = {"original": word_errors(refs, [spoken_form(h) for h in transcribe(asr, originals)])["wer"],
           "codec": word_errors(refs, [spoken_form(h) for h in transcribe(asr, round_trip)])["wer"],
           "n": len(answers)}
    if dnsmos:
        out["dnsmos_original"], out["dnsmos_codec"] = naturalness(originals), naturalness(round_trip)
    return out


def naturalness(waves_24k: Sequence[torch.Tensor], limit: int = 16) -> float | None:
    """Mean DNSMOS overall score (1-5) of the first ``limit`` 24 kHz waves: a **proxy** for naturalness, trained on
    noisy human speech, not on codecs. ``None`` when the scorer (``speechmos``, which ships its
    ONNX models, and ``onnxruntime``) is not installed."""
    try:
        from speechmos import dnsmos
    except ImportError:
        return None
    import numpy as np
    import soxr

    scores = [dnsmos.run(np.clip(soxr.resample(w.numpy(), 24_000, WHISPER_RATE), -1, 1), WHISPER_RATE)["ovrl_mos"]
              for w in list(waves_24k)[:limit] if len(w)]
    return float(np.mean(scores)) if scores else None


def ceiling_answers(data_root, split: str, limit: int | None = None) -> list[tuple[str, torch.Tensor]]:
    """(text, 16 kHz wave) of the assistant's distinct answers to a split's questions (``limit``: evenly spaced)."""
    from pathlib import Path

    from omni_lib.audio import load_audio
    from omni_lib.prepare import read_manifest

    seen, out = set(), []
    for r in read_manifest(Path(data_root)):
        if r["split"] == split and r["answer_audio"] not in seen:
            seen.add(r["answer_audio"])
            out.append((r["answer"], load_audio(Path(data_root) / r["answer_audio"], target_rate=WHISPER_RATE)))
    step = max(1, len(out) // limit) if limit else 1
    return out[::step][:limit]                            # spread over the split's topics


def score_by_ear(model, data, codec, *, whisper: str = "base", data_root=None, ceiling_limit: int = 16,
                 written_limit: int = 32, progress: bool = False, keep: int = 4) -> dict:
    """Every by-ear number of the course for a trained model (see the module docstring).

    ``data``: :func:`omni_lib.prepare.prepare_course`'s evaluation sets. Seen questions in held-out
    voices (``a1t2/test-voices``: A1A2, and the same items written: T1A2), unseen questions
    (``a1t2/test-items``). Whisper-base reads every clip in a 30 s window (about 0.5 s a clip on 2
    cores, most of the cost), so the written questions (``written_limit``) and the ceiling
    (``ceiling_limit`` answers per split) are evenly spaced subsets. Returns numbers, ``samples``: the first ``keep`` answers of each set as
    ``(reference, text, heard)``, and ``audio``: their speech (24 kHz tensors; not JSON: pop it).
    """
    from omni_lib import DATA_DIR

    asr = listener(whisper)
    ev, tok = data.evals, data.tokenizer
    seen_items = {e.meta["item"] for e in ev["a1t2/test-voices"]}
    written = [e for e in ev["t1t2/train"] if e.meta["item"] in seen_items]
    written = written[:: max(1, len(written) // written_limit)][:written_limit]
    sets = {"seen": (ev["a1t2/test-voices"], "A1A2"), "unseen": (ev["a1t2/test-items"], "A1A2"),
            "t1a2_seen": (written, "T1A2")}
    out, samples, audio, pooled = {}, {}, {}, []
    for name, (examples, task) in sets.items():
        t0 = time.perf_counter()
        spoken = heard_answers(model, examples, codec, tok, asr, task=task)
        if progress:
            print(f"by ear: {name}: {len(examples)} answers ({task}) in {time.perf_counter() - t0:.0f} s")
        out[f"by_ear_{name}"] = accuracy(spoken)
        out[f"consistency_wer_{name}"] = consistency_wer(spoken)
        samples[name] = [(s.reference, s.text, s.heard) for s in spoken[:keep]]
        audio[name] = [s.wave for s in spoken[:keep]]
        pooled += spoken
    out["consistency_wer"] = consistency_wer(pooled)
    root = data_root or DATA_DIR / "course"
    for split, name in (("train", "fitted"), ("test-items", "heldout")):
        t0 = time.perf_counter()
        c = codec_ceiling(codec, ceiling_answers(root, split, ceiling_limit), asr, dnsmos=name == "heldout")
        if progress:
            print(f"by ear: the codec's ceiling on {c['n']} {name} answers in {time.perf_counter() - t0:.0f} s")
        out[f"ceiling_{name}_original_wer"], out[f"ceiling_{name}_codec_wer"] = c["original"], c["codec"]
        if name == "heldout":
            out["dnsmos_original"], out["dnsmos_codec"] = c["dnsmos_original"], c["dnsmos_codec"]
    out["dnsmos_model"] = naturalness([s.wave for s in pooled])
    out["n"] = {k: len(v[0]) for k, v in sets.items()}
    out["samples"], out["audio"] = samples, audio
    return out
