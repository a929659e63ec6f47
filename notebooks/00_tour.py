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
# # 00 · The tour: Mini-Omni on one page
#
# **You are here:** **00 tour** → 01 SNAC tokens → 02 token space & delay → 03 eight-head model →
# 04 three-stage training → 05 batch-parallel & streaming decoding → 06 LibriSpeech WER
#
# [Mini-Omni](https://arxiv.org/abs/2408.16725) is a language model that hears a spoken question
# and answers in speech *while* it writes the answer as text. The course rebuilds it one idea per
# notebook, on a laptop CPU. This notebook is the map: nothing is built here, everything is
# pointed at.
#
# **Goals.** By the end you can
# 1. trace a spoken question through the whole model on one diagram, and name the notebook that
#    builds each part;
# 2. pick your path through the six notebooks and the graded exercises;
# 3. ask the course's tiny model a spoken question, hear its spoken answer, read what a speech
#    recogniser hears in it, and see it step by step (and, with internet, the released Mini-Omni).
#
# *CPU time (tiny preset, 2 cores): 30–60 s; the demo needs the model trained by notebook 04.*

# %% tags=["parameters"]
PRESET = "tiny"                  # sizes drawn beside the released ones; the demo always uses the course model
N_QUESTIONS = 4                  # spoken questions for the tiny model (held-out voices); the first one is played
RELEASED = "gpt-omni/mini-omni"  # the released checkpoint: hub id (with internet) or a downloaded directory

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio, Markdown, display
from matplotlib.patches import FancyBboxPatch, Rectangle

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.by_ear import listener, spoken_form, transcribe, voice
from omni_lib.codec import Codec, playable, speaking_codec
from omni_lib.config import OmniConfig
from omni_lib.course import report
from omni_lib.decode import generate
from omni_lib.encoder import WhisperEncoder
from omni_lib.hub import HubUnavailable, hub_reachable
from omni_lib.model import OmniModel
from omni_lib.prepare import read_manifest
from omni_lib.text import TextTokenizer
from omni_lib.tokens import TokenSpace
from omni_lib.train import COURSE_DIR, course_checkpoint
from omni_lib.viz import plot_id_grid
from omni_lib.wer import basic_normalise

t_start = time.perf_counter()
cfg = OmniConfig.from_preset(PRESET)
released = OmniConfig.from_preset("mini-omni")

# %% [markdown]
# ## 1. The whole model on one page
#
# Follow a spoken question from left to right:
#
# * **ears** (03): a frozen Whisper encoder turns the speech into one vector per 20 ms; a small
#   SwiGLU **adapter** maps them to the language model's width;
# * **one input per position** (02, 03): every position carries 8 ids, 7 audio rows and 1 text
#   row, all looked up in **one table** and **averaged**; where the question's speech is, the
#   adapter output replaces the 7 audio rows;
# * **the language model** (03): Qwen2's decoder blocks, unchanged;
# * **eight heads from one** (02, 03): the head is tied to the table and sliced into 1 text and 7
#   SNAC audio layers. Each step emits 8 tokens; audio layer *j* lags *j + 1* steps behind the
#   text, so every sound is chosen after the words it says (the small grid);
# * **a mouth** (01): each complete 7-token frame goes to the SNAC decoder, 85 ms of 24 kHz audio
#   (the course's tiny model speaks through the *course codec* of 01 instead: SNAC's 7-token
#   frames from a log-mel, decoded offline by Griffin-Lim, as SNAC's weights need the hub);
# * **talking while thinking** (05): batch-parallel decoding runs the question twice, one row
#   speaking and one answering in text only; the speaking row follows the text row's words.
#
# The number in a box's corner is the notebook that builds it; 04 trains the boxes in three
# stages and 06 scores the model's speech recognition.

# %%
# one colour per notebook: where each part of the picture is built
NB_COLOURS = {"01": "#f4a582", "02": "#c2a5cf", "03": "#92c5de", "04": "#fddbc7", "05": "#a6dba0",
              "06": "#d9f0d3", "": "#e0e0e0"}


def both(field: str, fmt: str = "{}") -> str:
    """The released value, with the preset's beside it when they differ: '24 (tiny: 3)'."""
    a, b = getattr(released, field), getattr(cfg, field)
    return fmt.format(a) if a == b else f"{fmt.format(a)} ({cfg.name}: {fmt.format(b)})"


def box(ax, x, y, w, h, text, nb="", size=9.5):
    """A rounded box centred at (x, y), coloured by notebook; returns its four anchor points."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.08,rounding_size=0.2",
                                fc=NB_COLOURS[nb], ec="#333333", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)
    if nb:
        ax.text(x - w / 2 + 0.1, y + h / 2 - 0.08, nb, ha="left", va="top", fontsize=8, fontweight="bold")
    return dict(l=(x - w / 2, y), r=(x + w / 2, y), t=(x, y + h / 2), b=(x, y - h / 2))


def arrow(ax, a, b, text="", **kw):
    ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "-|>", "lw": 1.4, "color": "#333333", **kw})
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.15, text, ha="center", va="bottom", fontsize=8.5)


fig, ax = plt.subplots(figsize=(16, 8.2))
ax.set_xlim(0, 22); ax.set_ylim(0, 10.4); ax.axis("off")
speech_in = box(ax, 1.5, 8.3, 2.5, 1.1, "spoken question\n(A1A2, A1T2, ASR)\nany rate → 16 kHz")
text_in = box(ax, 1.5, 5.2, 2.5, 1.1, "text question\n(T1A2, T1T2)")
whisper = box(ax, 5.0, 8.3, 3.2, 1.5, f"Whisper encoder (frozen)\n{both('whisper_model')}\n"
              f"{both('whisper_window_s', '{:g} s')} window\nL = ms / 20 + 1 vectors", "03")
adapter = box(ax, 8.6, 8.3, 2.6, 1.3, f"adapter (SwiGLU)\n{both('whisper_dim')} →\n{both('n_embd')}", "03")
embed = box(ax, 8.6, 5.2, 3.2, 1.9, f"8-row embedding mean\none table of\n{released.padded_vocab_size:,} ids"
            + (f"\n({cfg.name}: {cfg.padded_vocab_size:,})" if cfg != released else "")
            + "\nadapter output spliced\ninto rows 0–6", "03")
blocks = box(ax, 12.0, 5.2, 2.6, 1.5, f"Qwen2 blocks\n× {both('n_layer')}\nKV cache", "03")
head = box(ax, 15.0, 5.2, 2.4, 1.5, "tied head\n(the same table)\nsliced 1 + 7", "03")
text_out = box(ax, 18.0, 7.3, 2.6, 1.2, "1 text logits\n(text row: no delay)", "02")
audio_out = box(ax, 18.0, 3.2, 2.6, 1.3, "7 SNAC audio logits\nlayer j lags\nj + 1 steps", "02")
text_ans = box(ax, 20.9, 7.3, 1.8, 1.0, "text\nanswer")
snac = box(ax, 20.9, 3.2, 1.8, 1.7, "SNAC\ndecoder\n7-token frames\n→ 24 kHz"
           + (f"\n({cfg.name}: course\ncodec)" if cfg.codec != released.codec else ""), "01")
speech_out = box(ax, 20.9, 1.0, 1.8, 1.0, "spoken\nanswer")
arrow(ax, speech_in["r"], whisper["l"])
arrow(ax, whisper["r"], adapter["l"], "L × D")
arrow(ax, adapter["b"], embed["t"], "rows 0–6,\npositions 1..L")
arrow(ax, text_in["r"], embed["l"], "row 7 (text)")
arrow(ax, embed["r"], blocks["l"])
arrow(ax, blocks["r"], head["l"])
arrow(ax, head["r"], text_out["l"], connectionstyle="angle,angleA=90,angleB=180")
arrow(ax, head["r"], audio_out["l"], connectionstyle="angle,angleA=-90,angleB=180")
arrow(ax, text_out["r"], text_ans["l"])
arrow(ax, audio_out["r"], snac["l"])
arrow(ax, snac["b"], speech_out["t"])
# every step, the 8 sampled tokens go back in, each in its own row
ax.plot([18.0, 18.0, 8.6], [audio_out["b"][1], 1.7, 1.7], color="#2a7f2a", lw=1.6)
arrow(ax, (8.6, 1.7), embed["b"], color="#2a7f2a")
ax.text(13.3, 1.8, "each step: the 8 sampled tokens (1 text + 7 audio) go back in, each in its own row",
        ha="center", va="bottom", fontsize=9, color="#2a7f2a")
# the delay in miniature: the text row from step 0, audio layer j from step j + 1
gx, gy, c = 11.9, 7.15, 0.26
for r in range(8):
    for s in range(11):
        kind = "text" if r == 7 else "audio" if s >= r + 1 else "pad"
        ax.add_patch(Rectangle((gx + s * c, gy + (7 - r) * c), c * 0.9, c * 0.9,
                               fc={"text": "#4477aa", "audio": "#66aa55", "pad": "#dddddd"}[kind]))
for r, name in [(0, "audio 0"), (6, "audio 6"), (7, "text")]:
    ax.text(gx - 0.1, gy + (7.45 - r) * c, name, ha="right", va="center", fontsize=7)
ax.text(gx + 5.5 * c, gy + 8.3 * c, "the output grid (02): step →", ha="center", fontsize=8.5)
box(ax, 11.2, 0.55, 3.6, 0.8, "three-stage training: which\nboxes learn in which stage", "04", size=8.5)
box(ax, 15.2, 0.55, 3.6, 0.8, "ASR (text out) scored\nby word error rate", "06", size=8.5)
box(ax, 3.9, 1.6, 7.2, 2.3, "batch-parallel decoding: a batch of two\n"
    "row 0 = A1A2: speaks (its 7 audio tokens are kept)\n"
    "row 1 = A1T2: answers in text only (its text token is kept)\n"
    "row 1's text token is fed to both rows, so the speech\nfollows the text-only answer", "05", size=9)
ax.set_title("Mini-Omni on one page: the released sizes"
             + (f" ({cfg.name} preset in brackets)" if cfg != released else "")
             + "; the number in a box's corner is the notebook that builds it", fontsize=11)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The path through the course
#
# Each notebook builds one box of the diagram, the same way: **goals**; **build it** (the piece
# under study written inline, in a "Write it yourself" cell); **check it** against the library
# (`omni_lib`); then **use the library** version and measure something; a **summary**; and
# **exercises**. Every notebook runs on a laptop CPU with the `tiny` preset.
#
# | # | notebook | one line |
# |---|---|---|
# | 01 | [SNAC tokenization](01_snac_tokenization.ipynb) | speech → 3 codebooks → 7-token frames → speech, and a streaming decode without seams |
# | 02 | [Token space & delay](02_delay_patterns.ipynb) | one 181,120-id space for text and audio, the 8-row layout of each task, the delay pattern |
# | 03 | [Eight-head model](03_eight_head_model.ipynb) | Whisper ears and adapter, the 8-row mean with the splice, one head sliced in eight, the released checkpoint |
# | 04 | [Three-stage training](04_three_stage_training.ipynb) | "any model can talk": trains the course's tiny model, stage by stage, on 2 CPU cores |
# | 05 | [Batch-parallel & streaming decoding](05_batch_parallel_decoding.ipynb) | one step at a time, A1A2 / A1T2 / batch-parallel, text and audio streamed as they are made |
# | 06 | [LibriSpeech WER](06_librispeech_wer.ipynb) | word error rate by hand, what the normaliser changes, the evaluation beside the paper's table |
#
# **Graded exercises** ([exercises/README.md](../exercises/README.md)), one per key idea, each
# right after its notebook: `01_snac_frames` and `07_streaming` (01, 05), `02_delay` and
# `03_task_layouts` (02), `04_embedding` (03), `05_loss_masks` (04), `06_parallel_step` (05),
# `08_wer` (06). Grade yourself with `python -m omni_lib.grade 02_delay` (or `make grade`).

# %% [markdown]
# ## 3. Ask the course's model
#
# Notebook 04 trains the `tiny` model (7.6 M parameters, three Qwen2-style blocks) on a small
# spoken-arithmetic corpus and saves it in `build/tiny/stage3/model`. Training takes tens of
# minutes on 2 cores, so this notebook does not train: if the model is missing, it
# says how to get it and skips the demo. (In `make course` and CI the notebooks run in order, so
# 00 runs before 04; run this one again afterwards.)

# %%
model_dir = course_checkpoint(train=False)     # None if missing or trained with an older recipe
HAVE_MODEL = model_dir is not None
if HAVE_MODEL:
    print(f"the course model is here: {model_dir}")
else:
    print(f"no current course model in {COURSE_DIR} (missing, or trained with an older recipe): the demo below is skipped.\n"
          "To get it (tens of minutes on 2 cores):\n"
          "  run notebook 04 (04_three_stage_training.ipynb), or\n"
          "  .venv/bin/python -m omni_lib.train --preset tiny --stage all\n"
          "then run this notebook again.")

# %% [markdown]
# The model and its parts: the trained weights, the text tokenizer saved with them, the frozen
# Whisper encoder (not saved with the model: attached again), and the codec that made the
# training codes. The released Mini-Omni speaks through SNAC, whose weights come from the Hugging
# Face hub; the tiny model speaks through the **course codec** (notebook 01: SNAC's 7-token
# frames, made from a log-mel spectrogram and turned back into sound by Griffin-Lim). It works
# offline and its speech is intelligible, if buzzy; training keeps it beside the weights
# (`codec.pt`), and `speaking_codec` finds it.
#
# To check what the model *says*, not only what it writes, a speech recogniser listens:
# Whisper-base (`omni_lib.by_ear.listener`), a few seconds to load. The questions are spoken by
# the corpus's two held-out voices, which the model never heard in training.

# %%
if HAVE_MODEL:
    path = model_dir
    model = OmniModel.from_pretrained(path).eval()
    mcfg = model.cfg
    model.attach_whisper(WhisperEncoder.from_config(mcfg))
    tok = TextTokenizer.load(path / "text_tokenizer.json")
    codec = speaking_codec(mcfg, path)         # the codec of its training codes: codec.pt beside the weights
    ears = listener("base")                    # Whisper-base as a recogniser: what does the speech say?
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params:,} parameters; it speaks through the {codec.kind} codec"
          + (" (the course codec, notebook 01)" if codec.kind == "mel-rvq" else " (SNAC)"))

    corpus = DATA_DIR / "course"
    questions = [r for r in read_manifest(corpus) if r["split"] == "test-voices"][:N_QUESTIONS]
    question_waves = [load_audio(corpus / r["question_audio"], target_rate=16_000) for r in questions]
    print(f"{len(questions)} questions in held-out voices: {sorted({r['voice'] for r in questions})}")

# %% [markdown]
# One call answers a question: `generate(model, "A1A2", audio=wave, batch_parallel=True)` computes the
# Whisper features, builds the batch of two prompts of the diagram and decodes step by step until
# audio layer 6 says `eoa` (end of audio). It returns the text ids and the undelayed audio frames
# `[7, F]`, which the codec turns into 24 kHz audio (`voice(codec, frames)`); Whisper-base then
# transcribes that audio, and a spoken answer counts as *heard right* when the transcript equals
# the corpus answer in spoken form (`omni_lib.by_ear.spoken_form`: Whisper writes "4", the corpus "four").
#
# We ask all the questions, hear all the answers, and play the first answer Whisper heard right
# (the first question if none was): the tiny model does not always speak clearly, and the table
# below shows every answer, heard right or not.

# %%
def said(g) -> str:
    return tok.decode([t for t in g.text_ids if t < tok.n_text])


def heard_right(heard: str, reference: str) -> bool:
    return bool(spoken_form(heard)) and spoken_form(heard) == spoken_form(reference)


def audible(wave: torch.Tensor):
    """For Audio(normalize=False): scaled down only if it overshoots [-1, 1] (Griffin-Lim can)."""
    return (wave / max(1.0, float(wave.abs().max()) if len(wave) else 0.0)).numpy()


if HAVE_MODEL:
    gens, answer_s = [], []
    for w in question_waves:
        t0 = time.perf_counter()
        gens.append(generate(model, "A1A2", audio=w, sample_rate=16_000, batch_parallel=True))
        answer_s.append(time.perf_counter() - t0)
    speeches = [voice(codec, g.frames) for g in gens]                # each [F * 2048] at 24 kHz
    heards = transcribe(ears, speeches)                               # what Whisper-base hears: one batch
    i = next((i for i, (h, r) in enumerate(zip(heards, questions)) if heard_right(h, r["answer"])), 0)
    q, answer, speech, heard = questions[i], gens[i], speeches[i], heards[i]
    print(f"question {i} ({q['voice']}, a voice never heard in training): {q['question']!r}")
    display(Audio(question_waves[i].numpy(), rate=16_000, normalize=False))
    right = basic_normalise(said(answer)) == basic_normalise(q["answer"])
    print(f"text answer:   {said(answer)!r} ({'right' if right else 'wrong'}: the corpus says {q['answer']!r})")
    print(f"spoken answer: Whisper-base heard {heard!r} "
          f"({'right' if heard_right(heard, q['answer']) else 'not the corpus answer'})")
    print(f"{answer.frames.shape[1]} frames = {len(speech) / mcfg.sample_rate:.2f} s of speech, "
          f"{answer.steps} steps, stop {answer.stop!r}; {answer_s[i]:.1f} s on this CPU (Whisper features included)")
    display(Audio(audible(speech), rate=mcfg.sample_rate, normalize=False))

# %% [markdown]
# **See it**: every kept step of the answer, laid out like the diagram's small grid (audio rows
# from the speaking row, the text row it follows). The text leads and ends with `eot`, then
# `pad_t` while the audio goes on. Audio layer *j* writes `pad_a` for its first *j + 1* steps; in
# training, each layer's answer ends with `eoa`, one step later per layer, and decoding stops when
# layer 6 says `eoa`. A well-trained model fills the staircase in between with audio codes; grey
# cells inside it are this small model's slips (`pad_a` where a code belongs, played as code 0).

# %%
if HAVE_MODEL:
    ts = TokenSpace(mcfg)
    grid = torch.cat([answer.tokens[:7] + ts.audio_offsets(), answer.tokens[7:]])   # (8, S) raw values -> ids
    plot_id_grid(grid, mcfg, title=f"the answer to {q['question']!r}, step by step")
    plt.show()

# %% [markdown]
# **Check it**: every question asked above, written and spoken (notebook 05 compares the three
# ways of answering, and 04 measures the accuracy on the whole held-out split, by ear too).

# %%
if HAVE_MODEL:
    rows = ["| question (held-out voice) | corpus answer | the model's text answer | what Whisper heard it say |",
            "|---|---|---|---|"]
    n_right = n_heard = 0
    for r, g, h in zip(questions, gens, heards):
        ok, ok_ear = basic_normalise(said(g)) == basic_normalise(r["answer"]), heard_right(h, r["answer"])
        n_right, n_heard = n_right + ok, n_heard + ok_ear
        rows.append(f"| {r['question']} ({r['voice']}) | {r['answer']} | {'✓' if ok else '✗'} {said(g)} | "
                    f"{'✓' if ok_ear else '✗'} {h} |")
    display(Markdown("\n".join(rows)))
    print(f"text: {n_right} / {len(questions)} exactly right; speech: {n_heard} / {len(questions)} heard right. "
          "The tiny model is small and its corpus smaller: expect some wrong sums, and speech Whisper mishears")

# %% [markdown]
# ## 4. The same with the released Mini-Omni
#
# With internet (or the checkpoint downloaded), the same call runs the released 532 M-parameter
# model with Whisper-small and the real SNAC: a spoken answer you can understand. Offline, this
# cell prints the commands instead.

# %%
local = Path(RELEASED).is_dir()
if local or hub_reachable():
    mini_omni = OmniModel.from_mini_omni(RELEASED).eval()
    has_tok = local and (Path(RELEASED) / "tokenizer.json").is_file()
    rtok = TextTokenizer.for_config(mini_omni.cfg, source=RELEASED if has_tok else None)
    wave_r = (question_waves[i] if HAVE_MODEL     # the question the tiny model answered above
              else load_audio(DATA_DIR / "samples" / "rms-0002.flac", target_rate=16_000))
    g = generate(mini_omni, "A1A2", audio=wave_r, sample_rate=16_000, batch_parallel=True,
                 max_new_steps=300)          # at most 300 steps = 25 s of speech (a CPU takes a while per step)
    print("released Mini-Omni says:", repr(rtok.decode([t for t in g.text_ids if t < rtok.n_text])))
    try:
        snac = Codec.load(cfg=mini_omni.cfg)    # the real SNAC (hubertsiuzdak/snac_24khz)
        display(Audio(audible(snac.decode(playable(g.frames, snac)[0])), rate=mini_omni.cfg.sample_rate,
                      normalize=False))
    except HubUnavailable as e:
        print(f"no audio: the real SNAC needs the hub ({e})")
else:
    print(f"skipped: no hub here and no directory {RELEASED!r}. With internet this cell loads {RELEASED!r} itself.\n"
          "Or download the release once (from the repository's root) and talk to it from the command line:\n"
          "  huggingface-cli download gpt-omni/mini-omni --local-dir checkpoint\n"
          "  .venv/bin/python -m omni_lib.chat --ckpt checkpoint --audio question.wav --out answer.wav\n"
          "then RELEASED = '../checkpoint' here (the real SNAC still comes from the hub).")

# %%
numbers = dict(course_model=HAVE_MODEL, seconds=time.perf_counter() - t_start)
if HAVE_MODEL:
    numbers.update(params_tiny=n_params, codec=codec.kind, right=f"{n_right}/{len(questions)}",
                   heard_right=f"{n_heard}/{len(questions)}", answer_steps=answer.steps, answer_s=answer_s[i])
report("00_tour", **numbers)

# %% [markdown]
# ## Summary
# * Mini-Omni = a frozen Whisper encoder and an adapter (ears), Qwen2 (the brain), one table and one
#   tied head sliced into 1 text + 7 SNAC layers (eight heads), SNAC's decoder (the mouth). The
#   course's tiny model has the same parts and speaks SNAC's 7-token frames through the course
#   codec, which needs no hub; Whisper-base checks what it says.
# * Every position carries 8 ids, averaged into one input; every step emits 8 tokens, the audio
#   layers delayed 1 to 7 steps behind the text.
# * Batch-parallel decoding speaks the answer a text-only row is writing.
# * `generate(model, "A1A2", audio=wave, batch_parallel=True)` answers a spoken question in text
#   and audio frames; `voice(codec, frames)` makes them audio, `transcribe(ears, [audio])` text again.
#
# ## Exercises
# No graded exercise goes with the tour; the eight in [exercises/](../exercises/README.md) follow
# notebooks 01–06 (see section 2). To warm up:
# 1. In the diagram, the `tiny` sizes are in brackets. Its table has 30,144 ids, the release's
#    181,120: how many of each are text ids, and why can the tiny preset not shrink the 7 × 4,160
#    audio ids? (Notebook 02 answers it; the presets are in `omni_lib/config.py`.)
# 2. Ask the course model a question in another held-out voice (`questions[k]` with a larger
#    `N_QUESTIONS`): does it get the voices of `test-voices` equally right?
#
# ---
# **Next:** [01 · SNAC tokenization](01_snac_tokenization.ipynb): speech becomes tokens.
