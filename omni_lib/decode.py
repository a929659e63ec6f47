"""Talking while thinking: one decoding loop for every task, batch-parallel, batched, streamed (spec §7).

Each step the model emits 8 tokens: one per audio layer (raw values 0..4159 from that layer's
slice of the head) and one text token. Every token is fed back in its own row. The rules::

    text end   the first eot is kept and fed back; after it the text row is forced to pad_t
    stop       speech-out tasks (A1A2, T1A2): when layer 6 samples eoa (not kept)
               text-out tasks (A1T2, ASR, T1T2): when the text samples eot (not kept)
    feed-back  text-out tasks feed pad_a to all audio rows
    bound      prompt + generated steps <= block_size (2,048)
    step 0     (predicted at the last prompt position) is kept without these checks, as in the reference

Batch-parallel (``batch_parallel=True``, A1A2 only) runs [A1A2, A1T2] as a batch of two: audio
logits from row 0, text logits from row 1, the text token fed to both rows, ``pad_a`` to row 1's
audio rows. The audio frames come out of the delayed grid with :func:`omni_lib.delay.undelay`.

    >>> from omni_lib.config import OmniConfig
    >>> from omni_lib.model import OmniModel
    >>> cfg = OmniConfig.from_preset("tiny", n_layer=1)
    >>> out = generate(OmniModel(cfg).eval(), "T1A2", text_ids=[5, 6], max_new_steps=12)
    >>> out.tokens.shape[0], out.steps <= 12, out.frames.shape[0]
    (8, True, 7)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch

from omni_lib.delay import undelay
from omni_lib.tokens import SPEECH_IN_TASKS, SPEECH_OUT_TASKS, TEXT_ROW, TokenSpace, build_input


# ---------------------------------------------------------------------------------- sampling
@dataclass
class SamplingParams:
    """``temperature`` 0 means greedy (argmax); ``top_k`` / ``top_p`` filter before sampling."""
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float = 1.0

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1 or (self.top_k is not None and self.top_k < 1):
            raise ValueError(f"bad sampling parameters {self}: need temperature >= 0, 0 < top_p <= 1, top_k >= 1")


@dataclass
class Sampling:
    """Per-modality sampling. The reference's (temperature 0.9, top-k 1) is greedy, our default."""
    text: SamplingParams = field(default_factory=SamplingParams)
    audio: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None


def sample(logits: torch.Tensor, p: SamplingParams, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[..., V]`` logits -> ``[...]`` token ids."""
    if p.temperature == 0 or p.top_k == 1:
        return logits.argmax(-1)
    logits = logits.float() / p.temperature
    if p.top_k is not None:
        kth = logits.topk(min(p.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        drop = sorted_logits.softmax(-1).cumsum(-1) - sorted_logits.softmax(-1) > p.top_p   # keep the first past p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probs = logits.softmax(-1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
    return flat.reshape(probs.shape[:-1])


# ---------------------------------------------------------------------------------- requests
@dataclass
class Request:
    """One prompt: a task plus its speech features (speech in) or text ids (text in)."""
    task: str
    audio_features: torch.Tensor | None = None   # [L, D_whisper]
    text_ids: Sequence[int] = ()


@dataclass
class Generation:
    """What one request produced."""
    task: str
    text_ids: list[int]            # the answer's text tokens (no eot, no pads)
    frames: torch.Tensor           # [7, F] SNAC codes (raw 0..4095 when the model is sane)
    tokens: torch.Tensor           # [8, S] every kept step: raw audio values rows 0..6, text ids row 7
    stop: str                      # "eoa", "eot" or "max_steps"
    latency: "Latency | None" = None   # stream() only: where the wait went (omni_lib.latency)

    @property
    def steps(self) -> int:
        return self.tokens.shape[1]


@dataclass
class Step:
    """One decoding step of one request, as :func:`decode_steps` yields it."""
    request: int
    step: int
    text: int                      # text id fed back (after the pad_t forcing)
    audio: torch.Tensor            # [7] raw audio values sampled (row 0 of a batch-parallel pair)
    done: str | None = None        # stop reason once the request has finished (this step not kept)


def _prompt(model, req: Request) -> tuple[torch.Tensor, torch.Tensor | None]:
    cfg = model.cfg
    if req.task in SPEECH_IN_TASKS:
        if req.audio_features is None or len(req.audio_features) == 0:
            raise ValueError(f"task {req.task} takes speech: give audio or audio_features (got none)")
        return build_input(req.task, cfg, n_audio=len(req.audio_features)), req.audio_features
    if not len(req.text_ids):
        raise ValueError(f"task {req.task} takes text: the prompt text_ids is empty")
    return build_input(req.task, cfg, text_ids=req.text_ids), None


# ---------------------------------------------------------------------------------- the loop
@torch.inference_mode()
def decode_steps(model, requests: Sequence[Request], *, max_new_steps: int | None = None,
                 batch_parallel: bool = False, sampling: Sampling | None = None,
                 fast: bool = True, share_prefix: bool = True) -> Iterator[Step]:
    """The one decoding loop: yields a :class:`Step` per live request per step, until all stop.

    Several requests decode as one left-padded batch (each at its own positions, each stopping on
    its own); ``batch_parallel`` turns a single A1A2 request into the [A1A2, A1T2] pair.

    ``fast`` (default) decodes with a preallocated :class:`~omni_lib.model.KVCache` of which each
    step attends only the filled slots, and computes only the head columns used: batch-parallel,
    audio for row 0 and text for row 1; and no text logits at all for a row whose text has ended
    (it is ``pad_t`` from then on: in a spoken answer, most steps). ``fast=False`` is the plain
    loop: the backbone's own forward and growing cache, every logit of every row. Both give the
    same tokens when greedy (up to float rounding); ``python -m omni_lib.bench decode`` times them.

    ``share_prefix`` (fast, batch-parallel): the two rows' prompts differ only in their last
    position, so the blocks run the rest once and row 1 copies its keys and values: half the
    prefill. The same numbers in float; with int8 weights each product's input scale is taken
    over what it is given, so tokens may differ from a full two-row prefill's where logits are close.
    """
    if not (hasattr(model, "embed") and hasattr(model, "cfg") and hasattr(model, "tokens")):
        raise TypeError(f"decoding needs an OmniModel (one text head and 7 audio heads); got "
                        f"{type(model).__name__}. A plain text LM gains them with OmniModel.from_text_lm(...) "
                        f"and training (notebook 04)")
    ts, cfg = TokenSpace(model.cfg), model.cfg
    sampling = sampling or Sampling()
    gen = torch.Generator().manual_seed(sampling.seed) if sampling.seed is not None else None
    if batch_parallel:
        if len(requests) != 1 or requests[0].task != "A1A2":
            raise ValueError("batch_parallel decodes one A1A2 request (speech in, speech out)")
        r = requests[0]
        requests_rows = [r, Request("A1T2", r.audio_features)]
    else:
        requests_rows = list(requests)
    if not requests_rows:
        raise ValueError("no requests to decode")
    prompts = [_prompt(model, r) for r in requests_rows]
    longest = max(p.shape[1] for p, _ in prompts)
    if max_new_steps is None:
        max_new_steps = cfg.block_size - longest
    if max_new_steps < 1 or longest + max_new_steps > cfg.block_size:
        raise ValueError(f"a prompt of {longest} positions plus max_new_steps={max_new_steps} exceeds the "
                         f"context of {cfg.block_size} (block_size); use at most {cfg.block_size - longest} steps")

    device = next(model.parameters()).device
    B = len(prompts)
    # Left-pad every prompt to the longest so that all rows' next position is the same column.
    embeds, mask = [], torch.zeros(B, longest, dtype=torch.long, device=device)
    for b, (ids, feats) in enumerate(prompts):
        f = None if feats is None else feats[None].to(device)
        e = model.embed(ids[None].to(device), f)[0]                       # (T_b, d)
        embeds.append(torch.nn.functional.pad(e, (0, 0, longest - len(e), 0)))
        mask[b, longest - len(e):] = 1
    x = torch.stack(embeds)                                                # (B, T, d)
    pos = (mask.cumsum(1) - 1).clamp(min=0)                                # each row counts from 0
    n_req = 1 if batch_parallel else B
    text_end = [False] * n_req
    done: list[str | None] = [None] * n_req

    def head_rows() -> dict:
        """The fast path's ``text_rows`` / ``audio_rows``: only the logits the next step will use."""
        if not fast:
            return {}
        if batch_parallel:                        # audio from row 0; text from row 1 until it has ended
            return dict(text_rows=[] if text_end[0] else [1], audio_rows=[0])
        live = [b for b in range(B) if not (text_end[b] or done[b])]
        return {} if len(live) == B else dict(text_rows=live)

    cache = model.new_kv_cache(B, longest + max_new_steps) if fast and hasattr(model, "new_kv_cache") else None
    rows = head_rows()
    if share_prefix and cache is not None and batch_parallel and torch.equal(x[0, :-1], x[1, :-1]):
        # [A1A2, A1T2] differ only in the last prompt position (answer_a or pad_a): the blocks run
        # the shared prefix once, for row 0, whose keys and values row 1 then copies (half the prefill)
        model._blocks_cached(x[:1, :-1], cache.rows(slice(0, 1)), mask[:1, :-1], pos[:1, :-1])
        cache.k[:, 1:, :, : longest - 1] = cache.k[:, :1, :, : longest - 1]
        cache.v[:, 1:, :, : longest - 1] = cache.v[:, :1, :, : longest - 1]
        cache.length = longest - 1
        out = model(None, inputs_embeds=x[:, -1:], attention_mask=mask, position_ids=pos[:, -1:],
                    past_key_values=cache, use_cache=True, last_only=True, **rows)
    else:
        out = model(None, inputs_embeds=x, attention_mask=mask, position_ids=pos, past_key_values=cache,
                    use_cache=True, last_only=True, **rows)
    past = cache if cache is not None else out.past_key_values

    speaks = torch.tensor([r.task in SPEECH_OUT_TASKS for r in requests_rows], device=device)
    pad_audio = torch.tensor([ts.audio_id(ts.pad_a, i) for i in range(cfg.n_audio_layers)], device=device)
    offsets = ts.audio_offsets().to(device)[:, 0]                          # (7,)
    for step in range(max_new_steps):
        audio = sample(out.audio_logits[:, :, -1], sampling.audio, gen)    # (B, 7) raw values
        text = sample(out.text_logits[:, -1], sampling.text, gen)          # (B,) or (rows asked,)
        if "text_rows" in rows and len(text) != B:                         # the rows not asked: pad_t
            text = torch.full((B,), ts.pad_t, device=device).index_copy_(
                0, torch.tensor(rows["text_rows"], dtype=torch.long, device=device), text)
        if batch_parallel:            # audio from row 0, text from row 1 (a model may have computed both rows)
            audio, text = audio[:1], text[-1:]
        for r in range(n_req):
            if done[r]:
                continue
            t = int(text[r])
            if step > 0:                                                   # step 0 is kept unchecked (reference)
                if text_end[r]:
                    t = ts.pad_t
                task = requests_rows[r].task
                if task in SPEECH_OUT_TASKS and int(audio[r, -1]) == ts.eoa:
                    done[r] = "eoa"
                elif task not in SPEECH_OUT_TASKS and t == ts.eot:
                    done[r] = "eot"
                elif t == ts.eot:
                    text_end[r] = True
            text[r] = t
            yield Step(r, step, t, audio[r].cpu(), done[r])
        if all(done) or step == max_new_steps - 1:
            return
        # feed back: each row its own sampled audio (pad_a for text-out rows), the text token
        if batch_parallel:
            audio_ids = torch.stack([audio[0] + offsets, pad_audio])
            text_ids = text.expand(2)
        else:
            audio_ids = torch.where(speaks[:, None], audio + offsets, pad_audio)
            text_ids = text
        ids = torch.cat([audio_ids, text_ids[:, None]], dim=1)[:, :, None]  # (B, 8, 1)
        if cache is None:                                                  # the KVCache keeps its own mask
            mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
        pos = pos[:, -1:] + 1
        rows = head_rows()
        out = model(ids, attention_mask=None if cache is not None else mask, position_ids=pos,
                    past_key_values=past, use_cache=True, last_only=True, **rows)
        past = cache if cache is not None else out.past_key_values


def generate_batch(model, requests: Sequence[Request], **kwargs) -> list[Generation]:
    """Decode several independent requests at once (for evaluation throughput)."""
    n = 1 if kwargs.get("batch_parallel") else len(requests)
    kept: list[list[Step]] = [[] for _ in range(n)]
    stops = ["max_steps"] * n
    for s in decode_steps(model, requests, **kwargs):
        if s.done:
            stops[s.request] = s.done
        else:
            kept[s.request].append(s)
    return [_collect(model, requests[r].task, kept[r], stops[r]) for r in range(n)]


def generate(model, task: str, *, audio=None, sample_rate: int = 16_000, audio_features: torch.Tensor | None = None,
             text_ids: Sequence[int] | None = None, max_new_steps: int | None = None, batch_parallel: bool = False,
             sampling: Sampling | None = None) -> Generation:
    """Answer one prompt: speech (``audio`` array, or precomputed ``audio_features [L, D]``) or text.

    Returns the text ids and the undelayed audio frames ``[7, F]`` (empty for text-out tasks).
    """
    if audio is not None:
        if audio_features is not None:
            raise ValueError("give audio or audio_features, not both")
        feats, lengths = model.audio_features([audio], sample_rate)
        audio_features = feats[0, : int(lengths[0])]
    req = Request(task, audio_features, tuple(text_ids or ()))
    return generate_batch(model, [req], max_new_steps=max_new_steps, batch_parallel=batch_parallel,
                          sampling=sampling)[0]


def _collect(model, task: str, steps: list[Step], stop: str) -> Generation:
    ts, n = TokenSpace(model.cfg), model.cfg.n_audio_layers
    tokens = torch.zeros(n + 1, len(steps), dtype=torch.long)
    for j, s in enumerate(steps):
        tokens[:n, j], tokens[TEXT_ROW, j] = s.audio, s.text
    text = tokens[TEXT_ROW].tolist()
    text = text[: text.index(ts.eot)] if ts.eot in text else text
    text = [t for t in text if t != ts.pad_t]
    if task in SPEECH_OUT_TASKS and tokens.shape[1] > n:
        frames = undelay(tokens[:, : tokens.shape[1]], model.cfg)[:n]      # frame f of layer j at step f + j + 1
    else:
        frames = torch.zeros(n, 0, dtype=torch.long)
    return Generation(task, text, frames, tokens, stop)


# ---------------------------------------------------------------------------------- streaming
@dataclass
class TextPiece:
    step: int
    text: str
    t: float                       # seconds since the stream started


@dataclass
class AudioChunk:
    step: int
    audio: torch.Tensor            # float32 samples at 24 kHz
    t: float


def stream(model, task: str, *, codec, tokenizer, audio=None, sample_rate: int = 16_000,
           audio_features: torch.Tensor | None = None, text_ids: Sequence[int] | None = None,
           chunk_frames: int = 4, first_chunk_frames: int | None = None, reference_mode: bool = False,
           max_new_steps: int | None = None, batch_parallel: bool = False,
           sampling: Sampling | None = None) -> Iterator[TextPiece | AudioChunk | Generation]:
    """Decode and yield text pieces and audio chunks as soon as they exist; the last item is the Generation.

    Frame f is complete at step f + 7; it goes to a :class:`~omni_lib.codec.StreamingDecoder` that
    decodes ``chunk_frames`` frames with 3 frames of context on each side (so the stream equals a
    one-shot decode within 1e-5; the right context costs 256 ms) and flushes the tail.
    ``first_chunk_frames=1`` makes only the first chunk shorter: first audio 3 steps sooner.
    The Generation's ``latency`` (:class:`~omni_lib.latency.Latency`) says where the wait went.
    ``reference_mode`` mimics the release: 4-frame chunks decoded alone (seams), first at step 10,
    no tail. Closing the iterator early leaves no state behind.

        for item in stream(model, "T1A2", codec=codec, tokenizer=tok, text_ids=tok.encode("hi")):
            ...   # TextPiece(step, text, t), AudioChunk(step, audio, t), then the Generation
    """
    import time
    import warnings

    from omni_lib.codec import StreamingDecoder, check_codec, playable

    from omni_lib.latency import Latency

    check_codec(model.cfg, codec)
    start = time.perf_counter()
    clock = lambda: time.perf_counter() - start                          # noqa: E731
    if audio is not None:
        feats, lengths = model.audio_features([audio], sample_rate)
        audio_features = feats[0, : int(lengths[0])]
    stamps = {"whisper": clock()}
    req = Request(task, audio_features, tuple(text_ids or ()))
    n, ts = model.cfg.n_audio_layers, TokenSpace(model.cfg)
    decoder = StreamingDecoder(codec, chunk_frames=chunk_frames, first_chunk_frames=first_chunk_frames,
                               reference_mode=reference_mode)
    speaks = task in SPEECH_OUT_TASKS
    kept: list[Step] = []
    stop, said, warned = "max_steps", "", False
    first_audio_step, first_chunk_s, rest_s = None, 0.0, 0.0
    for s in decode_steps(model, [req], max_new_steps=max_new_steps, batch_parallel=batch_parallel, sampling=sampling):
        arrived = clock()
        if s.step == 0:
            stamps["prefill"] = arrived
        elif s.step == n:
            stamps["first_frame"] = arrived
        if s.done:
            stop = s.done
            break
        kept.append(s)
        ids = [st.text for st in kept]
        ids = ids[: ids.index(ts.eot)] if ts.eot in ids else ids
        text = tokenizer.decode([i for i in ids if i < tokenizer.n_text])
        if len(text) > len(said) and not text.endswith("\ufffd"):        # hold back a half UTF-8 character
            yield TextPiece(s.step, text[len(said):], time.perf_counter() - start)
            said = text
        if speaks and s.step >= n:                                         # frame s - 7 is now complete
            f = s.step - n
            frame = torch.stack([kept[f + j + 1].audio[j] for j in range(n)])[:, None]   # (7, 1)
            frame, n_bad = playable(frame, codec)
            if n_bad and not warned:
                warnings.warn(f"the model put values its {getattr(codec, 'kind', 'SNAC')} codec cannot decode "
                              f"(audio specials such as pad_a, or codes past the codebook) inside a frame; they "
                              f"are played as code 0 (an untrained or mis-trained model)")
                warned = True
            chunks = decoder.push(frame)
            if chunks and first_audio_step is None:
                first_audio_step, stamps["right_context"], stamps["codec"] = s.step, arrived, clock()
                first_chunk_s = len(chunks[0]) / model.cfg.sample_rate
            for chunk in chunks:
                yield AudioChunk(s.step, chunk, clock())
    tail = decoder.flush() if speaks else torch.zeros(0)
    if len(tail):
        if first_audio_step is None:                                      # a short answer: all of it at the end
            first_audio_step, stamps["right_context"], stamps["codec"] = kept[-1].step, arrived, clock()
        yield AudioChunk(kept[-1].step if kept else 0, tail, clock())
    gen = _collect(model, task, kept, stop)
    if first_audio_step is not None:
        audio_s = gen.frames.shape[1] * model.cfg.samples_per_frame / model.cfg.sample_rate
        rest_s = max(0.0, audio_s - first_chunk_s) if first_chunk_s else 0.0
    gen.latency = Latency(stamps, steps_after=0 if first_audio_step is None else len(kept) - 1 - first_audio_step,
                          after_s=clock() - stamps.get("codec", clock()), audio_after_s=rest_s,
                          notes={"first_audio_step": first_audio_step})
    yield gen
