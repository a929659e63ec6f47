"""Plots the notebooks share: the 8-row id grid, SNAC codebooks, waveforms and spectrograms.

Every function draws into a new (or given) matplotlib figure and returns it, so notebooks stay
one line per picture::

    >>> from omni_lib.config import OmniConfig
    >>> from omni_lib.tokens import build_input
    >>> cfg = OmniConfig.from_preset("tiny")
    >>> fig = plot_id_grid(build_input("ASR", cfg, n_audio=4), cfg)
    >>> fig.axes[0].get_yticklabels()[-1].get_text()
    'text'
"""

from __future__ import annotations

import numpy as np
import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import TokenSpace

# Categories of an id, in legend order; colours chosen to stay apart for colour-blind readers.
CATEGORIES = [
    ("text token", "#4477aa"),
    ("text special (eot/asr/input_t/answer_t)", "#66ccee"),
    ("pad_t", "#e8e8e8"),
    ("audio code", "#228833"),
    ("eoa", "#ee6677"),
    ("pad_a", "#d0d0d0"),
    ("input_a / answer_a", "#ccbb44"),
    ("other special", "#aa3377"),
]


def id_categories(rows: torch.Tensor, cfg: OmniConfig) -> np.ndarray:
    """``(8, T)`` ids -> ``(8, T)`` category index into :data:`CATEGORIES`."""
    ts = TokenSpace(cfg)
    rows = torch.as_tensor(rows)
    cat = np.full(tuple(rows.shape), len(CATEGORIES) - 1)
    text = rows[-1].numpy()
    cat[-1][text < cfg.text_special_start] = 0
    cat[-1][np.isin(text, [ts.eot, ts.asr, ts.input_t, ts.answer_t])] = 1
    cat[-1][text == ts.pad_t] = 2
    values = ts.audio_value(rows[:-1]).numpy()  # raw per-layer values of the seven audio rows
    audio = cat[:-1]
    audio[(values >= 0) & (values < cfg.audio_codebook_size)] = 3
    audio[values == ts.eoa] = 4
    audio[values == ts.pad_a] = 5
    audio[np.isin(values, [ts.input_a, ts.answer_a])] = 6
    return cat


def plot_id_grid(rows, cfg: OmniConfig, *, title: str = "", annotate: bool | None = None,
                 step_labels: bool = True, ax=None):
    """Draw ``(8, T)`` ids as a coloured grid: rows audio 0..6 then text, columns positions/steps.

    ``annotate`` writes the raw value (audio) or id (text) in each cell; default: when T <= 24.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rows = torch.as_tensor(rows)
    cat = id_categories(rows, cfg)
    T = rows.shape[-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 0.45 * T, 18), 3.4))
    cmap = ListedColormap([c for _, c in CATEGORIES])
    ax.imshow(cat, cmap=cmap, vmin=0, vmax=len(CATEGORIES) - 1, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(8), [f"audio {i}" for i in range(7)] + ["text"])
    ax.set_xlabel("step" if step_labels else "position")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if annotate if annotate is not None else T <= 24:
        ts = TokenSpace(cfg)
        values = torch.cat([ts.audio_value(rows[:-1]), rows[-1:]])
        names = {ts.eot: "eot", ts.pad_t: "·", ts.input_t: "in", ts.answer_t: "ans", ts.asr: "asr"}
        anames = {ts.eoa: "eoa", ts.pad_a: "·", ts.input_a: "in", ts.answer_a: "ans"}
        for r in range(8):
            for c in range(T):
                v = int(values[r, c])
                label = names.get(v, str(v)) if r == 7 else anames.get(v, str(v))
                ax.text(c, r, label, ha="center", va="center", fontsize=7)
    present = sorted(set(cat.ravel().tolist()))
    ax.legend(handles=[Patch(color=CATEGORIES[i][1], label=CATEGORIES[i][0]) for i in present],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_codebooks(codes: list[torch.Tensor], sample_rate: int, hop: int, *, title: str = ""):
    """The three SNAC codebooks on one time axis: coarse 11.7 Hz, middle 23.4 Hz, fine 46.9 Hz."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(codes), 1, figsize=(11, 1.6 * len(codes)), sharex=True)
    finest = codes[-1].shape[-1]
    for ax, c in zip(axes, codes):
        c = c.reshape(-1).cpu().numpy()
        stride = finest // len(c)
        seconds = np.arange(len(c)) * stride * hop / sample_rate
        ax.step(seconds, c, where="post", lw=1)
        ax.plot(seconds, c, ".", ms=4)
        rate = sample_rate / (hop * stride)
        ax.set_ylabel(f"{rate:.2f} Hz\n{len(c)} codes", fontsize=8)
    axes[-1].set_xlabel("seconds")
    axes[0].set_title(title or "SNAC codes per codebook (value 0..4095 on the y axis)")
    fig.tight_layout()
    return fig


def plot_audio_compare(waves: dict[str, np.ndarray], sample_rate: int, *, title: str = ""):
    """Waveform (top row) and log-mel spectrogram (bottom row) of each named signal, side by side."""
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(waves), figsize=(5.5 * len(waves), 5), squeeze=False)
    for k, (name, w) in enumerate(waves.items()):
        w = np.asarray(w, dtype=np.float32).reshape(-1)
        axes[0, k].plot(np.arange(len(w)) / sample_rate, w, lw=0.4)
        axes[0, k].set_title(f"{name} ({len(w) / sample_rate:.2f} s)")
        axes[0, k].set_ylim(-1, 1)
        mel = librosa.feature.melspectrogram(y=w, sr=sample_rate, n_mels=80)
        librosa.display.specshow(librosa.power_to_db(mel, ref=np.max), sr=sample_rate, x_axis="time",
                                 y_axis="mel", ax=axes[1, k])
    fig.suptitle(title)
    fig.tight_layout()
    return fig
