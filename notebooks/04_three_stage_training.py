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
# # 04 · Any model can talk: three-stage training on a laptop
#
# **You are here:** 00 tour → 01 SNAC tokens → 02 token space & delay → 03 eight-head model →
# **04 three-stage training** → 05 batch-parallel & streaming decoding → 06 LibriSpeech WER
#
# Mini-Omni's authors never released training code. This notebook trains the course's `tiny`
# model, on two CPU cores, through the paper's recipe:
#
# | stage | what trains | tasks | why |
# |---|---|---|---|
# | 0 (course only) | the text LM | T1T2 | the "any model": a small LM that knows the domain in text |
# | 1 · modality alignment | adapter + audio code rows | ASR, TTS | learn to hear and to speak without touching the LM |
# | 2 · adaption | LM (text + audio rows); the paper freezes the adapter, `tiny` trains it too* | ASR, A1T2, T1T2 | answer spoken questions in text |
# | 3 · multimodal fine-tuning | everything but Whisper | all six | answer in speech while thinking in text |
#
# \* Qwen2 can already read, so the paper's stage 1 aligns the adapter against a frozen reader. The
# course's 3-layer LM only knows the domain's questions and cannot transcribe, so stage 1 alone
# cannot align its adapter (you will see the stage-1 WER): the tiny recipe keeps the adapter
# training in stage 2 (measured: stage-2 loss 0.23 at step 550 against 0.60 with it frozen).
#
# **Goals.** Build training examples whose targets carry the delay; freeze the right parts in each
# stage; watch the losses; measure what each stage bought: ASR WER on voices never heard in
# training, spoken QA, whether the text ability survives, the audio heads, and finally the model's
# own speech, judged **by ear**: Whisper-base transcribes what it says.
#
# The first run trains (about 15 minutes of training, 20 with the evaluations, on 2 cores) and caches the result in `build/tiny`; later
# runs, and notebooks 00, 05 and 06, reuse it.
#
# **Targets (tiny preset, 2 CPU cores)**, checked at the end: ASR WER on held-out voices ≤ 5 %;
# spoken question → text answer ≥ 90 % exact on seen questions asked by held-out voices; text QA
# after the speech stages ≥ 95 % of the stage-0 LM's; audio-code accuracy ≥ 95 % per layer on
# seen answers (always beside the most-common-code baseline); and by ear (Whisper-base listening to
# the model's speech): spoken QA ≥ 85 % on seen questions in held-out voices, written questions
# answered aloud (T1A2) ≥ 90 %, speech that says what the text says (consistency WER) ≤ 6 %.

# %% tags=["parameters"]
PRESET = "tiny"
OUT = None      # where the trained stages are cached; None = build/tiny, shared with notebooks 00, 05, 06
CODEC = None    # the answers' codec: None = the preset's (tiny: the course codec); "snac" needs the hub (OUT: build/tiny-snac)

# %%
import json
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio, Markdown, display

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio, speed_perturb
from omni_lib.batches import make_example
from omni_lib.config import OmniConfig
from omni_lib.course import report
from omni_lib.model import OmniModel
from omni_lib.prepare import prepare_course, read_manifest
from omni_lib.stages import STAGES, apply_stage, trainable_summary
from omni_lib.viz import plot_id_grid

warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
warnings.filterwarnings("ignore", message=".*past_key_values.*deprecated", category=FutureWarning)   # transformers 5.25
cfg = OmniConfig.from_preset(PRESET, **({"codec": CODEC} if CODEC else {}))
corpus = DATA_DIR / "course"

# %% [markdown]
# ## 1. The course corpus
#
# A closed domain a tiny model can learn completely: sums, differences, next and previous
# numbers, days, colours, counting. Every question is spoken by several synthetic voices (flite,
# festival, espeak-ng); two voices are **held out** (never heard in training), and about 12 % of
# the questions are **held-out items** (never trained on, in any voice). Every answer is spoken by
# one assistant voice. The corpus ships in `data/course` (LibriSpeech layout); instructors can
# regenerate it with `python -m omni_lib.data.synth --small`.

# %%
rows = read_manifest(corpus)
by_split = {}
for r in rows:
    by_split.setdefault(r["split"], []).append(r)
display(Markdown("| split | spoken questions | items | voices |\n|---|---|---|---|\n" + "\n".join(
    f"| {s} | {len(v)} | {len({r['item'] for r in v})} | {len({r['voice'] for r in v})} |" for s, v in by_split.items())))
r = by_split["test-voices"][0]
print(f"held-out voice {r['voice']}: '{r['question']}'  ->  assistant: '{r['answer']}'")
display(Audio(load_audio(corpus / r["question_audio"], 16_000).numpy(), rate=16_000, normalize=False))
display(Audio(load_audio(corpus / r["answer_audio"], 16_000).numpy(), rate=16_000, normalize=False))

# %% [markdown]
# ## 2. Examples: prompt, delayed targets, loss masks
#
# `prepare_course` runs Whisper once per spoken question (cached) and takes each answer's audio
# codes from the course codec (notebook 01: SNAC's 7-token frame layout, decodable offline; its
# codes ship with the corpus), and makes examples of six tasks. An example is a prompt followed by the answer's steps,
# teacher-forced: the target of a position is the next step's 8 tokens, with the audio rows
# delayed exactly as in generation. Which rows count in the loss depends on the task: ASR and
# text answers train the text row only, TTS the audio rows only, spoken answers both.
#
# **More voices for free.** Every training question is spoken by only 2 of the 10 training voices,
# and a tiny model that hears the same two recordings again and again learns the recordings, not
# the words: it transcribes new voices well but answers them worse. So `prepare_course` also adds
# each training question played 0.9× and 1.1× as fast (`omni_lib.audio.speed_perturb`, Kaldi's
# speed perturbation: tempo and pitch move together, like a different speaker). Evaluation audio is
# never perturbed. Measured: stage 3 (800 steps) from the same stage-2 model reached 70 % spoken QA
# on held-out voices without the copies and 83 % with them (ASR WER 1.8 % and 3.9 %: hearing was
# never the problem). Mini-Omni itself trained on thousands of real voices.

# %%
q = next(r for r in rows if r["split"] == "train")
wave = load_audio(corpus / q["question_audio"], 16_000)
for speed in (0.9, 1.0, 1.1):
    w = wave if speed == 1.0 else speed_perturb(wave, speed, 16_000)
    print(f"speed {speed:g}: {len(w) / 16_000:.2f} s")
    display(Audio(w.numpy(), rate=16_000, normalize=False))

# %%
t0 = time.perf_counter()
data = prepare_course(cfg)
prep_s = time.perf_counter() - t0
print(f"prepared in {prep_s:.1f} s; training pools: {data.stats['pools']}")
print(f"answer codes from: {data.codec}" + (" (the course codec, notebook 01)" if data.codec == "mel-rvq" else ""))
ex = data.pools["T1A2"][0]
ids, targets, mask = make_example(ex, cfg)
fig, axes = plt.subplots(2, 1, figsize=(13, 6))
plot_id_grid(ids, cfg, title="T1A2 example: prompt, then the fed-back answer steps", annotate=False, ax=axes[0])
axes[1].imshow(mask.numpy(), aspect="auto", cmap="Greens", interpolation="nearest")
axes[1].set_yticks(range(8), [f"audio {i}" for i in range(7)] + ["text"])
axes[1].set_title("loss mask (green = a target the loss counts)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. What each stage trains
#
# `apply_stage` freezes what a stage does not train. The table of the tied embedding holds both
# text and audio rows, so a gradient hook zeroes the rows of the frozen part: in stage 1 the LM,
# text rows included, stays bit-identical.

# %%
probe = OmniModel(cfg)
lines = ["| stage | adapter | blocks | text rows | audio rows | tasks | steps |", "|---|---|---|---|---|---|---|"]
for s, st in STAGES[PRESET].items():
    apply_stage(probe, st)
    t = trainable_summary(probe)
    lines.append(f"| {s} · {st.name} | {t['adapter']:,} | {t['blocks']:,} | {t['text rows']:,} | {t['audio rows']:,} | "
                 f"{', '.join(st.tasks)} | {st.steps} |")
display(Markdown("\n".join(lines)))
del probe

# %% [markdown]
# ## 4. Train
#
# `train_course` runs the stages in order, each from the previous stage's weights, evaluates after
# each, and caches everything in `OUT`. (From a terminal: `python -m omni_lib.train --preset tiny
# --stage all`, or one stage at a time with `--stage S`, resumable with `--resume`.)
#
# **Where a step's time goes.** An audio answer is the costliest example: 7 heads of 4,160 logits
# per frame. So `loss_terms` applies the head only where the loss mask is on, one slice per row,
# and the forward before it computes no logits at all (the full `[B, T, 30,144]` product would
# be about half of a step, thrown away). With `precision="auto"` (the default) a CPU with AMX runs those head
# products in bf16 and the blocks in fp32. Together they made stage 3's step about twice as fast,
# and that is what let it run long enough for the audio codes (README, "Training").

# %%
from omni_lib.train import COURSE_DIR, train_course

OUT = Path(OUT or (COURSE_DIR if cfg.codec == "mel-rvq" else COURSE_DIR.with_name(f"tiny-{cfg.codec}")))

history = {}
live_plot = display(Markdown("starting..."), display_id=True)


def live(m):
    """Called every 10 steps: redraw the loss curves of the stage being trained."""
    history.setdefault(m["stage"], []).append(m)
    if m["step"] % 100 and m["step"] != m["total_steps"]:
        return
    fig, ax = plt.subplots(figsize=(7, 2.6))
    for name, rows_ in history.items():
        ax.plot([r_["step"] for r_ in rows_], [r_["loss"] for r_ in rows_], label=name, lw=1)
    ax.set_yscale("log"); ax.set_xlabel("step in stage"); ax.set_ylabel("loss"); ax.legend(fontsize=7)
    live_plot.update(fig)
    plt.close(fig)


t0 = time.perf_counter()
summary = train_course(OUT, preset=PRESET, on_step=live, codec=CODEC)
wall = time.perf_counter() - t0
print(f"{'trained' if history else 'reused the cached stages'} in {wall:.0f} s")

fig, axes = plt.subplots(1, 4, figsize=(16, 3), sharey=True)
for ax, s in zip(axes, sorted(summary["stages"], key=int)):
    rows_ = [json.loads(x) for x in (Path(OUT) / f"stage{s}" / "metrics.jsonl").read_text().splitlines()]
    for key in ("loss", "text", "audio"):
        ax.plot([r_["step"] for r_ in rows_], [max(r_[key], 1e-4) for r_ in rows_], label=key, lw=1)
    ax.set_yscale("log"); ax.set_title(f"stage {s}: {rows_[-1]['stage']}", fontsize=9); ax.set_xlabel("step")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. What each stage bought
#
# * **ASR WER** on voices the model never heard (and on sentences it never saw);
# * **spoken QA**: the exact text answer to a spoken question, on training questions asked by the
#   held-out voices (and on held-out questions: the model memorises, it does not learn arithmetic);
# * **text QA** of the stage-0 LM, before and after the speech stages: does the text ability survive?
# * **audio heads**: how often each layer predicts the answer's audio code (teacher-forced), beside
#   always guessing that layer's most common code.

# %%
st = summary["stages"]
keys = [("asr_wer_heldout_voices", "ASR WER, held-out voices"), ("asr_wer_heldout_items", "ASR WER, held-out sentences"),
        ("spoken_qa_seen_heldout_voices", "spoken QA, seen questions, held-out voices"),
        ("spoken_qa_unseen", "spoken QA, unseen questions"), ("text_qa_seen", "text QA, seen questions"),
        ("text_qa_unseen", "text QA, unseen questions")]
lines = ["| | " + " | ".join(f"stage {s}" for s in sorted(st, key=int)) + " |", "|---" * (len(st) + 1) + "|"]
for k, name in keys:
    lines.append(f"| {name} | " + " | ".join(f"{st[s][k]:.1%}" if k in st[s] else "–" for s in sorted(st, key=int)) + " |")
lines.append("| train seconds | " + " | ".join(f"{st[s]['train_seconds']:.0f}" for s in sorted(st, key=int)) + " |")
display(Markdown("\n".join(lines)))

last = st[max(st, key=int)]
retention = last["text_qa_seen"] / max(st["0"]["text_qa_seen"], 1e-9)
print(f"text QA kept after the speech stages: {retention:.1%} of stage 0's")

# %% [markdown]
# **Before and after.** The same held-out voices, transcribed and answered after each stage
# (reference → model):

# %%
for kind, title in (("asr", "ASR, held-out voices"), ("spoken_qa", "spoken question → text answer, held-out voices")):
    lines = [f"**{title}**", "", "| stage | reference | model says |", "|---|---|---|"]
    for s in sorted(st, key=int):
        for ref, hyp in st[s].get("samples", {}).get(kind, [])[:2]:
            lines.append(f"| {s} | {ref} | {hyp or '(nothing)'} |")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# **The course's targets**, measured on this run:

# %%
targets = [("ASR WER, held-out voices", last["asr_wer_heldout_voices"], "<=", 0.05),
           ("spoken QA, seen questions, held-out voices", last["spoken_qa_seen_heldout_voices"], ">=", 0.90),
           ("text QA kept (share of stage 0's)", retention, ">=", 0.95),
           ("audio-code accuracy, worst layer", min(last["code_acc_per_layer"]), ">=", 0.95)]
display(Markdown("| target | measured | goal | met |\n|---|---|---|---|\n" + "\n".join(
    f"| {name} | {v:.1%} | {op} {goal:.0%} | {'yes' if (v <= goal if op == '<=' else v >= goal) else '**no**'} |"
    for name, v, op, goal in targets)))
layers = range(cfg.n_audio_layers)
plt.figure(figsize=(7, 3))
plt.bar([i - 0.2 for i in layers], last["code_acc_per_layer"], width=0.4, label="model (teacher-forced)")
plt.bar([i + 0.2 for i in layers], last["code_baseline_per_layer"], width=0.4, label="most common code")
plt.xlabel("audio layer"); plt.ylabel("accuracy on seen answers"); plt.ylim(0, 1.05); plt.legend()
plt.title("audio heads after stage 3")
plt.show()

# %% [markdown]
# ## 6. The model talks: its answers, out loud, judged by ear
#
# Teacher-forced code accuracy says the audio heads know the training codes; it cannot say whether
# the model's *speech* says the right thing. So do what the field does (GLM-4-Voice's Table 6):
# let a speech recogniser listen. Held-out voices ask training questions; the stage-3 model answers
# batch-parallel (notebook 05), its codes go through the codec it was trained with, and
# Whisper-base transcribes the speech.

# %%
from omni_lib.by_ear import listener, spoken_form, transcribe, voice
from omni_lib.codec import speaking_codec
from omni_lib.decode import generate
from omni_lib.encoder import WhisperEncoder

model_dir = Path(OUT) / "stage3" / "model"
model = OmniModel.from_pretrained(model_dir).attach_whisper(WhisperEncoder.from_config(cfg))
codec = speaking_codec(model.cfg, model_dir)     # the very codec that made its training codes
tok, ears = data.tokenizer, listener("base")
asked = by_split["test-voices"][:4]
answers = []
for r in asked:
    g = generate(model, "A1A2", audio=load_audio(corpus / r["question_audio"], 16_000), batch_parallel=True,
                 max_new_steps=120)
    answers.append((r, tok.decode([t for t in g.text_ids if t < tok.n_text]), voice(codec, g.frames)))
heard = transcribe(ears, [w for _, _, w in answers])
for (r, text, wave), h in zip(answers, heard):
    mark = "right" if spoken_form(h) == spoken_form(r["answer"]) else "WRONG"
    print(f"Q ({r['voice']}): {r['question']!r}\n   wrote: {text!r}\n   said (Whisper heard): {h!r}  [{mark}]")
    display(Audio(wave.numpy(), rate=cfg.sample_rate, normalize=False))

# %% [markdown]
# **By ear, on every held-out question** (computed by `train_course` after stage 3 with
# `omni_lib.by_ear.score_by_ear`; the same from a terminal: `python -m omni_lib.eval ear --ckpt
# build/tiny/stage3/model`):
#
# * *spoken QA by ear*: Whisper's transcript of the spoken answer equals the reference answer;
# * *consistency WER*: the transcript against the model's **own** text answer (does it say what it
#   writes? The released Mini-Omni scores 25.3 % in GLM-4-Voice's Table 6, on open-domain speech);
# * *the codec's ceiling*: the same Whisper on the reference answers' codec round trip, beside the
#   original recordings: how well a perfect model could do through this codec;
# * *naturalness*, a proxy only: DNSMOS (trained on noisy human speech) of the originals, the codec
#   round trip and the model's speech. Griffin-Lim's rebuilt phase costs naturalness, not words.

# %%
ear = {k: v for k, v in last.items() if k.startswith(("by_ear", "consistency", "ceiling"))}
n = last.get("n", {})
display(Markdown("\n".join([
    "| by ear (Whisper-base) | measured |", "|---|---|",
    f"| spoken QA, seen questions, held-out voices ({n.get('seen', '?')}) | {ear['by_ear_seen']:.1%} |",
    f"| spoken QA, unseen questions ({n.get('unseen', '?')}) | {ear['by_ear_unseen']:.1%} |",
    f"| written question → spoken answer (T1A2), seen ({n.get('t1a2_seen', '?')}) | {ear['by_ear_t1a2_seen']:.1%} |",
    f"| consistency WER (speech vs its own text), all answers | {ear['consistency_wer']:.1%} |",
    f"| codec ceiling, answers it was fitted on: original / through the codec | "
    f"{ear['ceiling_fitted_original_wer']:.1%} / {ear['ceiling_fitted_codec_wer']:.1%} WER |",
    f"| codec ceiling, held-out answers: original / through the codec | "
    f"{ear['ceiling_heldout_original_wer']:.1%} / {ear['ceiling_heldout_codec_wer']:.1%} WER |"]
    + ([f"| naturalness proxy (DNSMOS overall, 1-5): original / codec round trip / the model's speech | "
        f"{ear['dnsmos_original']:.2f} / {ear['dnsmos_codec']:.2f} / {ear['dnsmos_model']:.2f} |"]
       if ear.get("dnsmos_model") is not None else []))))
targets = [("spoken QA by ear, seen questions, held-out voices", ear["by_ear_seen"], ">=", 0.85),
           ("T1A2 by ear, seen questions", ear["by_ear_t1a2_seen"], ">=", 0.90),
           ("consistency WER", ear["consistency_wer"], "<=", 0.06),
           ("codec round trip of held-out answers, WER", ear["ceiling_heldout_codec_wer"], "<=", 0.05)]
display(Markdown("| target | measured | goal | met |\n|---|---|---|---|\n" + "\n".join(
    f"| {name} | {v:.1%} | {op} {goal:.0%} | {'yes' if (v <= goal if op == '<=' else v >= goal) else '**no**'} |"
    for name, v, op, goal in targets)))

# %% [markdown]
# ## 7. Why its speech holds together: it is fed its own guesses
#
# Teacher forcing feeds back the *right* codes at every step; generation feeds back the model's
# *own*. A model trained only on right codes learns to continue the memorised code sequence it is
# in, and after one wrong code it continues another answer's codes (exposure bias). So stage 3 sets
# `self_feed=0.5` (parallel scheduled sampling, `omni_lib.batches.feed_own_predictions`): for each
# micro-batch, one forward without gradients gives the model's guess of every audio target, and
# half of the fed-back audio codes are replaced by those guesses before the forward that trains.
# The model sees its own kind of mistake in its history and learns to follow the text instead.
# Below: one training answer, how many of its fed-back codes the trained model would guess
# differently, and how far generation stays on the reference codes.

# %%
from omni_lib.batches import collate, feed_own_predictions

shown = data.evals["codes/train"][0]
batch = collate([shown], cfg)
own = feed_own_predictions(model, batch, 1.0)
fed_back = int(batch["mask"][:, :7, :-1].sum())
print(f"{tok.decode(shown.answer)!r}: {fed_back} fed-back audio tokens (codes, pads, eoa); the model's own guess differs "
      f"from {int((own['ids'] != batch['ids']).sum())} of them")
g = generate(model, "T1A2", text_ids=shown.question, max_new_steps=96)
n_frames = min(g.frames.shape[1], shown.frames.shape[1])
same = (g.frames[:, :n_frames] == shown.frames[:, :n_frames]).float().mean(1)
print(f"generated {g.frames.shape[1]} frames (reference {shown.frames.shape[1]}); same code as the reference, "
      f"per layer: {', '.join(f'{x:.0%}' for x in same)}")

# %% [markdown]
# Measured from one stage-2 model, stage 3 trained three ways (1,100 steps, one thread, Intel
# Xeon with AMX, 2026-12-07; by ear on 29 written and 57 spoken seen questions):
#
# | fed back in stage 3 | codes, teacher-forced (layer 0) | codes, fed its own (layers 0–6) | by ear, T1A2 | by ear, spoken QA | consistency WER (spoken QA) |
# |---|---|---|---|---|---|
# | the right codes (the previous recipe) | 97.2 % | 75–78 % | 62 % | 39 % | 76 % |
# | **half its own guesses (`self_feed=0.5`)** | 95.5 % | 93–97 % | **83 %** | **70 %** | **15 %** |
# | all its own guesses (`self_feed=1.0`) | 90.4 % | 83–90 % | 62 % | 49 % | 30 % |
#
# The right codes alone teach the best teacher-forced accuracy and the worst speech; only its own
# guesses, early in training mostly wrong, teach too little. The numbers of *your* run are in the
# by-ear table above.

# %%
report("04", wer_heldout_voices=last["asr_wer_heldout_voices"], spoken_qa_seen=last["spoken_qa_seen_heldout_voices"],
       spoken_qa_unseen=last["spoken_qa_unseen"], text_qa_retention=retention,
       code_acc_min=min(last["code_acc_per_layer"]), by_ear_seen=ear["by_ear_seen"],
       by_ear_t1a2=ear["by_ear_t1a2_seen"], consistency_wer=ear["consistency_wer"],
       train_s=sum(s_["train_seconds"] for s_ in st.values()))

# %% [markdown]
# ## Summary
# * Examples = prompt + teacher-forced answer steps; targets delayed as in generation; masks by task
#   (ASR and text answers: text row; TTS: audio rows; spoken answers: both).
# * Stages are data (`omni_lib.stages`): what trains, which tasks, which LR; Whisper never trains.
# * The model is judged by ear too: its speech, decoded by its own codec and transcribed by
#   Whisper-base, must say the reference answer and what its own text says. It holds together
#   because stage 3 feeds back half of the audio codes as the model's own guesses (scheduled
#   sampling): trained on right codes only, it derailed after its first wrong one.
#   Stage 1 trains the adapter and the audio *code* rows only, so every text task stays
#   bit-identical while the model learns to hear and speak.
# * The same `python -m omni_lib.train` runs under `torchrun` with DDP; checkpoints are atomic and
#   `--resume` continues exactly. At scale (the paper's setup, 8×A100, global batch 192): README,
#   "Training at scale"; the cost of one step: `python -m omni_lib.bench train --preset mini-omni`.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`05_loss_masks`](../exercises/05_loss_masks/README.md): build an example's inputs, delayed
#   targets and loss mask for every task. Grade it: `python -m omni_lib.grade 05_loss_masks`.
#
# **In this notebook:**
# 1. Give stage 1 `("adapter", "audio_rows")` instead of `("adapter", "audio_codes")` (e.g.
#    `dataclasses.replace(STAGES["tiny"][1], trains=...)`) and train it with `train_stage`: what
#    happens to text QA, and why (which rows does a T1T2 prompt average in)?
# 2. Drop T1T2 from stage 3's tasks. Does the text ability survive the speech stages?
# 3. Retrain stage 3 from the stage-2 model with `self_feed=0.0` (`dataclasses.replace(STAGES["tiny"][3],
#    self_feed=0.0)`, about 10 minutes): compare teacher-forced code accuracy, the codes it generates
#    fed its own, and the by-ear scores (`omni_lib.by_ear.score_by_ear`). Which number would have
#    told you the model cannot talk?
#
# ---
# **Previous:** [03 · eight-head model](03_eight_head_model.ipynb) · **Next:**
# [05 · batch-parallel & streaming decoding](05_batch_parallel_decoding.ipynb) makes this model talk while it thinks.
