"""The mini-omni data pipeline on tiny fixtures in each corpus's layout: the data config and its
errors, lazy pools (shares, lengths, bad and over-long items counted, never fatal), `prepare`
filling the cache that training then reads, and `omni_lib.train --preset mini-omni` end to end
with a tiny random Qwen2, a tiny random Whisper and a random SNAC."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import io
import json
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from omni_lib import DATA_DIR
from omni_lib.batches import make_example
from omni_lib.config import OmniConfig
from omni_lib.data import mixture
from omni_lib.data.mixture import TaskPool, build_mixture, load_data_config, parse_overrides
from omni_lib.batches import example_length
from omni_lib.encoder import n_features

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

COURSE = sorted((DATA_DIR / "course" / "train" / "101" / "1").glob("*.flac"))
TEXTS = dict(line.split(" ", 1) for line in
             (DATA_DIR / "course" / "train" / "101" / "1" / "101-1.trans.txt").read_text().splitlines())
WINDOW = 4.0                                  # Whisper window of the smoke tests (mini-omni: 30 s)
BLOCK = 256                                   # the tiny Qwen2's max_position_embeddings -> block_size


def clip(k, seconds=None):
    """Real speech: course clip k (16 kHz) as samples (cut to ``seconds``), and its transcript."""
    audio, rate = sf.read(COURSE[k], dtype="float32")
    return audio[: int(seconds * rate) if seconds else None], rate, TEXTS[COURSE[k].stem].strip()


def write_corpora(root: Path) -> None:
    # LibriSpeech layout: 3 clips, one 5 s clip (over the 4 s window), one corrupt flac (listed)
    chap = root / "LibriSpeech" / "train-clean-100" / "19" / "198"
    chap.mkdir(parents=True)
    lines = []
    for u in range(3):
        shutil.copy(COURSE[u], chap / f"19-198-{u:04d}.flac")
        lines.append(f"19-198-{u:04d} {clip(u)[2]}")
    long = np.concatenate([clip(k)[0] for k in range(4)])[: 5 * 16_000]
    sf.write(chap / "19-198-0003.flac", long, 16_000)
    lines.append("19-198-0003 A LONG ONE")
    (chap / "19-198-0004.flac").write_bytes(b"not a flac file" * 20)
    lines.append("19-198-0004 A BROKEN ONE")
    (chap / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    # LibriTTS layout: wav + normalized/original texts. TTS clips are cut short: SNAC is slow on a CPU
    chap = root / "LibriTTS" / "train-clean-100" / "84" / "121123"
    chap.mkdir(parents=True)
    for u in range(2):
        audio, rate, text = clip(3 + u, seconds=0.3)
        uid = f"84_121123_000{u}_000000"
        sf.write(chap / f"{uid}.wav", audio, rate)
        (chap / f"{uid}.normalized.txt").write_text(text.capitalize() + ".")
        (chap / f"{uid}.original.txt").write_text(text.capitalize() + ".")
    # VCTK 0.92 layout
    for u in range(2):
        audio, rate, text = clip(5 + u, seconds=0.3)
        (root / "VCTK" / "wav48_silence_trimmed" / "p225").mkdir(parents=True, exist_ok=True)
        (root / "VCTK" / "txt" / "p225").mkdir(parents=True, exist_ok=True)
        sf.write(root / "VCTK" / "wav48_silence_trimmed" / "p225" / f"p225_00{u + 1}_mic1.flac", audio, rate)
        (root / "VCTK" / "txt" / "p225" / f"p225_00{u + 1}.txt").write_text(text.capitalize() + ".")
    # VoiceAssistant-400K: the published schema; one answer too long for 256 positions, one with bad codes
    schema = pa.schema([("split_name", pa.string()), ("index", pa.string()), ("round", pa.string()),
                        ("question", pa.string()),
                        ("question_audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("answer", pa.string()), ("answer_snac", pa.string())])
    g = np.random.default_rng(0)
    rows = []
    for i, frames in enumerate([12, 20, 300, 15, 8]):
        audio, rate, text = clip(7 + i)
        buf = io.BytesIO()
        sf.write(buf, audio, rate, format="WAV")
        snac = " ".join("# " + " ".join(map(str, g.integers(0, 4096, 7))) for _ in range(frames))
        rows.append({"split_name": "alpaca", "index": str(i), "round": "0", "question": text.lower(),
                     "question_audio": {"bytes": buf.getvalue(), "path": f"q{i}.wav"},
                     "answer": f"the answer is {i}", "answer_snac": snac if i != 4 else "# 1 2 3"})
    (root / "VA" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "VA" / "data" / "train-00000-of-00001.parquet",
                   row_group_size=2)


CONFIG = """\
cache: cache
datasets:
  ls: {kind: librispeech, path: LibriSpeech, splits: [train-clean-100], lowercase: true}
  tts: {kind: libritts, path: LibriTTS, splits: [train-clean-100]}
  vctk: {kind: vctk, path: VCTK}
  va: {kind: voice_assistant, path: VA}
tasks:
  ASR: {ls: 2, tts: 1, vctk: 1}
  TTS: {tts: 1, vctk: 1}
  A1T2: {va: 1}
  A1A2: {va: 1}
  T1A2: {va: 1}
  T1T2: {va: 1}
"""


def write_models(root: Path) -> list[str]:
    """A tiny random Qwen2 (the real 151,936-row vocabulary), Whisper and SNAC; the --override list."""
    import whisper
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from omni_lib.codec import SNAC_24KHZ_CONFIG, load_snac

    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(vocab_size=151_936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=BLOCK,
                                 tie_word_embeddings=True)).save_pretrained(root / "qwen2")
    dims = whisper.model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                                         n_audio_layer=1, n_vocab=64, n_text_ctx=8, n_text_state=64,
                                         n_text_head=2, n_text_layer=1)
    w = whisper.model.Whisper(dims)
    torch.nn.init.normal_(w.decoder.positional_embedding, std=0.01)
    torch.save({"dims": dims.__dict__, "model_state_dict": w.state_dict()}, root / "whisper.pt")
    (root / "snac").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(load_snac(random_init=True).state_dict(), root / "snac" / "pytorch_model.bin")
    (root / "snac" / "config.json").write_text(json.dumps(SNAC_24KHZ_CONFIG))
    return [f"whisper_model={root / 'whisper.pt'}", "whisper_dim=64", f"whisper_window_s={WINDOW:g}",
            "adapter_intermediate_size=64", f"snac_model={root / 'snac'}"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixture")
    write_corpora(root)
    (root / "data.yaml").write_text(CONFIG)
    overrides = write_models(root)
    from omni_lib.text import TextTokenizer

    cfg = OmniConfig.from_preset("mini-omni", block_size=BLOCK, **parse_overrides(overrides))
    return SimpleNamespace(root=root, config=root / "data.yaml", overrides=overrides, cfg=cfg,
                           tokenizer=TextTokenizer.for_config(cfg))


def quiet(fn, *a, **k):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*a, **k)
    return out, [str(w.message) for w in caught]


# ---------------------------------------------------------------------------------- the config
def test_config_errors_name_the_key(world, tmp_path):
    data = load_data_config(world.config)
    assert data.cache == world.root / "cache" and data.tasks["ASR"] == {"ls": 2.0, "tts": 1.0, "vctk": 1.0}
    assert data.datasets["ls"].path == world.root / "LibriSpeech" and data.datasets["ls"].lowercase

    def bad(text, exc, match):
        f = tmp_path / "bad.yaml"
        f.write_text(text)
        with pytest.raises(exc, match=match):
            load_data_config(f)

    ok = CONFIG.replace("path: ", f"path: {world.root}/")
    bad(ok.replace(f"{world.root}/VCTK", f"{world.root}/nowhere"), FileNotFoundError,
        r"datasets\.vctk\.path: .*nowhere does not exist")
    bad(ok.replace("train-clean-100], lowercase", "train-clean-360], lowercase"), FileNotFoundError,
        r"datasets\.ls\.splits: .*train-clean-360 does not exist")
    bad(ok + "epochs: 3\n", ValueError, r"epochs: unknown key")
    bad(ok.replace("kind: vctk,", "kind: vctk, splits: [a],"), ValueError, r"datasets\.vctk\.splits: unknown key for kind vctk")
    bad(ok.replace("T1T2: {va: 1}", "T1T2: {vaa: 1}"), ValueError, r"tasks\.T1T2\.vaa: no such dataset")
    bad(ok.replace("A1T2: {va: 1}", "A1T2: {ls: 1}"), ValueError, r"tasks\.A1T2\.ls: a librispeech dataset cannot feed A1T2")
    bad(ok.replace("TTS: {tts: 1, vctk: 1}", "TTS: {tts: -1}"), ValueError, r"tasks\.TTS\.tts: weight must be")
    bad(ok.replace("T1T2:", "S2S:"), ValueError, r"tasks\.S2S: unknown task")
    bad(ok.replace("  va: {", "  va/x: {").replace("{va: 1}", "{va/x: 1}"), ValueError, r"datasets\.va/x: a dataset name")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["n_layer"])


def test_mls_becomes_librispeech_layout(tmp_path):
    from omni_lib.data import LibriSpeech
    from omni_lib.data.mls import to_librispeech

    split = tmp_path / "mls_english" / "train"
    for uid in ("4800_10003_000000", "4800_10003_000001", "12_7_000002"):
        spk, book, _ = uid.split("_")
        (split / "audio" / spk / book).mkdir(parents=True, exist_ok=True)
        shutil.copy(COURSE[0], split / "audio" / spk / book / f"{uid}.flac")
    (split / "transcripts.txt").write_text("4800_10003_000000\tone two\n4800_10003_000001\tthree\n"
                                           "12_7_000002\tfour\n12_7_000003\tno audio\n")
    report = to_librispeech(tmp_path / "mls_english", tmp_path / "mls-ls")
    assert report == {"train": {"utterances": 3, "left_out": 1}}
    assert [(e.id, e.text) for e in LibriSpeech(tmp_path / "mls-ls", split="train")] == [
        ("12-7-000002", "four"), ("4800-10003-000000", "one two"), ("4800-10003-000001", "three")]


def test_example_length_matches_make_example():
    cfg = OmniConfig.from_preset("tiny")
    g = torch.Generator().manual_seed(0)
    from omni_lib.batches import Example

    for task in ("ASR", "A1T2", "A1A2", "T1T2", "T1A2", "TTS"):
        for n_q, n_a, F, L in ((1, 1, 1, 1), (5, 3, 20, 7), (2, 30, 4, 50)):
            ex = Example(task, question=[5] * n_q, answer=[7] * n_a, frames=torch.randint(0, 4096, (7, F), generator=g),
                         features=torch.zeros(L, cfg.whisper_dim))
            T = make_example(ex, cfg)[0].shape[1]
            assert T == example_length(task, n_audio=L, n_question=n_q, n_answer=n_a, n_frames=F), (task, n_q, n_a, F, L)


def test_shares_cover_every_item():
    parts = [(SimpleNamespace(name="a"), np.arange(3), 1.0), (SimpleNamespace(name="b"), np.arange(5), 1.0)]
    pool = TaskPool("ASR", parts, None, None)
    seen = [pool.locate(i) for i in range(len(pool))]
    assert len(pool) == 10 and pool.sizes == {"a": 3, "b": 5}
    assert {j for d, j in seen if d == 0} == {0, 1, 2} and {j for d, j in seen if d == 1} == {0, 1, 2, 3, 4}
    assert sum(d == 0 for d, _ in seen) == 5                       # equal shares: half the positions each
    skewed = TaskPool("ASR", [(parts[0][0], np.arange(3), 3.0), (parts[1][0], np.arange(5), 1.0)], None, None)
    share = sum(skewed.locate(i)[0] == 0 for i in range(len(skewed))) / len(skewed)
    assert abs(share - 0.75) < 0.05 and {skewed.locate(i) for i in range(len(skewed))} >= {(1, j) for j in range(5)}


# ---------------------------------------------------------------------------------- pools
def test_pools_build_every_item_and_count_what_they_skip(world):
    data = load_data_config(world.config)             # the shared cache: the training test reuses it
    mix, said = quiet(build_mixture, data, world.cfg, world.tokenizer, progress=False)
    stats = mix.stats()
    assert stats["datasets"]["ls"]["items"] == 4 and stats["datasets"]["ls"]["skipped"] == 1       # corrupt flac
    assert any("19-198-0004.flac" in e for e in stats["datasets"]["ls"]["errors"])
    assert stats["datasets"]["va"]["items"] == 4 and stats["datasets"]["va"]["skipped"] == 1       # bad answer_snac
    items = {t: v["items"] for t, v in stats["tasks"].items()}
    assert items == {"ASR": {"ls": 3, "tts": 2, "vctk": 2}, "TTS": {"tts": 2, "vctk": 2}, "A1T2": {"va": 4},
                     "A1A2": {"va": 3}, "T1A2": {"va": 3}, "T1T2": {"va": 4}}
    assert stats["tasks"]["ASR"]["too_long"]["ls"] == {"audio": 1, "positions": 0}              # 5 s > 4 s window
    assert stats["tasks"]["A1A2"]["too_long"]["va"] == {"audio": 0, "positions": 1}             # 300 frames
    assert any("over the 4 s Whisper window" in s for s in said)
    assert len(mix.pools["ASR"]) == 8                 # shares 2:1:1 of sizes 3, 2, 2: segments 4, 2, 2
    for task, pool in mix.pools.items():
        for d, (source, keep) in enumerate(pool.parts):
            for k in range(len(keep)):
                i = next(i for i in range(len(pool)) if pool.locate(i) == (d, k))
                ex = pool[i]
                ids, _, _ = make_example(ex, world.cfg)
                assert ids.shape[1] <= BLOCK and ex.meta["dataset"] == source.name
                positions, seconds = source.length(task, int(keep[k]), world.cfg)
                assert ids.shape[1] == positions
                if task in ("ASR", "A1T2", "A1A2"):
                    assert ex.features.shape == (n_features(seconds, window_s=WINDOW), 64)
                if task in ("TTS", "A1A2", "T1A2"):
                    assert ex.frames.shape[0] == 7 and ex.frames.dtype == torch.long
    asr = next(ex for ex in mix.pools["ASR"] if ex.meta["dataset"] == "ls")
    assert world.tokenizer.decode(asr.answer) == clip(0)[2].lower()
    assert all(p.failed == 0 for p in mix.pools.values())


def test_an_item_that_breaks_after_indexing_is_replaced_and_counted(world, tmp_path):
    shutil.copytree(world.root / "LibriSpeech", tmp_path / "LibriSpeech")
    (tmp_path / "data.yaml").write_text("cache: cache\ndatasets:\n  ls: {kind: librispeech, path: LibriSpeech, "
                                        "splits: [train-clean-100]}\ntasks:\n  ASR: {ls: 1}\n")
    data = load_data_config(tmp_path / "data.yaml")
    mix, _ = quiet(build_mixture, data, world.cfg, world.tokenizer, progress=False)
    pool = mix.pools["ASR"]
    (tmp_path / "LibriSpeech" / "train-clean-100" / "19" / "198" / "19-198-0001.flac").write_bytes(b"damaged" * 50)
    ex, said = quiet(lambda: pool[1].meta)
    assert ex["id"] == "19-198-0002" and pool.failed == 1                # the next item stood in
    assert any("19-198-0001" in s and "stands in" in s for s in said)
    assert pool[1].meta["id"] == "19-198-0002" and pool.failed == 1      # counted once, not retried
    assert [pool[i].meta["id"] for i in (0, 2)] == ["19-198-0000", "19-198-0002"]


def test_prepare_fills_the_cache_that_training_reads(world, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert mixture.main(["prepare", "--config", str(world.config), "--cache", str(cache),
                             "--override", *world.overrides, "block_size=256"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prepare"] == {"items": 7 + 4 + 4, "failed": 0, "errors": []}   # ASR 7, A1T2 ⊇ A1A2: 4, TTS 4
    assert len(list(cache.glob("whisper-*/*/*.pt"))) == 11 and len(list(cache.glob("snac-*/*/*.pt"))) == 4
    assert len(list(cache.glob("va-rows/*/*.pt"))) == 4 and len(list(cache.glob("index/*.json"))) == 4
    # with everything cached, building items needs neither the audio nor the models
    data = load_data_config(world.config, cache=cache)
    mix, _ = quiet(build_mixture, data, world.cfg, world.tokenizer, progress=False)
    broken = lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed"))   # noqa: E731
    monkeypatch.setattr(mix.cache.encoder, "encode", broken)
    monkeypatch.setattr(mix.cache.codec, "encode", broken)
    monkeypatch.setattr("omni_lib.data.sources.load_audio", broken)
    for pool in mix.pools.values():
        for i in range(len(pool)):
            make_example(pool[i], world.cfg)
    assert all(p.failed == 0 for p in mix.pools.values())


# ---------------------------------------------------------------------------------- training
def test_train_mini_omni_stages_1_and_2(world, tmp_path, capsys):
    from omni_lib.model import OmniModel
    from omni_lib.train import main

    out = tmp_path / "run"
    common = ["--preset", "mini-omni", "--data-config", str(world.config), "--out", str(out),
              "--global-batch", "4", "--micro-batch", "2", "--precision", "fp32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*common, "--stage", "1", "--steps", "2", "--init", str(world.root / "qwen2"),
                     "--override", *world.overrides]) == 0
        stage1 = out / "stage1"
        assert (stage1 / "model" / "model.safetensors").is_file() and (stage1 / "model" / "text_tokenizer.json").is_file()
        assert len((stage1 / "metrics.jsonl").read_text().splitlines()) == 2
        stats = json.loads((stage1 / "data.json").read_text())
        assert set(stats["tasks"]) == {"ASR", "TTS"} and stats["tasks"]["TTS"]["items"] == {"tts": 2, "vctk": 2}
        assert stats["tasks"]["ASR"]["too_long"]["ls"]["audio"] == 1 and stats["datasets"]["ls"]["skipped"] == 1
        model = OmniModel.from_pretrained(stage1 / "model")
        assert (model.cfg.block_size, model.cfg.whisper_dim, model.cfg.text_special_start) == (BLOCK, 64, 151_936)
        # stage 2 starts from stage 1's model/ and its saved config
        assert main([*common, "--stage", "2", "--steps", "1"]) == 0
    stats = json.loads((out / "stage2" / "data.json").read_text())
    assert set(stats["tasks"]) == {"ASR", "A1T2", "T1T2"} and stats["tasks"]["A1T2"]["items"] == {"va": 4}
    assert (out / "stage2" / "model" / "model.safetensors").is_file()
    capsys.readouterr()


def test_train_mini_omni_fails_clearly(world, tmp_path):
    from omni_lib.train import main

    base = ["--preset", "mini-omni", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit, match="needs --data-config"):
        main([*base, "--stage", "1"])
    with pytest.raises(SystemExit, match="Qwen/Qwen2-0.5B"):        # offline: the hub layer names the asset
        main([*base, "--stage", "1", "--data-config", str(world.config)])
    with pytest.raises(SystemExit, match="train stage 1 with the same --out first"):
        main([*base, "--stage", "2", "--data-config", str(world.config)])
    (tmp_path / "bad.yaml").write_text(CONFIG.replace("path: VA", "path: nowhere").replace("path: ", f"path: {world.root}/"))
    with pytest.raises(SystemExit, match=r"datasets\.va\.path: .*nowhere does not exist"):
        main([*base, "--stage", "1", "--data-config", str(tmp_path / "bad.yaml")])
