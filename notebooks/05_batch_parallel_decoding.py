# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
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
# Notebook 04 trained the `tiny` model to answer a spoken question in text and in audio codes (the
# course codec's, in SNAC's 7-token frame layout: notebook 01). Here we make it talk, and let a
# speech recogniser judge what it says:
#
# 1. **one step at a time**: every step the model emits 8 tokens, 7 audio (one per audio layer,
#    each layer one step later than the previous) and 1 text; watch the delayed grid fill up;
# 2. **three ways to answer** a spoken question: A1A2 (speech and text), A1T2 (text only) and
#    **batch-parallel** (both at once, the speech following the text-only row's words); Whisper-base
#    transcribes the spoken answers;
# 3. **streaming**: text pieces and audio chunks leave as soon as they exist; the streamed speech
#    should say the same words as decoding the whole answer at once.
#
# **Goals.** Write one batch-parallel step yourself and check it token for token against
# `omni_lib.decode`; see why batch-parallel answers like the text-only task; hear the answers and
# count how many say the right thing; stream an answer and see when each piece arrived; measure
# what the released code's streaming loses.

# %% tags=["parameters"]
PRESET = "tiny"
N_QUESTIONS = 24    # held-out-voice questions answered in the three ways of section 3
CHUNK_FRAMES = 4    # frames per streamed audio chunk in section 4 (the library's default)
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
from omni_lib.by_ear import listener, spoken_form, transcribe, voice
from omni_lib.codec import playable, speaking_codec
from omni_lib.course import report
from omni_lib.decode import AudioChunk, Generation, Request, TextPiece, decode_steps, generate, generate_batch, stream
from omni_lib.delay import undelay
from omni_lib.encoder import WhisperEncoder
from omni_lib.mel_codec import log_mel
from omni_lib.model import OmniModel
from omni_lib.prepare import read_manifest
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
# is missing). The Whisper encoder is frozen and not saved with it: we attach it again.
#
# The codec must be the one the training codes came from. The released Mini-Omni speaks through
# SNAC, whose weights come from the Hugging Face hub. The course's tiny model speaks through the
# **course codec** of notebook 01 (a residual VQ of a log-mel spectrogram in SNAC's exact 7-token
# frames, Griffin-Lim to make a waveform). It works offline, and the codec alone is intelligible,
# if buzzy: Whisper-base transcribes its round trip of the assistant's answers about as well as
# the recordings. Whether the *model's* speech is intelligible is another question, measured
# below. Training keeps the codec beside the weights (`codec.pt`); `speaking_codec(model.cfg,
# path)` returns it (and SNAC for a model trained on SNAC codes).
#
# A text answer can be compared with the corpus's answer directly; a spoken one has to be *heard*.
# So a recogniser listens: Whisper-base with its decoder (`omni_lib.by_ear.listener`), loaded
# once here. It only judges: it is not part of the model.
#
# The questions come from the course corpus, spoken by the two `test-voices`: voices the model
# never heard in training.

# %%
path = course_checkpoint()
model = OmniModel.from_pretrained(path)
cfg = model.cfg
model.attach_whisper(WhisperEncoder.from_config(cfg))
tok = TextTokenizer.load(path / "text_tokenizer.json")
codec = speaking_codec(cfg, path)                                 # the codec of its training codes
t0 = time.perf_counter()
ears = listener("base")                                           # Whisper-base, to hear what it says
print(f"Whisper-base (the listener) loaded in {time.perf_counter() - t0:.1f} s")
ts = TokenSpace(cfg)
offsets = ts.audio_offsets()[:, 0]                                 # (7,) first id of each audio layer
pad_a_ids = torch.tensor([ts.audio_id(ts.pad_a, j) for j in range(cfg.n_audio_layers)])
print(f"model {path}: {sum(p.numel() for p in model.parameters()):,} parameters, {cfg.n_layer} blocks of "
      f"width {cfg.n_embd}")
print(f"codec: {codec.kind}, " + ("the course codec (notebook 01), codebooks of "
      f"{codec.codes_per_layer[:3]} entries (coarse, mid, fine)"
      if codec.kind == "mel-rvq" else "SNAC, as the released model"))


def audible(wave: torch.Tensor) -> np.ndarray:
    """A waveform for Audio(normalize=False), scaled down only if it overshoots [-1, 1] (Griffin-Lim can)."""
    return (wave / max(1.0, float(wave.abs().max()) if len(wave) else 0.0)).numpy()


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
_, n_unplayable = playable(inside, codec)                          # pad_a/eoa, or codes past the codebook
print(f"values the codec cannot decode where an audio code belongs: {n_unplayable} of {inside.numel()} "
      f"(a well-trained model writes none; they are played as code 0)")

# %% [markdown]
# Read the grid column by column. Training (notebook 04) delayed the audio targets exactly like
# this, so a trained model writes `pad_a` in layer *j*'s row before its first frame and audio
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
# it shares the model with predicting audio codes. Batch-parallel lets the speech borrow the
# text-only row's reasoning, at the cost of a batch of two. The speech can only be as right as the text it follows.
#
# **By ear.** The two speaking modes' answers are decoded by the codec (`omni_lib.by_ear.voice`)
# and transcribed by Whisper-base. A spoken answer is *heard right* when the transcript equals the
# corpus answer in spoken form (`omni_lib.by_ear.spoken_form`: case, punctuation, Whisper's "4"
# as the corpus's "four"), and it *says its text* when the transcript equals the model's own text answer.

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


def same_words(a: str, b: str) -> bool:
    """Equal in spoken form (numbers as words, no case or punctuation; an empty transcript never counts)."""
    return bool(spoken_form(a)) and spoken_form(a) == spoken_form(b)


right = {m: [basic_normalise(said(g)) == basic_normalise(r["answer"]) for g, r in zip(gs, questions)]
         for m, gs in answers.items()}

speaking = ("A1A2", "batch-parallel")                              # A1T2 has no speech
# an A1A2 answer whose frames equal batch-parallel's is the same speech: decoded and heard once
differ = [i for i, (a, b) in enumerate(zip(answers["A1A2"], answers["batch-parallel"]))
          if not torch.equal(a.frames, b.frames)]
t0 = time.perf_counter()
spoken = {"batch-parallel": [voice(codec, g.frames) for g in answers["batch-parallel"]]}     # 24 kHz waves
spoken["A1A2"] = [voice(codec, g.frames) if i in differ else w
                  for i, (g, w) in enumerate(zip(answers["A1A2"], spoken["batch-parallel"]))]
decode_s = time.perf_counter() - t0
t0 = time.perf_counter()
heard = {"batch-parallel": transcribe(ears, spoken["batch-parallel"])}          # what Whisper-base hears
extra = dict(zip(differ, transcribe(ears, [spoken["A1A2"][i] for i in differ])))
heard["A1A2"] = [extra.get(i, h) for i, h in enumerate(heard["batch-parallel"])]
hear_s = time.perf_counter() - t0
heard_right = {m: [same_words(h, r["answer"]) for h, r in zip(heard[m], questions)] for m in speaking}
says_text = {m: [same_words(h, said(g)) for h, g in zip(heard[m], answers[m])] for m in speaking}
n_spoken = sum(len(w) for m in speaking for w in spoken[m]) / cfg.sample_rate
print(f"{2 * len(questions)} spoken answers ({n_spoken:.0f} s of speech; {len(questions) + len(differ)} different): "
      f"decoded in {decode_s:.1f} s, transcribed by Whisper-base in {hear_s:.1f} s")

lines = ["| question (held-out voice) | corpus answer | " + " | ".join(modes) + " |", "|---" * (len(modes) + 2) + "|"]
for i, r in enumerate(questions[:6]):
    cells = []
    for m in modes:
        g = answers[m][i]
        cell = f"{'✓' if right[m][i] else '✗'} {said(g)!r}<br>{g.frames.shape[1]} frames, stop `{g.stop}`"
        if m in speaking:
            cell += f"<br>heard: {'✓' if heard_right[m][i] else '✗'} {heard[m][i]!r}"
        cells.append(cell)
    lines.append(f"| {r['question']} | {r['answer']} | " + " | ".join(cells) + " |")
lines.append("| **exact text answers** | | " + " | ".join(f"**{sum(right[m])} / {len(questions)}**" for m in modes) + " |")
lines.append("| **heard right** (Whisper-base) | | " + " | ".join(
    f"**{sum(heard_right[m])} / {len(questions)}**" if m in speaking else "no speech" for m in modes) + " |")
lines.append("| speech says its own text | | " + " | ".join(
    f"{sum(says_text[m])} / {len(questions)}" if m in speaking else "" for m in modes) + " |")
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
# `eoa`, some frames after the words end.
#
# *Heard right* counts the speech, not the text, and here the two part ways: compare the text
# counts with the heard ones, and the "speech says its own text" line. A likely reason: notebook
# 04's code accuracy is teacher-forced (each step is given the right previous codes), while here
# the model feeds back its own, and a few wrong codes are enough for Whisper to hear a slurred or
# different word. Is it the codec? Below, the corpus's own recording of the answer goes through
# the codec alone (encode, decode): the speech a perfect model would make (a training answer, one
# the codec was fitted on). The question played is the one section 4 streams: a batch-parallel
# answer Whisper heard right (if any), at most 24 frames, and preferably not a whole number of
# 4-frame chunks (so the released code's streaming has a tail to lose).

# %%
def seconds_of(g: Generation) -> float:
    return g.frames.shape[1] * cfg.samples_per_frame / cfg.sample_rate


# heard right first, then at most 24 frames (2 s: a few chunks, a short run), then a tail, then the longest
n_frames = [g.frames.shape[1] for g in answers["batch-parallel"]]
k = max(range(len(questions)), key=lambda i: (heard_right["batch-parallel"][i], n_frames[i] <= 24,
                                              n_frames[i] % 4 != 0, n_frames[i] if n_frames[i] <= 24 else -n_frames[i]))
print(f"question {k}: {questions[k]['question']!r}")
display(Audio(waves[k].numpy(), rate=16_000, normalize=False))
for m in ("batch-parallel", "A1A2") if k in differ else ("batch-parallel",):   # A1A2: if it said something else
    g = answers[m][k]
    print(f"{m} answer, text: {said(g)!r}; {g.frames.shape[1]} frames = {seconds_of(g):.2f} s of speech\n"
          f"  Whisper-base heard: {heard[m][k]!r} ({'right' if heard_right[m][k] else 'not the corpus answer'})")
    display(Audio(audible(spoken[m][k]), rate=cfg.sample_rate, normalize=False))
reference = load_audio(corpus / questions[k]["answer_audio"], target_rate=cfg.sample_rate)
through_codec = codec.decode(codec.encode(reference, cfg.sample_rate))     # the codec alone: a perfect model
heard_codec = transcribe(ears, [through_codec])[0]
print(f"the corpus answer {questions[k]['answer']!r} through the codec alone: Whisper-base heard {heard_codec!r}")
display(Audio(audible(through_codec), rate=cfg.sample_rate, normalize=False))

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
# the end the `Generation`. Frame *f* is complete at step *f + 7*; a `StreamingDecoder` decodes the
# frames in chunks of `chunk_frames` (4 here), each together with a few frames of **context** on
# either side, keeps the chunk's own samples, and flushes the tail at the end.
#
# How much context depends on the codec. SNAC is a stack of convolutions: with 3 frames on each
# side (its receptive field, notebook 01) a chunk comes out exactly as in a one-shot decode. The
# course codec's Griffin-Lim works on windows of 2,048 samples, one frame, so 1 frame on each side
# covers every window that crosses a chunk's edge. But Griffin-Lim guesses the phase of each chunk
# on its own, so the chunks cannot equal a one-shot decode, and two neighbours would click where
# their phases meet: the streamer **cross-fades** them over 512 samples (21 ms), from the previous
# decode's guess of those samples (its right context) into the next chunk's.
#
# Equality is not the test here; what is heard is. Below: Whisper's transcripts of the streamed
# and the one-shot decode, and the distance between their log-mel spectrograms (notebook 01's
# measure), beside the codec's own error: the one-shot decode against the mel its codes describe.

# %%
left_ctx, right_ctx = codec.context_frames()
print(f"{codec.kind} codec: {left_ctx} frame(s) of left context, {right_ctx} of right context, "
      f"cross-fade {codec.crossfade_samples} samples")


def run_stream(**kw):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cannot decode.*")   # a weak model's slip, played as code 0
        items = list(stream(model, "A1A2", codec=codec, tokenizer=tok, audio_features=features[k],
                            batch_parallel=True, max_new_steps=MAX_STEPS, **kw))
    gen = items[-1]
    return ([i for i in items if isinstance(i, TextPiece)], [i for i in items if isinstance(i, AudioChunk)], gen)


def mel_rows(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Two equal-length waves -> per mel row (21.3 ms) the mean |log-mel difference| over the 80 bands."""
    return np.abs(log_mel(a.numpy()) - log_mel(b.numpy())).mean(axis=1)


pieces, chunks, gen = run_stream(chunk_frames=CHUNK_FRAMES)
assert torch.equal(gen.tokens, answers["batch-parallel"][k].tokens), "streaming decodes the same tokens"
streamed = torch.cat([c.audio for c in chunks]) if chunks else torch.zeros(0)
t0 = time.perf_counter()
one_shot = voice(codec, gen.frames)                                # [F * 2048]: all frames in one decode
codec_x = seconds_of(gen) / (time.perf_counter() - t0)
assert len(streamed) == len(one_shot), "with the flushed tail, the stream is as long as the one-shot decode"
heard_stream, heard_once = transcribe(ears, [streamed, one_shot])
stream_same = same_words(heard_stream, heard_once)
stream_rows = mel_rows(streamed, one_shot)                         # [4F]
stream_mel = float(stream_rows.mean())
codes_mel = (float(np.abs(log_mel(one_shot.numpy()) - codec.mel(playable(gen.frames, codec)[0])).mean())
             if hasattr(codec, "mel") else float("nan"))
first_audio_step = chunks[0].step if chunks else None
print(f"text {said(gen)!r} in {len(pieces)} pieces; {gen.frames.shape[1]} frames in {len(chunks)} audio chunks "
      f"at steps {[c.step for c in chunks]} (the last one: the flushed tail)")
print(f"Whisper-base heard  streamed: {heard_stream!r}\n"
      f"                    one-shot: {heard_once!r}\n"
      f"  same words (spoken form): {stream_same}; the corpus answer: {questions[k]['answer']!r}")
print(f"log-mel distance, streamed vs one-shot: {stream_mel:.3f}; one-shot vs the mel its codes describe "
      f"(Griffin-Lim's own error): {codes_mel:.3f}")
print(f"samples: {len(streamed)} streamed, {len(one_shot)} one-shot; not sample-equal (max |diff| "
      f"{(streamed - one_shot).abs().max().item():.2f}): each chunk's phase is guessed on its own")
print("streamed:")
display(Audio(audible(streamed), rate=cfg.sample_rate, normalize=False))
print("one-shot decode:")
display(Audio(audible(one_shot), rate=cfg.sample_rate, normalize=False))

# %% [markdown]
# ### When did each piece arrive?
#
# Wall-clock time since the stream started (Whisper had already run: the features were computed
# in section 1). The bottom lane plays each chunk as soon as it arrives and the previous one has
# finished: a gap there is a stall a listener would hear.
#
# Two costs set the first-audio time. The **steps** up to the first chunk: frame 0 is complete at
# step 7, so a chunk of *c* frames with *r* frames of right context can leave at step *c + r + 6*
# (for SNAC's *r* = 3 that is 3 steps later than for the course codec's *r* = 1). And the
# **decode** of that chunk with its context. Context is not free: a *c*-frame chunk is decoded
# with up to *l + r* frames around it, up to *(l + c + r) / c* times the work of decoding it alone;
# unless the codec decodes that much faster than real time, the chunks fall behind the playback.
# Chunks of 1 frame give the earliest audio and pay the context (and a cross-fade) on every frame:
# does the stream still say the same words?

# %%
def playback(chunks):
    """(start, end) in ms of each chunk, played on arrival and after the previous one."""
    spans, end = [], 0.0
    for c in chunks:
        start = max(1000 * c.t, end)
        end = start + 1000 * len(c.audio) / cfg.sample_rate
        spans.append((start, end))
    return spans


def stalls(chunks) -> int:
    spans = playback(chunks)
    return sum(b[0] > a[1] + 1 for a, b in zip(spans, spans[1:]))


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


pieces1, chunks1, gen1 = run_stream(chunk_frames=1)                # the earliest audio
assert torch.equal(gen1.tokens, gen.tokens)
streamed1 = torch.cat([c.audio for c in chunks1]) if chunks1 else torch.zeros(0)
heard_stream1 = transcribe(ears, [streamed1])[0]
first_text_ms = 1000 * pieces[0].t if pieces else float("nan")
first_audio_ms = 1000 * chunks[0].t if chunks else float("nan")
first_audio_ms_1 = 1000 * chunks1[0].t if chunks1 else float("nan")
runs = {CHUNK_FRAMES: (pieces, chunks, heard_stream), 1: (pieces1, chunks1, heard_stream1)}

fig, axes = plt.subplots(2, 1, figsize=(13, 6.2))
for ax, (c, (p_, ch, _)) in zip(axes, runs.items()):
    timeline(ax, p_, ch, f"chunks of {c} frame{'s' * (c > 1)}: first text {1000 * p_[0].t:.0f} ms, first audio "
             f"{1000 * ch[0].t:.0f} ms (step {ch[0].step})" if p_ and ch else f"chunks of {c}: nothing streamed")
fig.tight_layout()
plt.show()
ms_step = 1000 * (pieces[-1].t - pieces[0].t) / max(1, pieces[-1].step - pieces[0].step) if pieces else 0
print(f"steps took {ms_step:.0f} ms each while the text streamed; the codec decoded this answer at "
      f"{codec_x:.1f}x real time in one piece")
display(Markdown("\n".join(
    ["| chunks of | first audio: step | first audio: ms | codec calls | decode work, at most | stalls | "
     "Whisper heard | same words as one-shot |", "|---|---|---|---|---|---|---|---|"]
    + [f"| {c} frame{'s' * (c > 1)} | {ch[0].step if ch else '-'} | {1000 * ch[0].t if ch else float('nan'):.0f} | "
       f"{len(ch)} | {(left_ctx + c + right_ctx) / c:.1f}x | {stalls(ch)} | {h!r} | "
       f"{'yes' if same_words(h, heard_once) else '**no**'} |" for c, (_, ch, h) in runs.items()])))

# %% [markdown]
# ### The released code's streaming, for comparison
#
# `reference_mode=True` does what the released code does: chunks of 4 frames leave at steps 10,
# 14, 18, ..., each **decoded alone** (no context, no cross-fade), and the frames after the last
# full chunk are never sent. With SNAC, our chunks equal the one-shot decode and the released
# ones do not, a sample comparison shows it exactly (notebook 01). With the course codec neither
# stream is sample-equal to the one-shot decode, so we compare what can be measured: the tail that
# was never sent, what Whisper hears, and the log-mel distance to the one-shot decode, row by row,
# **at the chunk edges** (within one mel row of an edge) and **elsewhere**: a seam shows as a
# larger distance at the edges.

# %%
def at_edges(rows: np.ndarray, chunk: int) -> tuple[float, float]:
    """Mean of a per-row distance within one mel row of a chunk edge, and over the other rows."""
    per, r = 4 * chunk, np.arange(len(rows))                       # 4 mel rows per frame
    near = ((r % per == 0) | (r % per == per - 1)) & (r > 0) & (r < len(rows) - 1)
    return (float(rows[near].mean()) if near.any() else float("nan"),
            float(rows[~near].mean()) if (~near).any() else float("nan"))


ref_pieces, ref_chunks, ref_gen = run_stream(reference_mode=True)
assert torch.equal(ref_gen.tokens, gen.tokens)
ref = torch.cat([c.audio for c in ref_chunks]) if ref_chunks else torch.zeros(0)
n = len(ref)
ref_tail_ms = (len(one_shot) - n) / cfg.sample_rate * 1000
heard_ref = transcribe(ears, [ref])[0] if n else ""
ref_rows = mel_rows(ref, one_shot[:n]) if n else np.zeros(0)      # over the part the reference sent
ref_chunk = len(ref_chunks[0].audio) // cfg.samples_per_frame if ref_chunks else 4
ours_edge, ours_else = at_edges(stream_rows[: len(ref_rows)], CHUNK_FRAMES)
ref_edge, ref_else = at_edges(ref_rows, ref_chunk)
ref_mel = float(ref_rows.mean()) if n else float("nan")
display(Markdown("\n".join([
    "| stream | chunks at steps | sent | tail never sent | Whisper heard | same words as one-shot | "
    "log-mel distance to one-shot: at chunk edges / elsewhere |", "|---|---|---|---|---|---|---|",
    f"| ours: context + cross-fade + tail | {[c.step for c in chunks]} | {len(streamed) / cfg.sample_rate:.2f} s | "
    f"0 ms | {heard_stream!r} | {'yes' if stream_same else '**no**'} | {ours_edge:.3f} / {ours_else:.3f} |",
    f"| release-style: alone, no tail | {[c.step for c in ref_chunks]} | {n / cfg.sample_rate:.2f} s | "
    f"{ref_tail_ms:.0f} ms | {heard_ref!r} | {'yes' if same_words(heard_ref, heard_once) else '**no**'} | "
    f"{ref_edge:.3f} / {ref_else:.3f} |",
    f"| one-shot decode | | {len(one_shot) / cfg.sample_rate:.2f} s | | {heard_once!r} | | |"])))

fig, axes = plt.subplots(2, 1, figsize=(13, 5.5))
timeline(axes[0], ref_pieces, ref_chunks, words=False, title=f"reference mode: first audio {1000 * ref_chunks[0].t:.0f} ms"
         if ref_chunks else "reference mode: no full chunk")
row_ms = np.arange(len(stream_rows)) * 512 / cfg.sample_rate * 1000    # a mel row every 512 samples
axes[1].plot(row_ms, stream_rows, lw=0.8, label=f"ours (mean {stream_mel:.2f})")
if n:
    axes[1].plot(row_ms[: len(ref_rows)], ref_rows, lw=0.8, color="#ee6677", label=f"reference mode (mean {ref_mel:.2f})")
for e in range(1, len(ref_chunks) + 1):
    axes[1].axvline(e * ref_chunk * cfg.samples_per_frame / cfg.sample_rate * 1000, color="grey", ls=":", lw=0.8)
if n < len(one_shot):
    axes[1].axvspan(n / cfg.sample_rate * 1000, len(one_shot) / cfg.sample_rate * 1000, color="#dddddd",
                    label="tail never sent (reference)")
axes[1].set_xlabel("ms of the answer"); axes[1].set_ylabel("mean |log-mel difference|")
axes[1].set_title("each stream against the one-shot decode, per mel row; dotted: the 4-frame chunk edges")
axes[1].legend(loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()
if n:
    print("reference mode:")
    display(Audio(audible(ref), rate=cfg.sample_rate, normalize=False))

# %%
wall = time.perf_counter() - t_start
report("05", steps=S, ms_per_step=float(np.median(step_ms[1:])), codec=codec.kind,
       a1a2_right=sum(right["A1A2"]), a1t2_right=sum(right["A1T2"]), parallel_right=sum(right["batch-parallel"]),
       heard_right=sum(heard_right["batch-parallel"]), a1a2_heard_right=sum(heard_right["A1A2"]),
       says_its_text=sum(says_text["batch-parallel"]), questions=len(questions),
       codec_alone_right=same_words(heard_codec, questions[k]["answer"]),
       stream_same_words=stream_same, stream_mel_dist=stream_mel, reference_mel_dist=ref_mel,
       reference_tail_ms=ref_tail_ms, first_audio_step=first_audio_step, first_audio_ms=first_audio_ms,
       first_audio_step_1frame=chunks1[0].step if chunks1 else None, wall_s=wall)

# %% [markdown]
# ## Summary
# * One loop (`decode_steps`) serves every task: 7 audio tokens + 1 text token per step, each fed
#   back in its row; text leads, audio layer *j* lags *j + 1* steps; `eot` then `pad_t`; `eoa` in
#   layer 6 stops.
# * **Batch-parallel** = [A1A2, A1T2] as a batch of two: audio from row 0, text from row 1, the
#   text fed to both. Its text is A1T2's; its speech follows that text.
# * The course model speaks through the course codec (notebook 01; the released model through
#   SNAC), and Whisper-base can check what it says: the "heard right" counts above.
# * **Streaming** (`stream`) yields text pieces and audio chunks as they exist. Each chunk is decoded
#   with the codec's context: with SNAC (3 frames each side) the chunks equal the one-shot decode;
#   with the course codec (1 frame each side, a 512-sample cross-fade) they differ in phase, and
#   the test is by ear (the transcripts above). The released code's chunks, decoded alone, lose the tail.
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
# 1. Give `stream` `chunk_frames=2` and `chunk_frames=8`: how do the first-audio time, the number
#    of codec calls and the stalls change? Does Whisper still hear the same words?
# 2. Sample instead of argmax (`Sampling(text=SamplingParams(0.9, top_k=50), seed=0)`): does
#    batch-parallel still give A1T2's text?
#
# ---
# **Previous:** [04 · three-stage training](04_three_stage_training.ipynb) · **Next:**
# [06 · LibriSpeech WER](06_librispeech_wer.ipynb): scoring the model's ears.
