"""Bad input, as a careful user would give it (issue 16): every case through the real command line
(a subprocess: exit code, one line on stderr, no traceback) or the public function, and each
checks that nothing was lost or written wrongly.

The command-line cases fail in their argument checks, before any model loads, so each costs one
interpreter start. The README's documented commands appear with one wrong argument each (marked
``README``).
"""

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from omni_lib import DATA_DIR
from omni_lib.cli import BadFile, CommandError
from omni_lib.config import OmniConfig
from omni_lib.model import OmniModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from release_fixture import write_release  # noqa: E402

SMALL = dict(n_layer=1, n_embd=64, n_head=4, n_query_groups=2, head_size=16, intermediate_size=96,
             adapter_intermediate_size=64, text_vocab_size=320)
CFG = OmniConfig.from_preset("tiny", **SMALL)
RELEASE_CFG = OmniConfig.from_preset("mini-omni", **{**SMALL, "whisper_dim": 32, "block_size": 128})
QUESTION = DATA_DIR / "samples" / "rms-0002.flac"


def cli(module: str, *args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m omni_lib.<module> args`` in ``cwd``, offline, with the repository on the path."""
    full_env = {k: v for k, v in os.environ.items() if k != "OMNI_DEBUG"}
    full_env.update({"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env or {})})
    return subprocess.run([sys.executable, "-m", f"omni_lib.{module}", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def refused(r: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The command failed with ``code``, no traceback, and its last stderr line names ``words``."""
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "error:" in last, r.stderr[-2000:]
    for w in words:
        assert w in last, (w, last)
    return last


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small random model saved as training saves one (weights, config, tokenizer)."""
    from omni_lib.text import TextTokenizer

    d = tmp_path_factory.mktemp("model") / "model"
    torch.manual_seed(0)
    OmniModel(CFG).save_pretrained(d)
    TextTokenizer.for_config(CFG).save(d / "text_tokenizer.json")
    return d


def copy_of(d: Path, into: Path) -> Path:
    import shutil

    return Path(shutil.copytree(d, into))


# ====================================================================================== train
TRAIN_BAD = [   # (arguments, what the message names); exit code 2, nothing written
    (["--stage", "1", "--steps", "-5"], "--steps: must be at least 1, got -5"),
    (["--stage", "1", "--steps", "0"], "--steps: must be at least 1, got 0"),
    (["--stage", "1", "--micro-batch", "-1"], "--micro-batch: must be at least 1"),
    (["--stage", "1", "--micro-batch", "0"], "--micro-batch: must be at least 1"),
    (["--stage", "1", "--global-batch", "0"], "--global-batch: must be at least 1"),
    (["--stage", "x"], "--stage: --preset tiny has stages 0, 1, 2, 3"),
    (["--stage", "7"], "--stage: --preset tiny has stages 0, 1, 2, 3"),
    (["--preset", "nope", "--stage", "1"], "--preset 'nope': no training recipe"),
    (["--stage", "1", "--override", "n_layer=2", "nonsense=7"], "--override: --preset tiny"),
    (["--stage", "1", "--cache", "somewhere"], "--cache: --preset tiny"),
    (["--stage", "1", "--data-config", str(ROOT / "configs" / "mini-omni-data.yaml")], "--data-config: --preset tiny"),
    (["--stage", "all", "--steps", "3"], "--steps: --stage all runs the course pipeline"),
    (["--stage", "0", "--init", "."], "--init: stage 0 trains the text LM from random weights"),
    (["--stage", "2", "--init", "no/such/model"], "--init no/such/model: no such directory"),
    (["--stage", "2", "--resume", "--steps", "abc"], "--steps: must be an integer"),   # README: --stage 2 --resume
    (["--preset", "mini-omni", "--stage", "1"], "--preset mini-omni needs --data-config"),
    (["--preset", "mini-omni", "--stage", "all", "--data-config", "x.yaml"], "train one stage at a time"),
    (["--preset", "mini-omni", "--stage", "0", "--data-config", "x.yaml"], "--preset mini-omni has stages 1, 2, 3"),
    (["--preset", "mini-omni", "--stage", "1", "--data-config", "nowhere.yaml"], "--data-config nowhere.yaml: no such file"),
    (["--preset", "mini-omni", "--stage", "1", "--data-config", str(ROOT / "configs" / "mini-omni-data.yaml"),
      "--override", "nonsense=7"], "--override: OmniConfig has no field(s) ['nonsense']"),
    (["--preset", "mini-omni", "--stage", "1", "--data-config", str(ROOT / "configs" / "mini-omni-data.yaml"),
      "--codec", "mel-rvq"], "--codec mel-rvq: --preset mini-omni speaks through SNAC"),
]


@pytest.mark.parametrize("args, words", TRAIN_BAD, ids=[" ".join(a) for a, _ in TRAIN_BAD])
def test_train_refuses_bad_arguments_before_loading(args, words, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--out", out, *args, cwd=tmp_path)
    refused(r, 2, words)
    assert not out.exists() and not (tmp_path / "build").exists()      # nothing trained, nothing cached


def test_train_refuses_an_out_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("x")
    r = cli("train", "--stage", "1", "--out", tmp_path / "a-file" / "run", cwd=tmp_path)
    refused(r, 2, "--out", "is a file, not a folder")
    assert (tmp_path / "a-file").read_text() == "x"


@pytest.mark.parametrize("how", ["--debug", "OMNI_DEBUG=1"])
def test_debug_shows_the_traceback(how, tmp_path):
    args, env = (["--debug"], None) if how == "--debug" else ([], {"OMNI_DEBUG": "1"})
    r = cli("train", "--stage", "x", *args, cwd=tmp_path, env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr and "UsageError" in r.stderr


# ====================================================================================== chat
def test_chat_bad_arguments_fail_before_any_model_loads(model_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [  # (arguments, exit code, what the last line names)
        (["--ckpt", tmp_path / "nowhere", "--text", "hi"], 2, "--ckpt"),
        (["--ckpt", model_dir, "--audio", tmp_path / "q.wav"], 2, "--audio"),                # README: --audio
        (["--ckpt", model_dir, "--text", "hi", "--out", tmp_path / "no" / "a.wav"], 2, "does not exist"),  # README: --out
        (["--ckpt", model_dir, "--text", "hi", "--out", tmp_path / "a.xyz"], 2, "cannot write .xyz"),
        (["--ckpt", model_dir, "--text", "hi", "--out", tmp_path / "a.wav", "--text-only"], 2, "--text-only"),
        (["--ckpt", model_dir, "--text", "hi", "--max-steps", "0"], 2, "--max-steps: must be at least 1"),
        (["--ckpt", model_dir, "--text", "hi", "--chunk-frames", "-2"], 2, "--chunk-frames"),
        (["--ckpt", model_dir, "--audio", QUESTION, "--snac", "x", "--random-snac"], 2, "--snac and --random-snac"),
        (["--ckpt", empty, "--text", "hi"], 2, "not a model directory"),
    ]
    for args, code, words in cases:
        r = cli("chat", *args, cwd=tmp_path)
        last = refused(r, code, words)
        assert "not a model directory" not in last or args[1] == empty    # the input, not the model, is blamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]       # no answer file, no folder


def test_chat_an_audio_file_that_is_not_audio(model_dir, tmp_path):
    (tmp_path / "q.wav").write_bytes(b"RIFF not really")
    r = cli("chat", "--ckpt", model_dir, "--audio", tmp_path / "q.wav", cwd=tmp_path)
    refused(r, 1, "q.wav", "could not read")


def test_chat_says_so_when_the_answer_has_no_speech(tmp_path, capsys):
    """Fewer steps than the audio delay: the answer has text but no speech, --out cannot be written."""
    from omni_lib.chat import main
    from omni_lib.prepare import course_codec
    from omni_lib.text import TextTokenizer

    d = tmp_path / "model"
    torch.manual_seed(0)
    OmniModel(CFG).save_pretrained(d)
    TextTokenizer.for_config(CFG).save(d / "text_tokenizer.json")
    course_codec(CFG).save(d / "codec.pt")
    with warnings.catch_warnings(), pytest.raises(SystemExit) as e:
        warnings.simplefilter("ignore")
        main(["--ckpt", str(d), "--text", "what is two plus two", "--max-steps", "3", "--out", str(tmp_path / "a.wav")])
    assert e.value.code == 1 and "no speech" in str(e.value)
    err = capsys.readouterr().err
    assert "nothing written to" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "a.wav").exists()


# ====================================================================================== eval
def test_eval_bad_arguments_fail_before_any_model_loads(model_dir, tmp_path):
    course = DATA_DIR / "course"
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["asr", "--data-root", course], "exactly one of --ckpt"),
        (["asr", "--ckpt", model_dir, "--whisper", "base", "--data-root", course], "exactly one of --ckpt"),
        (["asr", "--whisper", "bsae", "--data-root", course], "--whisper bsae: not a Whisper model name"),   # README
        (["asr", "--ckpt", tmp_path / "nowhere", "--data-root", course], "--ckpt"),                       # README
        (["asr", "--ckpt", model_dir, "--data-root", tmp_path / "nowhere"], "--data-root"),               # README
        (["asr", "--ckpt", model_dir, "--data-root", course, "--batch-size", "0"], "--batch-size: must be at least 1"),
        (["asr", "--ckpt", model_dir, "--data-root", course, "--max-samples", "0"], "--max-samples"),
        (["asr", "--ckpt", model_dir, "--data-root", course, "--threads", "0"], "--threads"),
        (["asr", "--ckpt", model_dir, "--data-root", course, "--out", tmp_path / "a-file" / "o"], "is a file"),
        (["asr", "--ckpt", model_dir, "--data-root", course, "--device", "gpu9"], "--device gpu9"),
        (["bench", "--n", "0"], "--n: must be at least 1"),                                                # README
        (["bench", "--whisper", "nope"], "--whisper nope"),
        (["ear", "--ckpt", tmp_path / "nowhere"], "--ckpt"),
        (["ear", "--ckpt", model_dir, "--data-root", tmp_path], "no assistant.jsonl"),
    ]
    if not torch.cuda.is_available():
        cases.append((["asr", "--ckpt", model_dir, "--data-root", course, "--device", "cuda"], "no CUDA GPU"))
    for args, words in cases:
        refused(cli("eval", *args, cwd=tmp_path), 2, words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]      # no build/eval, no results


def test_a_second_eval_into_a_folder_in_use_is_refused(tmp_path):
    import fcntl

    from omni_lib import eval as ev

    class Fake:
        name, identity, window_s = "fake", {"fake": 1}, 30.0

        def transcribe(self, waves):
            return ["x"] * len(waves)

    run_dir = tmp_path / "out" / "fake"
    run_dir.mkdir(parents=True)
    (run_dir / "test-voices.jsonl").write_text('{"id": "a", "hypothesis": "kept"}\n')
    with open(run_dir / ".lock", "a+") as held:                          # another eval holds the folder
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CommandError, match="is in use by another evaluation"):
            ev.run_asr(Fake(), DATA_DIR / "course", ["test-voices"], tmp_path / "out", progress=False)
    assert (run_dir / "test-voices.jsonl").read_text() == '{"id": "a", "hypothesis": "kept"}\n'   # untouched
    # once the other run is gone (or killed: flock dies with it), the folder is free again
    s = ev.run_asr(Fake(), DATA_DIR / "course", ["test-voices"], tmp_path / "out", progress=False, max_samples=2)
    ids = [json.loads(x)["id"] for x in (run_dir / "test-voices.jsonl").read_text().splitlines()]
    assert s["splits"]["test-voices"]["n"] == 2 and len(ids) == len(set(ids))


def test_repeated_ids_in_an_eval_jsonl_are_merged(tmp_path):
    from omni_lib.eval import read_jsonl

    f = tmp_path / "test.jsonl"
    f.write_text('{"id": "a", "hypothesis": "1"}\n{"id": "b", "hypothesis": "2"}\n{"id": "a", "hypothesis": "3"}\n')
    with pytest.warns(UserWarning, match="1 id.* appeared twice"):
        done = read_jsonl(f)
    assert done["a"]["hypothesis"] == "3" and len(done) == 2
    assert [json.loads(x)["id"] for x in f.read_text().splitlines()] == ["a", "b"]


# ====================================================================================== other commands
OTHER_BAD = [   # (module, arguments, exit code, what the last line names)
    ("prepare", ["--preset", "nope"], 2, "--preset 'nope'"),                                       # README
    ("prepare", ["--root", "nowhere"], 2, "--root nowhere: no assistant.jsonl"),
    ("grade", ["no_such_exercise"], 2, "exercise 'no_such_exercise' matches none"),                 # README (make grade)
    ("grade", ["02", "--dir", "nowhere"], 2, "--dir nowhere is not a directory"),
    ("course", ["--only", "99"], 2, "--only 99: no notebook matches"),                              # README (make course)
    ("course", ["--preset", "nope"], 2, "--preset"),
    ("course", ["--timeout", "0"], 2, "--timeout: must be at least 1"),
    ("bench", ["decode", "--preset", "tiny", "--steps", "2"], 2, "--steps must be at least 4"),    # README
    ("bench", ["decode", "--preset", "nope"], 2, "--preset"),
    ("bench", ["decode", "--audio-seconds", "-1"], 2, "--audio-seconds: must be greater than 0"),
    ("bench", ["train", "--preset", "mini-omni", "--stage", "7"], 2, "--stage 7: --preset mini-omni has stages 1, 2, 3"),  # README
    ("bench", ["train", "--micro-batch", "0"], 2, "--micro-batch: must be at least 1"),
    ("data.mixture", ["prepare", "--config", "nowhere.yaml"], 2, "--config nowhere.yaml: no such file"),   # README
    ("data.mixture", ["prepare", "--config", ROOT / "configs" / "mini-omni-data.yaml", "--override", "nonsense=1"],
     2, "--override: OmniConfig has no field(s) ['nonsense']"),
    ("data.mixture", ["prepare", "--config", ROOT / "configs" / "mini-omni-data.yaml", "--tasks", "ASRR"], 2, "--tasks ASRR"),
    ("data.mls", ["nowhere", "out"], 2, "src nowhere: no such directory"),
    ("data.synth", ["--limit", "0"], 2, "--limit: must be at least 1"),
]


@pytest.mark.parametrize("module, args, code, words", OTHER_BAD, ids=[f"{m} {' '.join(map(str, a))}" for m, a, _, _ in OTHER_BAD])
def test_other_commands_refuse_bad_arguments(module, args, code, words, tmp_path):
    refused(cli(module, *args, cwd=tmp_path), code, words)
    assert not list(tmp_path.iterdir())                                   # nothing written


def test_a_malformed_data_config_names_the_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("datasets:\n  va: {kind: voice_assistant\n")
    r = cli("data.mixture", "prepare", "--config", tmp_path / "bad.yaml", cwd=tmp_path)
    refused(r, 1, "bad.yaml: not valid YAML", "line")


# ====================================================================================== model files
def test_a_truncated_model_safetensors_names_the_file(model_dir, tmp_path):
    d = copy_of(model_dir, tmp_path / "m")
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFile, match=r"model\.safetensors: not a complete safetensors file .* copy the folder again"):
        OmniModel.from_pretrained(d)
    (d / "model.safetensors").write_bytes(b"\x08")                        # not even a header
    with pytest.raises(BadFile, match=r"model\.safetensors: not a complete safetensors file"):
        OmniModel.from_pretrained(d)


def test_a_malformed_config_json_names_the_file_and_place(model_dir, tmp_path):
    d = copy_of(model_dir, tmp_path / "m")
    text = (d / "config.json").read_text()
    (d / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(BadFile, match=r"config\.json: not valid JSON \(.* at line \d+, column \d+\)"):
        OmniModel.from_pretrained(d)
    (d / "config.json").write_text('{"omni": {}}')
    with pytest.raises(BadFile, match="has no 'omni' and 'backbone' sections"):
        OmniModel.from_pretrained(d)


@pytest.mark.parametrize("edit, words", [
    (lambda m: m["omni"].update(rope_base=10_000.0), "omni.rope_base = 10000.0 but backbone.rope_theta = 1000000.0"),
    (lambda m: m["backbone"].update(num_hidden_layers=2), "omni.n_layer = 1 but backbone.num_hidden_layers = 2"),
    (lambda m: m["omni"].update(whisper_window_s=45.0), "omni.whisper_window_s = 45.0 but Whisper hears 0 to 30 s"),
])
def test_a_config_json_whose_sections_contradict_is_refused(edit, words, model_dir, tmp_path):
    d = copy_of(model_dir, tmp_path / "m")
    meta = json.loads((d / "config.json").read_text())
    edit(meta)
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(BadFile, match="its sections contradict each other") as e:
        OmniModel.from_pretrained(d)
    assert words in str(e.value) and str(d / "config.json") in str(e.value)


def test_weights_that_do_not_match_the_config_name_both_files(model_dir, tmp_path):
    d = copy_of(model_dir, tmp_path / "m")
    meta = json.loads((d / "config.json").read_text())
    meta["omni"]["intermediate_size"] = meta["backbone"]["intermediate_size"] = 128     # consistent, but not the weights'
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"model\.safetensors does not match the model that .*config\.json describes: "
                                         r".*checkpoint \(96, 64\) vs model \(128, 64\)"):
        OmniModel.from_pretrained(d)


def test_release_files_that_are_damaged_name_the_file(tmp_path):
    write_release(tmp_path, RELEASE_CFG)
    good = (tmp_path / "lit_model.pth").read_bytes()
    (tmp_path / "lit_model.pth").write_bytes(good[: len(good) // 2])          # a download cut short
    with pytest.raises(BadFile, match=r"lit_model\.pth: not a torch checkpoint .* huggingface-cli download"):
        OmniModel.from_mini_omni(tmp_path, whisper=False)
    (tmp_path / "lit_model.pth").write_bytes(b"<html>404</html>")               # not a torch zip
    with pytest.raises(BadFile, match=r"lit_model\.pth: not a torch checkpoint"):
        OmniModel.from_mini_omni(tmp_path, whisper=False)
    (tmp_path / "lit_model.pth").write_bytes(good)
    (tmp_path / "model_config.yaml").write_text("n_layer: 1\nn_embd: [64\n")
    with pytest.raises(BadFile, match=r"model_config\.yaml: not valid YAML .*line \d+"):
        OmniModel.from_mini_omni(tmp_path, whisper=False)


def test_a_damaged_tokenizer_file_names_the_file(tmp_path):
    from omni_lib.text import TextTokenizer

    (tmp_path / "text_tokenizer.json").write_text('{"format": ')
    with pytest.raises(BadFile, match=r"text_tokenizer\.json: not valid JSON .*TextTokenizer\.save writes"):
        TextTokenizer.load(tmp_path / "text_tokenizer.json", CFG)


# ====================================================================================== no unpickling
class Payload:
    """Unpickling this creates the file ``ran``: a loader that runs it has failed."""

    def __init__(self, where: Path):
        self.where = str(where)

    def __reduce__(self):
        return (open, (self.where, "w"))


def plant(path: Path, ran: Path, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"payload": Payload(ran), **extra}, path)
    return path


def test_no_loader_runs_a_pickled_payload(tmp_path):
    """Every loader a user can hand a file to: the release, SNAC, Whisper, the shipped codes,
    training checkpoints, the feature caches. None may run the payload."""
    from omni_lib.codec import Codec
    from omni_lib.encoder import WhisperEncoder
    from omni_lib.prepare import shipped_codes
    from omni_lib.train import load_checkpoint
    from omni_lib.whisper_weights import load_whisper, random_whisper

    ran = tmp_path / "ran"
    write_release(tmp_path / "release", RELEASE_CFG)
    plant(tmp_path / "release" / "lit_model.pth", ran)
    with pytest.raises(BadFile, match=r"lit_model\.pth: holds Python objects .* refused"):
        OmniModel.from_mini_omni(tmp_path / "release", whisper=False)
    snac = tmp_path / "snac"
    plant(snac / "pytorch_model.bin", ran)
    from omni_lib.codec import SNAC_24KHZ_CONFIG

    (snac / "config.json").write_text(json.dumps(SNAC_24KHZ_CONFIG))
    with pytest.raises(BadFile, match=r"pytorch_model\.bin: holds Python objects"):
        Codec.load(snac)
    with pytest.raises(BadFile, match=r"whisper\.pt: holds Python objects"):
        load_whisper(plant(tmp_path / "whisper.pt", ran, dims={}, model_state_dict={}))
    plant(tmp_path / "corpus" / "mel-rvq.pt", ran)
    with pytest.raises(BadFile, match=r"mel-rvq\.pt: holds Python objects"):
        shipped_codes(tmp_path / "corpus")
    with pytest.raises(BadFile, match=r"ckpt\.pt: holds Python objects"):
        load_checkpoint(plant(tmp_path / "stage1" / "ckpt.pt", ran))
    # a feature cache file is computed again instead (with a warning), never run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = WhisperEncoder(random_whisper("tiny").encoder, window_s=1.0, cache_dir=tmp_path / "feats")
    wave = torch.zeros(8000).uniform_(-0.5, 0.5)
    first, _ = enc.encode([wave], 16_000)
    (cached,) = (tmp_path / "feats").glob("*.pt")
    plant(cached, ran)
    enc.clear_cache()
    with pytest.warns(UserWarning, match="damaged feature cache file"):
        again, _ = enc.encode([wave], 16_000)
    assert torch.equal(first, again)
    assert not ran.exists()


# ====================================================================================== nothing silent
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_audio_features_are_refused(bad):
    from omni_lib.decode import generate

    torch.manual_seed(0)
    model = OmniModel(CFG).eval()
    feats = torch.randn(5, CFG.whisper_dim)
    feats[2, 3] = bad
    with pytest.raises(ValueError, match="audio_features hold 1 NaN or inf values"):
        generate(model, "A1T2", audio_features=feats, max_new_steps=3)


# ---------------------------------------------------------------------------------- training files
def tiny_run(out: Path, **kw):
    from omni_lib.batches import Example
    from omni_lib.stages import Stage
    from omni_lib.train import Run

    g = torch.Generator().manual_seed(0)
    pools = {"T1T2": [Example("T1T2", question=torch.randint(0, 200, (3,), generator=g).tolist(),
                              answer=torch.randint(0, 200, (3,), generator=g).tolist()) for _ in range(4)]}
    stage = Stage("test", ("text_rows", "blocks"), {"T1T2": 1.0}, steps=kw.pop("steps", 4), lr=1e-3, min_lr=1e-4,
                  warmup=1, global_batch=2)
    torch.manual_seed(0)
    return Run(OmniModel(CFG), stage, pools, out, progress=False, **kw)


def logged_steps(out: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_metrics_hold_each_step_once_after_a_kill_before_the_first_checkpoint(tmp_path):
    from omni_lib.train import train_stage

    train_stage(tiny_run(tmp_path, save_every=100, stop_after=2))
    (tmp_path / "ckpt.pt").unlink()               # killed after logging 2 steps, before any checkpoint was written
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')                # ... and in the middle of a line
    train_stage(tiny_run(tmp_path, resume=True))
    assert logged_steps(tmp_path) == [1, 2, 3, 4]


def test_metrics_hold_each_step_once_after_kills_and_resumes(tmp_path):
    from omni_lib.train import train_stage

    train_stage(tiny_run(tmp_path, steps=6, save_every=2, stop_after=3))     # checkpoint at 2 and 3
    with open(tmp_path / "metrics.jsonl", "a") as f:                         # killed after logging 4 and 5
        f.write('{"step": 4}\n{"step": 5}\n')
    train_stage(tiny_run(tmp_path, steps=6, save_every=2, stop_after=5, resume=True))
    train_stage(tiny_run(tmp_path, steps=6, save_every=2, resume=True))
    assert logged_steps(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_partial_checkpoint_from_a_killed_save_is_removed(tmp_path):
    from omni_lib.train import train_stage

    train_stage(tiny_run(tmp_path, steps=2))
    before = (tmp_path / "ckpt.pt").read_bytes()
    (tmp_path / "ckpt.pt.tmp").write_bytes(b"half a checkpoint")            # a later save, killed mid-write
    train_stage(tiny_run(tmp_path, steps=2, resume=True))                    # finished already: nothing to save
    assert not (tmp_path / "ckpt.pt.tmp").exists() and (tmp_path / "ckpt.pt").read_bytes() == before


def test_a_damaged_checkpoint_names_the_file_and_what_to_do(tmp_path):
    from omni_lib.train import train_stage

    train_stage(tiny_run(tmp_path, steps=2))
    data = (tmp_path / "ckpt.pt").read_bytes()
    (tmp_path / "ckpt.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(BadFile, match=r"ckpt\.pt: not a complete torch checkpoint .* Delete it to train this stage"):
        train_stage(tiny_run(tmp_path, steps=2, resume=True))
    assert (tmp_path / "metrics.jsonl").is_file()                            # nothing else touched


def test_a_refused_resume_names_the_checkpoint_and_every_difference(tmp_path):
    import dataclasses

    from omni_lib.train import train_stage

    train_stage(tiny_run(tmp_path, steps=2, stop_after=1))
    run = tiny_run(tmp_path, steps=2, resume=True, seed=5)
    run.stage = dataclasses.replace(run.stage, lr=5e-3)
    with pytest.raises(BadFile, match=r"(?s)ckpt\.pt: cannot resume.*stage\.lr: checkpoint 0\.001 vs now 0\.005(?s:.*)seed"):
        train_stage(run)
    assert logged_steps(tmp_path) == [1]                                     # the interrupted run's log is kept


@pytest.mark.parametrize("field, value", [("steps", -5), ("steps", 0), ("micro_batch", 0), ("micro_batch", -1)])
def test_train_stage_refuses_impossible_numbers(field, value, tmp_path):
    import dataclasses

    from omni_lib.train import train_stage

    run = tiny_run(tmp_path)
    if field == "steps":
        run.stage = dataclasses.replace(run.stage, steps=value)
    else:
        run.micro_batch = value
    with pytest.raises(ValueError, match="must be at least 1"):
        train_stage(run)
    assert not (tmp_path / "ckpt.pt").exists()                               # no untrained model saved

