# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Talking while thinking: batch-parallel and streaming decoding
#
# **You are here:** 00 tour → 01 SNAC tokens → 02 token space & delay → 03 eight-head model →
# 04 three-stage training → **05 batch-parallel & streaming decoding** → 06 LibriSpeech WER
#
# Notebook 04 trained the `tiny` model to answer a spoken question in text and in SNAC codes. Here
# we make it talk:
#
# 1. **one step at a time**: every step the model emits 8 tokens, 7 audio (one per SNAC layer,
#    each layer one step later than the previous) and 1 text; watch the delayed grid fill up;
# 2. **three ways to answer** a spoken question: A1A2 (speech and text), A1T2 (text only) and
#    **batch-parallel** (both at once, the speech following the text-only row's words);
# 3. **streaming**: text pieces and audio chunks leave as soon as they exist, and the chunks put
#    together equal decoding the whole answer at once.
#
# **Goals.** Write one batch-parallel step yourself and check it token for token against
# `omni_lib.decode`; see why batch-parallel answers like the text-only task; stream an answer
# and see when each piece arrived; measure the seams of the released code's streaming.

# %% tags=["parameters"]
PRESET = "tiny"
N_QUESTIONS = 24    # held-out-voice questions answered in the three ways of section 3
MAX_STEPS = 120     # generated steps at most per answer (a tiny-model answer takes about 15-30)
THREADS = 1         # torch CPU threads: a tiny-model step is too small to split, and one thread does not
                    # stall when another program shares the cores (more for larger presets)

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio, Markdown, display

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.course import report
from omni_lib.decode import AudioChunk, Generation, Request, TextPiece, decode_steps, generate, generate_batch, stream
from omni_lib.delay import undelay
from omni_lib.encoder import WhisperEncoder
from omni_lib.model import OmniModel
from omni_lib.prepare import course_codec, read_manifest
from omni_lib.text import TextTokenizer
from omni_lib.tokens import TokenSpace, build_batch_parallel
from omni_lib.train import course_checkpoint
from omni_lib.viz import plot_id_grid
from omni_lib.wer import basic_normalise

t_start = time.perf_counter()
warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
torch.manual_seed(0)
torch.set_num_threads(THREADS)
if PRESET != "tiny":
    raise ValueError(f"the course trains only the 'tiny' preset (got {PRESET!r}); for the released model, "
                     f"talk to it with: python -m omni_lib.chat --ckpt DIR --audio question.wav")

# %% [markdown]
# ## 1. The trained model, its codec and a question
#
# `course_checkpoint()` returns the stage-3 model of notebook 04 (training it first, once, if it
# is missing). The Whisper encoder is frozen and not saved with it: we attach it again. The codec
# must be the one the training codes came from: online that is the real SNAC; **offline it is a
# SNAC with random weights** whose codebooks were filled from the assistant's speech, so the codes
# are informative but **every answer you hear below is noise**. Online, it is the spoken answer.
#
# The questions come from the course corpus, spoken by the two `test-voices`: voices the model
# never heard in training.

# %%
path = course_checkpoint()
model = OmniModel.from_pretrained(path)
cfg = model.cfg
model.attach_whisper(WhisperEncoder.from_config(cfg))
tok = TextTokenizer.load(path / "text_tokenizer.json")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                     # the offline codec says so once, below
    codec, real_snac = course_codec(cfg)
ts = TokenSpace(cfg)
offsets = ts.audio_offsets()[:, 0]                                 # (7,) first id of each audio layer
pad_a_ids = torch.tensor([ts.audio_id(ts.pad_a, j) for j in range(cfg.n_audio_layers)])
print(f"model {path}: {sum(p.numel() for p in model.parameters()):,} parameters, {cfg.n_layer} blocks of "
      f"width {cfg.n_embd}")
print("SNAC:", "real weights: the audio below is speech" if real_snac else
      "random weights with calibrated codebooks (offline): the audio below is NOISE, not speech")

corpus = DATA_DIR / "course"
questions = [r for r in read_manifest(corpus) if r["split"] == "test-voices"][:N_QUESTIONS]
waves = [load_audio(corpus / r["question_audio"], target_rate=16_000) for r in questions]
t0 = time.perf_counter()
feats, lengths = model.audio_features(waves, 16_000)              # (N, L_max, D), (N,): one Whisper batch
features = [feats[i, : int(n)] for i, n in enumerate(lengths)]     # each (L_i, D)
print(f"Whisper features of {len(waves)} questions in {time.perf_counter() - t0:.1f} s")
q = questions[0]
print(f"question 0 ({q['voice']}, never heard in training): {q['question']!r}; the corpus answer: {q['answer']!r}")
display(Audio(waves[0].numpy(), rate=16_000, normalize=False))

# %% [markdown]
# ## 2. One step at a time: the grid fills up
#
# Step 0 is predicted at the last prompt position; every later step feeds the previous step's 8
# tokens back, each in its own row (spec §6–§7):
#
# * **text** has no delay: text token *k* comes at step *k*; the first `eot` is kept, and from
#   then on the text row is forced to `pad_t`;
# * **audio layer j** lags *j + 1* steps: frame *f* of layer *j* comes at step *f + j + 1*, so
#   frame 0 is complete at step 7, and the model has already written (and read back) the words it
#   is about to say;
# * the answer **stops** when layer 6 samples `eoa` (that step is not kept).
#
# `omni_lib.decode.decode_steps` is the library's loop; it yields one `Step` at a time. We keep
# the 8 tokens of every step (audio values shifted back into ids for the plot) and the time each
# step took.

# %%
steps, times = [], []
t0 = time.perf_counter()
for s in decode_steps(model, [Request("A1A2", features[0])], batch_parallel=True, max_new_steps=MAX_STEPS):
    times.append(time.perf_counter() - t0)
    if s.done:
        stop0 = s.done
        break
    steps.append(torch.cat([s.audio + offsets, torch.tensor([s.text])]))
else:
    stop0 = "max_steps"
grid = torch.stack(steps, dim=1)                                   # (8, S): the delayed grid, shifted ids
S = grid.shape[1]
step_ms = 1000 * np.diff([0.0] + times)
print(f"{S} steps kept, stop: {stop0}; first step (prefill included) {step_ms[0]:.0f} ms, then "
      f"{np.median(step_ms[1:]):.1f} ms per step = {1000 / np.median(step_ms[1:]):.0f} steps/s "
      f"(real time needs {cfg.sample_rate / cfg.samples_per_frame:.2f})")

snapshots = sorted({min(3, S), min(8, S), S})
fig, axes = plt.subplots(len(snapshots), 1, figsize=(13, 2.9 * len(snapshots)))
for ax, n in zip(np.atleast_1d(axes), snapshots):
    plot_id_grid(grid[:, :n], cfg, ax=ax, annotate=S <= 32,
                 title=f"after step {n - 1}: " + ("frame 0 not complete yet" if n < 8 else
                                                  "frame 0 complete" if n == 8 else f"frames 0..{n - 8} complete"))
    ax.set_xlim(-0.5, S - 0.5)
plt.show()
words = [(k, tok.decode([int(t)])) for k, t in enumerate(grid[-1]) if int(t) < tok.n_text]
print("text row, step: token ->", ", ".join(f"{k}: {w.strip()!r}" for k, w in words))
before = [bool((grid[j, : j + 1] == pad_a_ids[j]).all()) for j in range(cfg.n_audio_layers)]
print(f"layers writing pad_a before their first frame (steps 0..j): {sum(before)} / {len(before)}")
raw = torch.cat([grid[:7] - offsets[:, None], grid[7:]])          # (8, S) raw audio values, text ids
inside = undelay(raw, cfg)[:7] if S >= 7 else raw[:7, :0]          # (7, S - 7): frame f of layer j, step f + j + 1
print(f"audio specials (pad_a/eoa) where a SNAC code belongs: {int((inside >= cfg.audio_codebook_size).sum())} "
      f"of {inside.numel()} (a well-trained model writes none; they are played as code 0)")

# %% [markdown]
# Read the grid column by column. Training (notebook 04) delayed the audio targets exactly like
# this, so a trained model writes `pad_a` in layer *j*'s row before its first frame and SNAC
# codes after it (the two counts above say how well *this* model learned that). The text ends with
# `eot` a few steps in, while the speech runs on: every audio frame is sampled with the whole
# sentence already in the context.

# %% [markdown]
# ## 3. Three ways to answer
#
# The same spoken questions, three prompts (notebook 02's layouts). `generate_batch` answers
# independent questions as one batch (each stops on its own); batch-parallel takes a batch of two
# per question, so its questions go one at a time.
#
# | mode | what runs | text from | speech from |
# |---|---|---|---|
# | **A1A2** | one row, A1A2 layout (last audio id `answer_a`) | that row | that row |
# | **A1T2** | one row, A1T2 layout (last audio id `pad_a`) | that row | none |
# | **batch-parallel** | a batch of two: [A1A2, A1T2] | row 1 (A1T2) | row 0 (A1A2) |
#
# In batch-parallel decoding the one text token sampled from row 1 is fed to **both** rows, and
# row 1's audio rows always get `pad_a`. So row 1 sees exactly what A1T2 alone would see: its
# text *is* the A1T2 answer, token for token. Row 0 speaks, reading those words as they come
# (they lead its audio by 1 to 7 steps). Why bother? The paper observes that the model reasons
# better when it answers in text than when it must also produce speech; in the course's recipe
# (notebook 04, `omni_lib.stages`) A1T2 is trained in stages 2 and 3, A1A2 only in stage 3, where
# it shares the model with predicting SNAC codes. Batch-parallel lets the speech borrow the
# text-only row's reasoning, at the cost of a batch of two. The speech can only be as right as the text it follows.

# %%
modes = ("A1A2", "A1T2", "batch-parallel")
answers, seconds = {}, {}
for m in modes:
    t0 = time.perf_counter()
    if m == "batch-parallel":                  # a batch of two per question: one question at a time
        answers[m] = [generate(model, "A1A2", audio_features=f, batch_parallel=True, max_new_steps=MAX_STEPS)
                      for f in features]
    else:                                      # independent questions: all in one batch, each stops on its own
        answers[m] = generate_batch(model, [Request(m, f) for f in features], max_new_steps=MAX_STEPS)
    seconds[m] = time.perf_counter() - t0


def said(g: Generation) -> str:
    return tok.decode([t for t in g.text_ids if t < tok.n_text])


right = {m: [basic_normalise(said(g)) == basic_normalise(r["answer"]) for g, r in zip(gs, questions)]
         for m, gs in answers.items()}
lines = ["| question (held-out voice) | corpus answer | " + " | ".join(modes) + " |", "|---" * (len(modes) + 2) + "|"]
for i, r in enumerate(questions[:6]):
    cells = [f"{'✓' if right[m][i] else '✗'} {said(answers[m][i])!r}<br>{answers[m][i].frames.shape[1]} frames, "
             f"stop `{answers[m][i].stop}`" for m in modes]
    lines.append(f"| {r['question']} | {r['answer']} | " + " | ".join(cells) + " |")
lines.append("| **exact answers** | | " + " | ".join(f"**{sum(right[m])} / {len(questions)}**" for m in modes) + " |")
lines.append("| seconds (all questions) | | " + " | ".join(
    f"{seconds[m]:.1f} ({'one at a time' if m == 'batch-parallel' else 'one batch'})" for m in modes) + " |")
display(Markdown("\n".join(lines)))

same_text = sum(a.text_ids == b.text_ids for a, b in zip(answers["A1T2"], answers["batch-parallel"]))
print(f"batch-parallel text == A1T2 text on {same_text} / {len(questions)} questions")
assert same_text >= len(questions) - 1, "row 1 of batch-parallel is the A1T2 prompt: their text should agree"

# %% [markdown]
# The text of batch-parallel equals A1T2's (row 1 *is* A1T2; a disagreement could only come from
# float rounding between a batch of one and a batch of two flipping a near-tie). Which of A1A2 and
# A1T2 is more often right depends on how well training went: read the counts above for *this*
# model. A1T2 stops at `eot` and has no frames; the two speaking modes stop when layer 6 says
# `eoa`, some frames after the words end. Section 4 streams the longest batch-parallel answer
# of at most 24 frames; here is the plain A1A2 answer to the same question (noise offline):

# %%
def playable(frames: torch.Tensor) -> torch.Tensor:
    """Audio specials inside a frame (a weak model's slip) are played as code 0, as stream() does."""
    return frames.masked_fill(frames >= cfg.audio_codebook_size, 0)


def seconds_of(g: Generation) -> float:
    return g.frames.shape[1] * cfg.samples_per_frame / cfg.sample_rate


# the longest batch-parallel answer up to 24 frames (2 s): a few chunks, and a short run
n_frames = [g.frames.shape[1] for g in answers["batch-parallel"]]
k = max(range(len(questions)), key=lambda i: (n_frames[i] <= 24, n_frames[i] if n_frames[i] <= 24 else -n_frames[i]))
g = answers["A1A2"][k]
print(f"question {k}: {questions[k]['question']!r}")
display(Audio(waves[k].numpy(), rate=16_000, normalize=False))
print(f"A1A2 answer: {said(g)!r}, {g.frames.shape[1]} frames = {seconds_of(g):.2f} s")
display(Audio(codec.decode(playable(g.frames)).numpy(), rate=cfg.sample_rate, normalize=False))

# %% [markdown]
# ### Write it yourself: one batch-parallel step
#
# Complete `my_parallel_step`: from the two rows' last-position logits, take the **audio** from
# row 0 and the **text** from row 1 (greedy, as in every released call), apply the rules from
# step 1 on (forced `pad_t` after the text has ended; `eoa` in layer 6 stops; an `eot` ends the
# text), and build the next input: both rows get the text token, row 0's audio rows its own 7
# values (shifted to their layer's ids), row 1's audio rows `pad_a`.
#
# The loop around it is the plain one: the `[2, 8, T]` prompt through the model once, then one new
# position per step with the backbone's own (Hugging Face) KV cache, all logits of both rows. The
# library's loop uses a preallocated cache and computes only the logits it needs (audio for row 0,
# text for row 1); the tokens must agree.

# %%
def my_parallel_step(out, step, text_ended):
    """Logits of the [A1A2, A1T2] pair -> (text id, audio values [7], next input [2, 8, 1], stop, text_ended)."""
    audio = out.audio_logits[0, :, -1].argmax(-1)                  # (7,) raw values, from the speaking row
    text = int(out.text_logits[1, -1].argmax())                    # from the text-only row
    stop = None
    if step > 0:                                                   # step 0 is kept unchecked (reference)
        if text_ended:
            text = ts.pad_t
        if int(audio[-1]) == ts.eoa:
            stop = "eoa"
        elif text == ts.eot:
            text_ended = True
    feed = torch.empty(2, 8, 1, dtype=torch.long)
    feed[0, :7, 0] = audio + offsets                               # row 0 hears what it said
    feed[1, :7, 0] = pad_a_ids                                     # row 1 stays silent
    feed[:, 7, 0] = text                                           # both rows read the one text
    return text, audio, feed, stop, text_ended


@torch.inference_mode()
def my_batch_parallel(f, max_steps):
    ids = build_batch_parallel(cfg, n_audio=len(f))                # (2, 8, L + 3)
    both = f[None].expand(2, -1, -1)                               # the same question in both rows
    kept, text_ended = [], False
    out = model(ids, both, use_cache=True)                         # the prompt, once
    for step in range(max_steps):
        text, audio, feed, stop, text_ended = my_parallel_step(out, step, text_ended)
        if stop:
            return torch.stack(kept, dim=1), stop
        kept.append(torch.cat([audio, torch.tensor([text])]))      # (8,) raw audio values + text id
        out = model(feed, past_key_values=out.past_key_values, use_cache=True)   # one new position
    return torch.stack(kept, dim=1), "max_steps"


t0 = time.perf_counter()
mine, my_stop = my_batch_parallel(features[0], MAX_STEPS)
my_s = time.perf_counter() - t0
lib = answers["batch-parallel"][0]
print(f"mine: {mine.shape[1]} steps, stop {my_stop} in {my_s:.2f} s; library: {lib.steps} steps, stop {lib.stop} "
      f"in {seconds['batch-parallel'] / len(questions):.2f} s on average")
print("every token equal:", mine.shape == lib.tokens.shape and torch.equal(mine, lib.tokens), "| stop equal:",
      my_stop == lib.stop)
assert torch.equal(mine, lib.tokens) and my_stop == lib.stop

# %% [markdown]
# ## 4. Streaming: speak before the answer is finished
#
# `omni_lib.decode.stream` runs the same loop and yields, in order of arrival, `TextPiece`s
# (decoded text as soon as a token completes a piece), `AudioChunk`s (float32 at 24 kHz) and at
# the end the `Generation`. Frame *f* is complete at step *f + 7*; the streamer decodes it in
# chunks of `chunk_frames` (4 here) **with 3 frames of context on each side** (SNAC's receptive
# field, notebook 01), so the chunks put together equal one decode of all the frames; the price is
# waiting for 3 more frames (256 ms of audio) before a chunk leaves. The tail is flushed at the end.

# %%
def run_stream(**kw):
    items = list(stream(model, "A1A2", codec=codec, tokenizer=tok, audio_features=features[k],
                        batch_parallel=True, max_new_steps=MAX_STEPS, **kw))
    gen = items[-1]
    return ([i for i in items if isinstance(i, TextPiece)], [i for i in items if isinstance(i, AudioChunk)], gen)


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audio specials.*")    # a weak model's slip, played as code 0
    pieces, chunks, gen = run_stream(chunk_frames=4)
streamed = torch.cat([c.audio for c in chunks]) if chunks else torch.zeros(0)
t0 = time.perf_counter()
one_shot = codec.decode(playable(gen.frames))
snac_x = seconds_of(gen) / (time.perf_counter() - t0)
stream_err = (streamed - one_shot).abs().max().item() if len(streamed) == len(one_shot) else float("inf")
print(f"text {said(gen)!r} in {len(pieces)} pieces; {gen.frames.shape[1]} frames in {len(chunks)} audio chunks "
      f"at steps {[c.step for c in chunks]}")
print(f"stream == one-shot decode: {len(streamed)} == {len(one_shot)} samples, max |diff| = {stream_err:.1e} "
      f"(tolerance 1e-5)")
assert torch.equal(gen.tokens, answers["batch-parallel"][k].tokens), "streaming decodes the same tokens"
assert stream_err <= 1e-5
display(Audio(streamed.numpy(), rate=cfg.sample_rate, normalize=False))

# %% [markdown]
# ### When did each piece arrive?
#
# Wall-clock time since the stream started (Whisper had already run: the features were computed
# in section 1). The bottom lane plays each chunk as soon as it arrives and the previous one has
# finished: a gap there is a stall a listener would hear.
#
# Two costs set the first-audio time: the **steps** up to the first chunk (frame 0 is complete at
# step 7; a 4-frame chunk with 3 frames of right context waits for frame 6, step 13), and the
# **SNAC decode** of that chunk with its context. On a CPU core shared with other work the SNAC
# decoder, not the tiny LM, is the slow part: compare the text lane (one token per step) with the
# audio lane, and the decoder's speed printed below. Context is not free: a 4-frame chunk is
# decoded with up to 6 frames around it, up to 2.5 times the work of decoding it alone, so unless
# SNAC runs 2.5 times faster than real time the chunks fall behind the playback (gaps in the
# bottom lane). Larger chunks pay the context less often, at a later first audio.

# %%
def playback(chunks):
    """(start, end) in ms of each chunk, played on arrival and after the previous one."""
    spans, end = [], 0.0
    for c in chunks:
        start = max(1000 * c.t, end)
        end = start + 1000 * len(c.audio) / cfg.sample_rate
        spans.append((start, end))
    return spans


def timeline(ax, pieces, chunks, title, words=True):
    t = [1000 * p.t for p in pieces]
    ax.plot(t, [2] * len(t), "o", color="#4477aa")
    span = max([1000 * c.t for c in chunks] + t + [1.0])
    if not t:
        pass
    elif words and t[-1] - t[0] > 0.1 * span:                        # room for a label per piece
        for p, x in zip(pieces, t):
            ax.annotate(p.text.strip(), (x, 2), xytext=(0, 7), textcoords="offset points", fontsize=8, rotation=45)
    elif words:                                                    # the pieces came too fast to label apart
        ax.annotate(f"{''.join(p.text for p in pieces).strip()!r}: {len(t)} pieces, {t[0]:.0f}-{t[-1]:.0f} ms",
                    (t[-1], 2), xytext=(6, 7), textcoords="offset points", fontsize=8)
    for c in chunks:
        ax.plot(1000 * c.t, 1, "s", color="#228833")
        ax.annotate(f"step {c.step}", (1000 * c.t, 1), xytext=(0, 7), textcoords="offset points", fontsize=7)
    for i, (a, b) in enumerate(playback(chunks)):
        ax.barh(0, b - a, left=a, height=0.5, color=["#228833", "#88cc99"][i % 2])
    ax.set_yticks([0, 1, 2], ["playing", "audio chunk ready", "text piece"])
    ax.set_ylim(-0.6, 2.9)
    ax.set_xlabel("ms since the stream started")
    ax.set_title(title)


first_text_ms = 1000 * pieces[0].t if pieces else float("nan")
first_audio_ms = 1000 * chunks[0].t if chunks else float("nan")
fig, ax = plt.subplots(figsize=(13, 3.2))
timeline(ax, pieces, chunks, f"streaming with context: first text {first_text_ms:.0f} ms, "
                             f"first audio {first_audio_ms:.0f} ms")
fig.tight_layout()
plt.show()
stalls = sum(b2[0] > b1[1] + 1 for b1, b2 in zip(playback(chunks), playback(chunks)[1:]))
print(f"steps: {1000 * (pieces[-1].t - pieces[0].t) / max(1, pieces[-1].step - pieces[0].step) if pieces else 0:.0f} "
      f"ms each while text streamed; SNAC decoded this answer at {snac_x:.1f}x real time in one piece; "
      f"{stalls} stall(s) between chunks")

# %% [markdown]
# ### The released code's streaming, for comparison
#
# `reference_mode=True` does what the released code does: chunks of 4 frames leave at steps 10,
# 14, 18, ..., each **decoded alone**, and the frames after the last full chunk are never sent.
# A sample near a chunk edge then misses the frames on the other side of the edge: its seams
# differ from the one-shot decode (listen for clicks with the real SNAC).

# %%
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audio specials.*")
    ref_pieces, ref_chunks, ref_gen = run_stream(reference_mode=True)
assert torch.equal(ref_gen.tokens, gen.tokens)
ref = torch.cat([c.audio for c in ref_chunks]) if ref_chunks else torch.zeros(0)
n = len(ref)
ref_err = (ref - one_shot[:n]).abs().max().item() if n else float("nan")
print(f"reference mode: chunks at steps {[c.step for c in ref_chunks]}, {n} of {len(one_shot)} samples sent "
      f"({(len(one_shot) - n) / cfg.sample_rate * 1000:.0f} ms of tail dropped); "
      f"max |diff| against the one-shot decode: {ref_err:.3f}")

fig, axes = plt.subplots(2, 1, figsize=(13, 5.5))
timeline(axes[0], ref_pieces, ref_chunks, words=False, title=f"reference mode: first audio {1000 * ref_chunks[0].t:.0f} ms"
         if ref_chunks else "reference mode: no full chunk")
ms = np.arange(len(one_shot)) / cfg.sample_rate * 1000
axes[1].plot(ms, (streamed - one_shot).abs().numpy(), lw=0.6, label=f"with context (max {stream_err:.0e})")
if n:
    axes[1].plot(ms[:n], (ref - one_shot[:n]).abs().numpy(), lw=0.6, color="#ee6677",
                 label=f"reference mode (max {ref_err:.2f})")
for e in range(1, len(ref_chunks) + 1):
    axes[1].axvline(e * len(ref_chunks[0].audio) / cfg.sample_rate * 1000, color="grey", ls=":", lw=0.8)
if n < len(one_shot):
    axes[1].axvspan(ms[n - 1] if n else 0, ms[-1], color="#dddddd", label="tail never sent (reference)")
axes[1].set_xlabel("ms of the answer"); axes[1].set_ylabel("|stream - one-shot|")
axes[1].set_title("error against one decode of all frames; dotted: the reference's chunk edges")
axes[1].legend(loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()
if n:
    display(Audio(ref.numpy(), rate=cfg.sample_rate, normalize=False))

# %%
wall = time.perf_counter() - t_start
report("05", steps=S, ms_per_step=float(np.median(step_ms[1:])),
       a1a2_right=sum(right["A1A2"]), a1t2_right=sum(right["A1T2"]), parallel_right=sum(right["batch-parallel"]),
       questions=len(questions), stream_max_err=stream_err, reference_max_err=ref_err,
       first_audio_ms=first_audio_ms, wall_s=wall)

# %% [markdown]
# ## Summary
# * One loop (`decode_steps`) serves every task: 7 audio tokens + 1 text token per step, each fed
#   back in its row; text leads, audio layer *j* lags *j + 1* steps; `eot` then `pad_t`; `eoa` in
#   layer 6 stops.
# * **Batch-parallel** = [A1A2, A1T2] as a batch of two: audio from row 0, text from row 1, the
#   text fed to both. Its text is A1T2's; its speech follows that text.
# * **Streaming** (`stream`) yields text pieces and audio chunks as they exist; chunks decoded
#   with 3 frames of context each side equal the one-shot decode (max error printed above,
#   tolerance 1e-5). The released code's chunks, decoded alone, have seams and lose the tail.
# * From the command line: `python -m omni_lib.chat --ckpt build/tiny/stage3/model --audio q.wav`;
#   the speed of the full-size model: `python -m omni_lib.bench decode --preset mini-omni`.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`06_parallel_step`](../exercises/06_parallel_step/README.md): one batch-parallel decoding step,
#   graded against `omni_lib.decode`. Grade it: `python -m omni_lib.grade 06_parallel_step`.
# * [`07_streaming`](../exercises/07_streaming/README.md): a streaming chunker with context.
#   Grade it: `python -m omni_lib.grade 07_streaming`.
#
# **In this notebook:**
# 1. Give `stream` `chunk_frames=1` and `chunk_frames=8`: how do the first-audio time and the
#    number of SNAC calls change?
# 2. Sample instead of argmax (`Sampling(text=SamplingParams(0.9, top_k=50), seed=0)`): does
#    batch-parallel still give A1T2's text?
#
# ---
# **Previous:** [04 · three-stage training](04_three_stage_training.ipynb) · **Next:**
# [06 · LibriSpeech WER](06_librispeech_wer.ipynb): scoring the model's ears.
