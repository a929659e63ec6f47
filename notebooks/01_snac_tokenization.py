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
# 4. decode frames to audio, and decode a *stream* of frames chunk by chunk without seams;
# 5. take apart the course codec, which the course's tiny model speaks: a residual VQ of a log-mel
#    spectrogram at SNAC's three rates, and hear what each scale adds.
#
# *CPU time (tiny preset, 2 cores): about 20 s. Offline, SNAC has random weights (section 0) and its
# audio is noise; section 6's course codec makes speech you can hear.*

# %% tags=["parameters"]
PRESET = "tiny"       # SNAC is the same in every preset (the tiny model speaks the course codec, section 6)
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
# the speech as real ones do. Everything below works the same with the real weights. (Section 6
# shows the codec the course's tiny model speaks through: it needs no hub and makes real speech.)

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

# %% [markdown]
# ## 6. A codec you can read
#
# Offline, the SNAC above has random weights: its codes follow the speech, but its audio is noise,
# and the real weights need the Hugging Face hub. So the course's tiny model does not speak through
# SNAC. It speaks through the **course codec** (`omni_lib.mel_codec`): a *teaching codec* that makes
# speech audible offline. **It is not SNAC.** It keeps everything the model sees of SNAC (three
# codebooks at 11.72 / 23.44 / 46.88 Hz, the same 7-token frames through `codes_to_frames`) and
# replaces the neural network by three parts you can read in one sitting:
#
# 1. **analysis**: an 80-band log-mel spectrogram with SNAC's hop of 512 samples, so 4 mel rows per
#    2,048-sample frame;
# 2. **residual vector quantisation** at SNAC's three rates, with k-means codebooks of 1,024 entries
#    fitted on the course assistant's spoken answers;
# 3. **synthesis**: Griffin-Lim guesses a phase for the mel magnitudes and rebuilds a waveform.
#
# The course's tiny model (notebooks 03–05) is trained on this codec's codes of the corpus's answers
# (fitted once, shipped in `data/course/mel-rvq.pt`), and what it says is decoded by this codec.
# Below we take one of those answers apart by hand.

# %%
from omni_lib.mel_codec import _nearest, _pool, log_mel, rvq_encode
from omni_lib.prepare import course_codec, read_manifest

course = course_codec(OmniConfig.from_preset("tiny"))     # the tiny preset's codec: data/course/mel-rvq.pt
print(f"course codec ({course.kind}): codebooks {[tuple(b.shape) for b in course.books]} "
      f"(coarse, mid, fine), digest {course.digest()}")

COURSE = DATA_DIR / "course"
item = next(r for r in read_manifest(COURSE) if r["split"] == "train")        # the first training answer
answer = load_audio(COURSE / item["answer_audio"], target_rate=SR)
answer = torch.nn.functional.pad(answer, (0, -len(answer) % cfg.samples_per_frame))   # whole frames
print(f"answer '{item['answer']}': {len(answer) / SR:.2f} s = {len(answer) // cfg.samples_per_frame} frames")
display(Audio(answer.numpy(), rate=SR, normalize=False))

# %% [markdown]
# ### The log-mel: what the codec describes
#
# A log-mel spectrogram is the energy of the sound in 80 frequency bands (spaced like the ear's
# resolution: narrow at low pitch, wide at high), once per 512 samples (21.3 ms), on a log scale
# (loudness is heard logarithmically). It keeps what makes speech intelligible and drops the phase,
# which is why decoding needs Griffin-Lim to guess one. A frame of 2,048 samples is 4 mel rows.

# %%
mel = log_mel(answer.numpy())                                          # [4F, 80]
print(f"log-mel {mel.shape}: {mel.shape[0] // 4} frames x 4 rows, 80 bands; "
      f"values {mel.min():.1f} (silence floor) to {mel.max():.1f}")
fig, ax = plt.subplots(figsize=(10, 2.8))
im = ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma")
ax.set_xlabel("mel row (21.3 ms)"); ax.set_ylabel("mel band (low to high pitch)")
ax.set_title(f"log-mel of '{item['answer']}'"); fig.colorbar(im, ax=ax, label="log power")
plt.show()

# %% [markdown]
# ### Three scales, each describing what is left
#
# The same idea as SNAC's quantiser (section 2), applied to the mel itself instead of a learned
# latent. Each scale pools what the scales before it left over, picks the nearest entry of its
# codebook, and subtracts that entry (repeated back to the mel rate) before the next scale:
#
# | scale | pools | codes per frame | rate | carries |
# |---|---|---|---|---|
# | coarse | 4 rows | 1 | 11.72 Hz | loudness, the broad spectral envelope |
# | mid | 2 rows | 2 | 23.44 Hz | the formants' movement |
# | fine | 1 row | 4 | 46.88 Hz | fast changes: onsets, fricatives |
#
# Here it is step by step with the codec's own helpers (`_pool`: mean of each run of k rows;
# `_nearest`: index of the nearest codebook row). Graded exercise 09 has you write them.

# %%
coarse_book, mid_book, fine_book = course.books                      # [1024, 80] each
left = mel                                                           # what is still to describe
coarse = _nearest(_pool(left, 4), coarse_book)                       # [F]: one code per 4 rows
left = left - np.repeat(coarse_book[coarse], 4, axis=0)              # subtract what coarse said
print(f"coarse {coarse.shape}: mean |left| {np.abs(left).mean():.3f}")
mid = _nearest(_pool(left, 2), mid_book)                             # [2F]: one code per 2 rows
left = left - np.repeat(mid_book[mid], 2, axis=0)
print(f"mid    {mid.shape}: mean |left| {np.abs(left).mean():.3f}")
fine = _nearest(left, fine_book)                                     # [4F]: one code per row
left = left - fine_book[fine]
print(f"fine   {fine.shape}: mean |left| {np.abs(left).mean():.3f}   (started from mean |mel| {np.abs(mel).mean():.3f})")

by_hand = codes_to_frames([torch.from_numpy(c) for c in (coarse, mid, fine)], cfg=course.cfg)   # [7, F]
cframes = course.encode(answer, SR)                                  # the codec's own encoder
codes_match = torch.equal(by_hand, cframes)
print(f"hand-built frames {tuple(by_hand.shape)} equal course.encode(answer): {codes_match}")
print("first frame, hand-built:", by_hand[:, 0].tolist(), " course.encode:", cframes[:, 0].tolist())
assert codes_match
assert all(np.array_equal(a, b) for a, b in zip(rvq_encode(mel, course.books), (coarse, mid, fine)))

# %% [markdown]
# ### Hear what each scale adds
#
# Decoding sums the scales' entries, each repeated back to the mel rate
# (`mel ≈ coarse + mid + fine`); with fewer scales, fewer terms. `course.decode(frames, scales=s)`
# then runs Griffin-Lim on that mel. Listen from the coarse scale alone up to all three, then the
# original. (Griffin-Lim's phase can overshoot ±1 a little: `playable` scales such a clip down.)

# %%
def playable(wave):
    """Scale a waveform down to [-1, 1] only if it overshoots (Audio(normalize=False) refuses it)."""
    return wave / max(1.0, float(np.abs(wave).max()))


mel_err = {}
rebuilt = {}
for s in (1, 2, 3):
    rebuilt[s] = course.mel(cframes, scales=s)                       # [4F, 80]: the mel the codes describe
    mel_err[s] = float(np.abs(rebuilt[s] - mel).mean())
    print(f"{s} scale{'s' if s > 1 else ' '} ({['coarse', 'coarse + mid', 'coarse + mid + fine'][s - 1]}): "
          f"mean |log-mel error| {mel_err[s]:.3f}")
    display(Audio(playable(course.decode(cframes, scales=s).numpy()), rate=SR, normalize=False))
print("original:")
display(Audio(answer.numpy(), rate=SR, normalize=False))
assert mel_err[1] > mel_err[2] > mel_err[3]

fig, axes = plt.subplots(1, 4, figsize=(13, 2.8), sharey=True)
for ax, (title, m) in zip(axes, [("original", mel), *[(f"{s} scale{'s' * (s > 1)}: err {mel_err[s]:.2f}", rebuilt[s])
                                                       for s in (1, 2, 3)]]):
    ax.imshow(m.T, origin="lower", aspect="auto", cmap="magma", vmin=mel.min(), vmax=mel.max())
    ax.set_title(title); ax.set_xlabel("mel row")
axes[0].set_ylabel("mel band")
plt.show()

# %% [markdown]
# ### What it costs
#
# Seven codes of 10 bits (1,024 entries) per 85.33 ms frame: the course codec has SNAC's token
# layout and about its bitrate (SNAC's codebooks have 4,096 entries: 12 bits a code). What it gives
# up is not intelligibility but **naturalness** (Griffin-Lim's guessed phase sounds buzzy and
# metallic) and **generality**: the codebooks were fitted on one voice, the course assistant's, so
# other voices come out as the nearest assistant-like sounds. That is all the tiny model needs: it
# only ever speaks in that voice.

# %%
bits_per_code = np.log2(len(coarse_book))
kbps = 7 * bits_per_code * cfg.frames_per_second / 1000
print(f"course codec: 7 codes x log2({len(coarse_book)}) = {bits_per_code:.0f} bits x "
      f"{cfg.frames_per_second:.2f} frames/s = {kbps:.2f} kbit/s")
print(f"SNAC 24 kHz:  7 codes x log2(4096) = 12 bits x {cfg.frames_per_second:.2f} frames/s = "
      f"{7 * 12 * cfg.frames_per_second / 1000:.2f} kbit/s")
print(f"16-bit PCM at 24 kHz: {16 * SR / 1000:.0f} kbit/s, {16 * SR / 1000 / kbps:.0f}x more")

# %% [markdown]
# ### Beside SNAC
#
# With the real SNAC weights (section 0), the same answer goes through SNAC too: listen to both.
# SNAC's decoder learned its phase from data, so it sounds natural, and it codes any voice.

# %%
if REAL_SNAC:
    snac_wave = codec.decode(codec.encode(answer, SR))
    snac_err = float(np.abs(log_mel(snac_wave.numpy()) - mel).mean())
    print(f"SNAC round trip: mean |log-mel error| {snac_err:.3f} "
          f"(course codec, 3 scales: {mel_err[3]:.3f})")
    display(Audio(playable(snac_wave.numpy()), rate=SR, normalize=False))
    plot_audio_compare({"answer": answer.numpy(), "course codec": course.decode(cframes).numpy(),
                        "SNAC": snac_wave.numpy()}, SR)
    plt.show()
else:
    print(f"SNAC's weights need the hub ({cfg.snac_model}); this machine has none, so the SNAC of "
          f"sections 0-5 has random weights and there is no real SNAC to compare with. Online, "
          f"rerun this notebook (or set SNAC_SOURCE to a local copy) to hear the same answer through SNAC.")

# %%
report("01", real_snac=REAL_SNAC, frames=F, distinct_coarse=len(codes[0].unique()),
       stream_max_err=err_ours, reference_max_err=err_ref, stream_latency_ms=latency_ms,
       decode_x_realtime=len(decoded) / SR / decode_s, codec_codes_match=codes_match,
       codec_mel_err_1=mel_err[1], codec_mel_err_2=mel_err[2], codec_mel_err_3=mel_err[3], codec_kbps=kbps)

# %% [markdown]
# ## Summary
# * `to_model_audio` / `load_audio`: any audio → 24 kHz mono float32, or a clear error.
# * SNAC: three codebooks at 11.72, 23.44 and 46.88 Hz; one coarse frame = 2,048 samples.
# * `codes_to_frames` flattens each frame's 7-code tree depth first into a column `[7, F]`;
#   `frames_to_codes` is its exact inverse. Real time needs 11.72 model steps per second.
# * `StreamingDecoder` decodes chunks with context and matches the one-shot decode; the released
#   code's context-free chunks leave seams and drop the tail.
# * The course codec (`omni_lib.mel_codec`) is a teaching codec, not SNAC: a log-mel, a residual VQ
#   at SNAC's three rates (pool, quantise, subtract), Griffin-Lim. Same 7-token frames, 0.82 kbit/s,
#   intelligible for the one voice it was fitted on; the tiny model is trained on its codes.
#
# ## Exercises
# **Graded** (a spec, a stub and a grader each; instructors: [exercises/README.md](../exercises/README.md)):
# * [`01_snac_frames`](../exercises/01_snac_frames/README.md): three codebooks ↔ `[7, F]` frames, both
#   ways (15–25 min). Grade it: `python -m omni_lib.grade 01_snac_frames`.
# * [`07_streaming`](../exercises/07_streaming/README.md): a streaming decoder with 3 + 3 frames of
#   context (30–45 min); it also fits after notebook 05.
# * [`09_residual_vq`](../exercises/09_residual_vq/README.md): the course codec's residual VQ at three
#   rates, encoder and decoder (25–35 min). Grade it: `python -m omni_lib.grade 09_residual_vq`.
#
# **In this notebook:**
# 1. In section 5, stream with `chunk_frames=1` and `chunk_frames=8`. Does the error against the
#    one-shot decode change? Does the latency (`StreamingDecoder.latency_ms`, and its docstring)?
# 2. How many model steps does one minute of speech take? The released model has a context of
#    2,048 positions: how long can a spoken answer be, at most?
# 3. In section 6, encode a question from `data/course/train` (another voice) with the course codec
#    and listen to its round trip. What happens to a voice the codebooks were not fitted on?
#
# ---
# **Previous:** [00 · the tour](00_tour.ipynb) · **Next:** [02 · token space & delay](02_delay_patterns.ipynb)
# puts these 7 rows beside a text row.
