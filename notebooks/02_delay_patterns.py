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
# # 02 · Eight rows and a delay: how Mini-Omni talks while it thinks
#
# **You are here:** 00 tour → 01 SNAC tokens → **02 token space & delay** → 03 eight-head model →
# 04 three-stage training → 05 batch-parallel & streaming decoding → 06 LibriSpeech WER
#
# In [01](01_snac_tokenization.ipynb) speech became frames of 7 SNAC codes, 11.72 frames per
# second. Mini-Omni predicts those 7 codes *and* one text token at every step: eight tokens per
# position. This notebook builds the two ideas that make that work:
#
# 1. **one token space** of 181,120 ids shared by text and the 7 audio layers, and the
#    **eight-row input layout** of each task (speech or text in, speech or text out);
# 2. the **delay pattern**: text token *k* at step *k*, audio layer *j* one step later per layer,
#    so the words are always decided before they are spoken.
#
# **Goals.** By the end you can
# 1. find the id of any text or audio token in the one shared space with `TokenSpace`, not by hand;
# 2. read any Mini-Omni input as an 8 × T grid and say what its last column asks for;
# 3. write the delay yourself and check it against `omni_lib.delay`;
# 4. say why the first complete audio frame comes 7 steps after the first text token.
#
# *CPU time (tiny preset, 2 cores): about 10 s.*

# %% tags=["parameters"]
PRESET = "tiny"  # "mini-omni" gives the released model's exact ids

# %%
import matplotlib.pyplot as plt
import torch

from omni_lib.config import OmniConfig
from omni_lib.course import report
from omni_lib.delay import delay, pad_ids, row_delays, undelay
from omni_lib.text import TextTokenizer
from omni_lib.tokens import TASKS, TokenSpace, build_batch_parallel, build_input
from omni_lib.viz import plot_id_grid

cfg = OmniConfig.from_preset(PRESET)
ts = TokenSpace(cfg)
released = OmniConfig.from_preset("mini-omni")
print(f"preset {cfg.name}: {cfg.padded_vocab_size:,} ids = {cfg.text_vocab_size:,} text "
      f"+ {cfg.n_audio_layers} x {cfg.audio_vocab_size:,} audio")

# %% [markdown]
# ## 1. One token space
#
# The released model has a single embedding table of 181,120 rows and a single output head of the
# same width. Ids are laid out in blocks: Qwen2's text ids, 64 text specials, then one block of
# 4,160 per audio layer (4,096 SNAC codes + 64 audio specials). An audio code `v` of layer `i` is
# fed to the model as `v + 152000 + 4160·i`. The `tiny` preset keeps the audio blocks but uses a
# compact text vocabulary, so its offsets differ: never write these numbers by hand, ask
# `TokenSpace`.

# %%
for c in (released, cfg):
    t = TokenSpace(c)
    print(f"{c.name:>9}: eot={t.eot} pad_t={t.pad_t} input_t={t.input_t} answer_t={t.answer_t} asr={t.asr} | "
          f"audio layer offsets {[t.audio_offset(i) for i in range(c.n_audio_layers)]}")

# %%
fig, ax = plt.subplots(figsize=(11, 1.8))
rts = TokenSpace(released)
ax.barh(0, released.text_special_start, color="#4477aa")
ax.text(released.text_special_start / 2, 0, f"Qwen2 text ids 0..{released.text_special_start - 1:,}",
        ha="center", va="center", color="white")
for i in range(released.n_audio_layers):
    lo = rts.audio_offset(i)
    ax.barh(0, released.audio_vocab_size, left=lo, color=["#228833", "#66aa55"][i % 2], edgecolor="white")
    ax.text(lo + released.audio_vocab_size / 2, 0, f"A{i}", ha="center", va="center", color="white")
ax.annotate(f"64 text specials at {released.text_special_start:,}", xy=(released.text_special_start, -0.4),
            xytext=(released.text_special_start - 60_000, -0.75), arrowprops=dict(arrowstyle="->"),
            annotation_clip=False)
ax.set_yticks([]); ax.set_xlim(0, released.padded_vocab_size); ax.set_ylim(-0.5, 0.5)
ax.set_title("the released token space: 181,120 ids; each audio block = 4,096 codes + 64 specials")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Eight rows per position
#
# Every position carries 8 ids: rows 0–6 are the audio layers, row 7 the text. The model embeds
# all eight in the shared table and **averages** them (notebook 03). A prompt says what comes in
# and what must come out:
#
# * speech in (`A1A2`, `A1T2`, `ASR`): `input` markers, then L positions whose audio rows are
#   replaced by Whisper features, then `eoa`/`eot`;
# * text in (`T1A2`, `T1T2`): the question's text tokens in row 7;
# * the **last column** decides the output: `answer_a` in the audio rows means *speak*, `pad_a`
#   means *stay silent*; `asr` in the text row asks for a transcript.

# %%
tok = TextTokenizer.for_config(cfg)
question = tok.encode("What is seven plus five?")
print("question ids:", question)
fig, axes = plt.subplots(len(TASKS), 1, figsize=(13, 3.2 * len(TASKS)))
for ax, task in zip(axes, TASKS):
    kw = dict(n_audio=6) if task in ("A1A2", "A1T2", "ASR") else dict(text_ids=question)
    plot_id_grid(build_input(task, cfg, **kw), cfg, title=f"{task} prompt", step_labels=False, ax=ax)
plt.show()

# %% [markdown]
# Batch-parallel decoding (notebook 05) runs two of these side by side: row 0 is `A1A2` (it
# speaks), row 1 is `A1T2` (text only). They differ in one id per audio row, the last one:

# %%
bp = build_batch_parallel(cfg, n_audio=6)
print("batch-parallel prompt", tuple(bp.shape), "— columns where the two rows differ:",
      (bp[0] != bp[1]).any(0).nonzero().flatten().tolist())

# %% [markdown]
# ## 3. The delay pattern
#
# While answering, the model emits at step *s* one text token and one code per audio layer. If
# all 8 were for the same moment, the audio of a word would have to be chosen before the word.
# Mini-Omni instead **delays** audio layer *j* by *j + 1* steps:
#
# ```
# step:    0   1   2   3   4   5   6   7   8
# text:   t0  t1  t2  t3  t4  t5  t6  t7  t8  ... eot, then pad_t
# layer0:  .  f0  f1  f2  f3  f4  f5  f6  f7
# layer1:  .   .  f0  f1  f2  f3  f4  f5  f6
# layer6:  .   .   .   .   .   .   .  f0  f1
# ```
#
# Layer 0 (the coarse code) of frame *f* is chosen after text token *f*; layer 6 (the last fine
# code) after layers 0–5 of the same frame. F frames take F + 7 steps.
#
# ### Write it yourself
# Complete `my_delay`: given aligned rows `(8, F)` (rows 0–6 audio, row 7 text), return
# `(8, F + 7)` with each row shifted by its delay and the rest filled with that row's pad id.

# %%
def my_delay(rows: torch.Tensor, pads: torch.Tensor) -> torch.Tensor:
    F = rows.shape[1]
    out = pads.reshape(8, 1).repeat(1, F + 7)      # (8, F+7) all pad
    out[7, :F] = rows[7]                           # text: no delay
    for j in range(7):                             # audio layer j starts at step j + 1
        out[j, j + 1 : j + 1 + F] = rows[j]
    return out


rows = torch.randint(0, 100, (8, 10))
ours = my_delay(rows, pad_ids(cfg))
lib = delay(rows, cfg)
print("my_delay equals omni_lib.delay.delay:", torch.equal(ours, lib))
assert torch.equal(ours, lib)

# %% [markdown]
# ## 4. A spoken answer on the grid
#
# Take a text answer and some audio frames (random SNAC codes here; notebook 01 made real ones).
# The text row is the answer's tokens, then `eot`, then `pad_t` until the audio ends. In the
# model's targets, each audio layer also ends with `eoa`: generation stops when layer 6 says
# `eoa`.

# %%
answer = tok.encode("Twelve.")
F = 12                                             # about one second of speech
g = torch.Generator().manual_seed(0)
codes = torch.randint(0, cfg.audio_codebook_size, (cfg.n_audio_layers, F), generator=g)  # (7, F) raw
text_row = torch.full((F,), ts.pad_t)
text_row[: len(answer)] = torch.tensor(answer)
text_row[len(answer)] = ts.eot
aligned = torch.cat([ts.shift_audio(codes), text_row[None]])       # (8, F) ids
delayed = delay(aligned, cfg)                                       # (8, F + 7)
plot_id_grid(delayed, cfg, title="the answer after the delay: text first, audio layers staggered")
plt.show()
assert torch.equal(undelay(delayed, cfg), aligned)
print("undelay(delay(x)) == x:", True)

# %% [markdown]
# ### Prompt + answer: one training sequence
# Training (notebook 04) concatenates a prompt and its delayed answer; the model learns to predict
# each column from the columns before it. Here is a `T1A2` example (text question, spoken answer):

# %%
prompt = build_input("T1A2", cfg, text_ids=question)
sequence = torch.cat([prompt, delayed], dim=1)
plot_id_grid(sequence, cfg, title="T1A2: prompt | delayed answer", annotate=False)
plt.axvline(prompt.shape[1] - 0.5, color="k", lw=2)
plt.show()

# %% [markdown]
# ## 5. What the delay costs
#
# Step 0 is predicted at the last prompt position. The first complete frame (all 7 layers of
# frame 0) exists after step 7, so the first 85 ms of sound can be decoded after **8 model
# steps**; at the real-time rate of 11.72 steps per second that is 0.68 s of compute if the model
# runs exactly at real time, less if it runs faster (notebook 05 measures it).

# %%
first_full_step = int(row_delays(cfg).max())
steps_per_s = cfg.frames_per_second
print(f"frame 0 complete after step {first_full_step} -> {first_full_step + 1} steps; "
      f"at {steps_per_s:.2f} steps/s that is {(first_full_step + 1) / steps_per_s * 1000:.0f} ms")
report("02", delay_steps=first_full_step, vocab=cfg.padded_vocab_size,
       first_frame_ms_at_realtime=(first_full_step + 1) / steps_per_s * 1000)

# %% [markdown]
# ## Summary
# * One table of `text_vocab_size + 7 × 4,160` ids; ids come from `TokenSpace`, never by hand.
# * Each position has 8 rows; the prompt's last column says speak (`answer_a`) or not (`pad_a`).
# * Audio layer *j* lags *j + 1* steps: text leads, the coarse code follows, fine codes last.
#   `delay`/`undelay` in `omni_lib.delay` are exact inverses and vectorised.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`02_delay`](../exercises/02_delay/README.md): `delay` and `undelay` from scratch (20–30 min).
#   Grade it: `python -m omni_lib.grade 02_delay`.
# * [`03_task_layouts`](../exercises/03_task_layouts/README.md): the 8-row prompt of each task,
#   from the spec's table (25–35 min).
#
# **In this notebook:**
# 1. Run it with `PRESET = "mini-omni"` (`papermill ... -p PRESET mini-omni`): check one audio id
#    of section 1 against the release's `v + 152000 + 4160·i`, e.g. `pad_a` of layer 3.
# 2. Change `my_delay` so that every audio layer lags by one step only. When the model picks the
#    fine codes of frame *f*, which codes of the same frame can it no longer see?
#
# ---
# **Previous:** [01 · SNAC tokenization](01_snac_tokenization.ipynb) · **Next:**
# [03 · the eight-head model](03_eight_head_model.ipynb) embeds these rows, averages them and
# splices in the Whisper features.
