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
# # 01 · Speech as tokens: SNAC and the 7-token frame
#
# **You are here:** 00 tour → **01 SNAC tokens** → 02 token space & delay → 03 eight-head model →
# 04 three-stage training → 05 batch-parallel & streaming decoding → 06 LibriSpeech WER
#
# A language model predicts tokens. To make Qwen2 *talk*, Mini-Omni turns speech into tokens with
# [SNAC](https://github.com/hubertsiuzdak/snac), a neural codec that describes 24 kHz audio with
# three codebooks at three rates, and back.
#
# **Goals.** By the end you can
# 1. bring any audio (rate, channels, dtype) to what SNAC expects;
# 2. encode speech into three codebooks and explain their rates (11.72 / 23.44 / 46.88 Hz);
# 3. flatten them into **frames of 7 tokens**, the unit Mini-Omni generates per step, and back;
# 4. decode frames to audio, and decode a *stream* of frames chunk by chunk without seams.
#
# *CPU time (tiny preset, 2 cores): about 20 s. Offline, the codec has random weights (section 0).*

# %% tags=["parameters"]
PRESET = "tiny"       # the codec is the same in every preset
SNAC_SOURCE = None    # None: the hub's hubertsiuzdak/snac_24khz; or a local directory with its files

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio, display

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio, to_model_audio
from omni_lib.codec import Codec, StreamingDecoder, calibrate_codebooks, codes_to_frames, frames_to_codes, receptive_field_frames
from omni_lib.config import OmniConfig
from omni_lib.course import report
from omni_lib.viz import plot_audio_compare, plot_codebooks

torch.manual_seed(0)
cfg = OmniConfig.from_preset(PRESET)
SR = cfg.sample_rate
DATA = DATA_DIR / "samples"            # short sentences spoken by offline voices (flite, espeak-ng)

# %% [markdown]
# ## 0. The codec
#
# The real SNAC weights live on the Hugging Face hub. Without a connection (as in the course's CI)
# we build **the exact same architecture with random weights**: shapes, rates and token counts are
# real; the decoded audio is noise. A random model's codebooks also point away from what its
# encoder produces, so nearly every frame would get the same code; offline we therefore fill the
# codebooks with latents of our sample speech (`calibrate_codebooks`), which makes the codes follow
# the speech as real ones do. Everything below works the same with the real weights.

# %%
try:
    codec = Codec.load(SNAC_SOURCE, cfg=cfg)
    REAL_SNAC = True
    print("real SNAC weights loaded")
except Exception as e:  # offline: no hub
    print(f"could not load the real SNAC: {e}\n")
    print(">>> OFFLINE: using the SNAC architecture with RANDOM weights; decoded audio will be NOISE <<<")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = Codec.load(random_init=True, seed=0, cfg=cfg)
    speech = [load_audio(p, target_rate=SR) for p in sorted(DATA.glob("*.flac"))]
    calibrate_codebooks(codec, speech, sample_rate=SR)
    REAL_SNAC = False
n_params = sum(p.numel() for p in codec.model.parameters())
print(f"SNAC 24 kHz: {n_params / 1e6:.1f} M parameters, hop {codec.model.hop_length}, "
      f"vq strides {codec.model.vq_strides}")

# %% [markdown]
# ## 1. Audio in: 24 kHz, mono, float
#
# SNAC wants a 24 kHz mono float waveform in [-1, 1]. Real files come at 8–48 kHz, in stereo, as
# 16-bit integers. `to_model_audio` converts all of these (resampling with librosa) and refuses
# what cannot be fixed (empty, NaN, inf) with a message that says what was wrong.

# %%
text = dict(line.split(" ", 1) for line in (DATA / "trans.txt").read_text().splitlines())
wav = load_audio(DATA / "slt-0001.flac", target_rate=SR)             # [N] float32, 24 kHz
print(f"'{text['slt-0001']}' -> {len(wav)} samples = {len(wav) / SR:.2f} s at {SR} Hz")
display(Audio(wav.numpy(), rate=SR, normalize=False))

# A harder input: the same speech as 44.1 kHz, 16-bit, stereo (channels last, as soundfile gives it)
import librosa

stereo_44k = librosa.resample(wav.numpy(), orig_sr=SR, target_sr=44_100)
stereo_int16 = (np.stack([stereo_44k, 0.5 * stereo_44k], axis=1) * 32767).astype(np.int16)   # [N, 2]
back = to_model_audio(stereo_int16, 44_100)
print(f"stereo int16 44.1 kHz {stereo_int16.shape} -> {tuple(back.shape)} float32 at 24 kHz")
for bad, what in [(np.zeros(0), "empty"), (np.full(100, np.nan), "NaN")]:
    try:
        to_model_audio(bad, 16_000)
    except ValueError as e:
        print(f"{what:>5}: ValueError: {e}")

# %% [markdown]
# ## 2. Three codebooks at three rates
#
# The encoder turns every 512 samples (hop 512, 21.3 ms) into a latent vector. Residual vector
# quantisation then describes the latents in three passes, each with a codebook of 4,096 entries
# but at its own rate: the first (coarse) averages 4 latents, the second 2, the third (fine) none.
#
# | codebook | stride | rate | per 2,048 samples |
# |---|---|---|---|
# | coarse | 4 | 11.72 Hz | 1 |
# | middle | 2 | 23.44 Hz | 2 |
# | fine   | 1 | 46.88 Hz | 4 |

# %%
x = torch.nn.functional.pad(wav, (0, -len(wav) % cfg.samples_per_frame))   # whole frames
t0 = time.perf_counter()
with torch.inference_mode():
    codes = codec.model.encode(x[None, None])                             # list of 3: [1, F], [1, 2F], [1, 4F]
encode_s = time.perf_counter() - t0
for name, c in zip(["coarse", "middle", "fine"], codes):
    print(f"{name:>6}: {tuple(c.shape)}, {len(c.unique())} distinct codes")
plot_codebooks(codes, SR, codec.model.hop_length)
plt.show()

# %% [markdown]
# ## 3. The 7-token frame
#
# Mini-Omni emits one column of 7 audio tokens per step: everything SNAC says about one coarse
# frame of 2,048 samples (85.33 ms). The 7 codes under coarse code *f* form a small tree, and the
# frame lists it **depth first**:
#
# ```
#                coarse[f]                       layer 0
#           /               \
#     middle[2f]          middle[2f+1]           layers 1, 4
#      /     \             /      \
# fine[4f] fine[4f+1]  fine[4f+2] fine[4f+3]     layers 2, 3, 5, 6
# ```
#
# so layer order is `coarse[f], middle[2f], fine[4f], fine[4f+1], middle[2f+1], fine[4f+2], fine[4f+3]`.
#
# ### Write it yourself
# Complete `my_codes_to_frames` with plain loops, then compare with the library's vectorised one.

# %%
def my_codes_to_frames(codes):
    coarse, middle, fine = (c.reshape(-1) for c in codes)
    F = len(coarse)
    frames = torch.empty(7, F, dtype=torch.long)
    for f in range(F):
        frames[:, f] = torch.stack([coarse[f], middle[2 * f], fine[4 * f], fine[4 * f + 1],
                                    middle[2 * f + 1], fine[4 * f + 2], fine[4 * f + 3]])
    return frames


frames = codes_to_frames(codes)                                           # [7, F]
print("my_codes_to_frames equals omni_lib.codec.codes_to_frames:", torch.equal(my_codes_to_frames(codes), frames))
assert torch.equal(my_codes_to_frames(codes), frames)
back_codes = frames_to_codes(frames)
assert all(torch.equal(a.reshape(-1), b.reshape(-1)) for a, b in zip(codes, back_codes))
F = frames.shape[1]
print(f"{len(wav) / SR:.2f} s of speech -> frames {tuple(frames.shape)}: {F} model steps of audio, "
      f"{cfg.frames_per_second:.2f} per second")

fig, ax = plt.subplots(figsize=(10, 2.6))
ax.imshow(frames[:, : min(F, 24)], aspect="auto", cmap="viridis")
ax.set_yticks(range(7), ["0 coarse[f]", "1 middle[2f]", "2 fine[4f]", "3 fine[4f+1]", "4 middle[2f+1]",
                         "5 fine[4f+2]", "6 fine[4f+3]"])
ax.set_xlabel("frame f (85.33 ms each)"); ax.set_title("frames [7, F]: one column per model step (colour = code)")
plt.show()

# %% [markdown]
# ## 4. Back to audio
#
# `Codec.decode` maps `[7, F]` frames to `F × 2,048` samples. SNAC's decoder adds a little random
# noise in each upsampling block (its `NoiseBlock`s); the course switches it off by default so that
# the same codes always give the same waveform, which is what lets us test streaming exactly.

# %%
t0 = time.perf_counter()
decoded = codec.decode(frames)                                            # [F * 2048]
decode_s = time.perf_counter() - t0
print(f"decode: {F} frames -> {len(decoded)} samples in {decode_s * 1000:.0f} ms "
      f"({len(decoded) / SR / decode_s:.1f}x real time); encode took {encode_s * 1000:.0f} ms")
if not REAL_SNAC:
    print(">>> random-weight SNAC: the decoded audio below is noise, not speech <<<")
display(Audio(decoded.numpy(), rate=SR, normalize=False))
plot_audio_compare({"input": wav.numpy(), "SNAC decode" + ("" if REAL_SNAC else " (random weights)"): decoded.numpy()}, SR)
plt.show()

same = torch.equal(codec.decode(frames), decoded)
noisy_a, noisy_b = codec.decode(frames, noise=True), codec.decode(frames, noise=True)
print(f"noise off: two decodes identical = {same}; noise on: max |a - b| = {(noisy_a - noisy_b).abs().max():.3g}")

# %% [markdown]
# ## 5. Streaming: decode while the model is still talking
#
# The model produces one frame per step, so the answer's audio should start playing long before it
# ends. SNAC's decoder is convolutional: each output sample depends on a few frames around it.
# Decoding a chunk **on its own** gets the edges wrong (audible clicks, this is what the released
# code does). Decoding it with enough **context frames** on both sides and keeping only the middle
# gives exactly the one-shot result. The context on the right is paid in latency: a chunk can only
# be decoded once the frames after it exist.

# %%
left, right = receptive_field_frames(codec)
print(f"the decoder's reach: {left} frames of left context, {right} of right context")


def stream(decoder, frames, step=1):
    """Feed frames as a model would (``step`` at a time) and concatenate what comes out."""
    chunks = []
    for i in range(0, frames.shape[1], step):
        chunks += decoder.push(frames[:, i : i + step])
    chunks.append(decoder.flush())
    return torch.cat(chunks), len(chunks)


ours, n_ours = stream(StreamingDecoder(codec, chunk_frames=4), frames)
ref, n_ref = stream(StreamingDecoder(codec, chunk_frames=4, reference_mode=True), frames)
err_ours = (ours - decoded).abs().max().item()
err_ref = (ref - decoded[: len(ref)]).abs().max().item()
latency_ms = StreamingDecoder(codec, chunk_frames=4).latency_ms
print(f"with context: {n_ours} chunks, {len(ours)} samples, max |stream - one-shot| = {err_ours:.2g}, "
      f"latency {latency_ms:.0f} ms of right context")
print(f"reference mode (no context, no tail): {len(ref)} samples ({len(decoded) - len(ref)} dropped), "
      f"max |stream - one-shot| = {err_ref:.2g}")

fig, ax = plt.subplots(figsize=(11, 2.6))
tt = np.arange(len(decoded)) / SR
floor = 1e-9                                      # log axis: exact zeros drawn at the floor
ax.semilogy(tt[: len(ref)], (ref - decoded[: len(ref)]).abs().clamp_min(floor).numpy(), lw=0.6,
            label="reference chunks, no context (seams)")
ax.semilogy(tt, (ours - decoded).abs().clamp_min(floor).numpy(), lw=0.6, label="with context (ours)")
for k in range(4, F, 4):
    ax.axvline(k * cfg.samples_per_frame / SR, color="grey", lw=0.4, ls=":")
ax.set_ylim(floor / 2, 1); ax.set_xlabel("seconds"); ax.set_ylabel("|stream - one-shot|")
ax.legend(loc="upper right"); ax.set_title("streamed vs one-shot decode (dotted: chunk edges)")
plt.show()
assert err_ours < 1e-4

# %%
report("01", real_snac=REAL_SNAC, frames=F, distinct_coarse=len(codes[0].unique()),
       stream_max_err=err_ours, reference_max_err=err_ref, stream_latency_ms=latency_ms,
       decode_x_realtime=len(decoded) / SR / decode_s)

# %% [markdown]
# ## Summary
# * `to_model_audio` / `load_audio`: any audio → 24 kHz mono float32, or a clear error.
# * SNAC: three codebooks at 11.72, 23.44 and 46.88 Hz; one coarse frame = 2,048 samples.
# * `codes_to_frames` flattens each frame's 7-code tree depth first into a column `[7, F]`;
#   `frames_to_codes` is its exact inverse. Real time needs 11.72 model steps per second.
# * `StreamingDecoder` decodes chunks with context and matches the one-shot decode; the released
#   code's context-free chunks leave seams and drop the tail.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`01_snac_frames`](../exercises/01_snac_frames/README.md): three codebooks ↔ `[7, F]` frames, both
#   ways (15–25 min). Grade it: `python -m omni_lib.grade 01_snac_frames`.
# * [`07_streaming`](../exercises/07_streaming/README.md): a streaming decoder with 3 + 3 frames of
#   context (30–45 min); it also fits after notebook 05.
#
# **In this notebook:**
# 1. In section 5, stream with `chunk_frames=1` and `chunk_frames=8`. Does the error against the
#    one-shot decode change? Does the latency (`StreamingDecoder.latency_ms`, and its docstring)?
# 2. How many model steps does one minute of speech take? The released model has a context of
#    2,048 positions: how long can a spoken answer be, at most?
#
# ---
# **Previous:** [00 · the tour](00_tour.ipynb) · **Next:** [02 · token space & delay](02_delay_patterns.ipynb)
# puts these 7 rows beside a text row.
