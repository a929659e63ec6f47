"""The training loop: which parameters each stage trains, exact resume, a 2-process gloo DDP run
equal to one process, atomic checkpoints, refusing a changed config, and a falling loss."""

import contextlib
import json
import os
import socket

import pytest
import torch

from omni_lib.batches import Example
from omni_lib.config import OmniConfig
from omni_lib.model import OmniModel
from omni_lib.stages import STAGES, Stage, apply_stage, table_rows, trainable_summary
from omni_lib.tokens import build_input
from omni_lib.train import Run, check_resume, save_checkpoint, step_examples, train_stage

CFG = OmniConfig.from_preset("tiny", n_layer=1, n_embd=64, n_head=4, head_size=16, intermediate_size=96,
                             adapter_intermediate_size=64, text_vocab_size=320)


def pools(seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = lambda: torch.randn(6, CFG.whisper_dim, generator=g)          # noqa: E731
    frames = lambda: torch.randint(0, 4096, (7, 4), generator=g)          # noqa: E731
    text = lambda: torch.randint(0, 200, (3,), generator=g).tolist()      # noqa: E731
    out = {"ASR": [], "TTS": [], "A1T2": [], "T1T2": [], "A1A2": [], "T1A2": []}
    for _ in range(6):
        q, a, f, fr = text(), text(), feats(), frames()
        out["ASR"].append(Example("ASR", answer=q, features=f))
        out["TTS"].append(Example("TTS", answer=a, frames=fr))
        out["A1T2"].append(Example("A1T2", answer=a, features=f))
        out["T1T2"].append(Example("T1T2", question=q, answer=a))
        out["A1A2"].append(Example("A1A2", answer=a, frames=fr, features=f))
        out["T1A2"].append(Example("T1A2", question=q, answer=a, frames=fr))
    return out


def stage(steps=6, batch=4, tasks=None):
    return Stage("test", ("adapter", "text_rows", "audio_rows", "blocks"), tasks or {"A1A2": 1.0, "T1T2": 1.0, "ASR": 1.0},
                 steps=steps, lr=3e-3, min_lr=3e-4, warmup=2, global_batch=batch)


def fresh_model(seed=0):
    torch.manual_seed(seed)
    return OmniModel(CFG)


@pytest.mark.parametrize("s", [0, 1, 2, 3])
def test_each_stage_trains_exactly_its_parts(s, tmp_path):
    model = fresh_model()
    st = STAGES["tiny"][s]
    apply_stage(model, st)
    summary = trainable_summary(model)
    assert (summary["adapter"] > 0) == ("adapter" in st.trains)
    assert (summary["blocks"] > 0) == ("blocks" in st.trains)
    assert (summary["text rows"] > 0) == ("text_rows" in st.trains)
    assert (summary["audio rows"] > 0) == bool({"audio_rows", "audio_codes"} & set(st.trains))
    # one real step: frozen parts, and the frozen half of the tied table, stay bit-identical
    before = {k: v.clone() for k, v in model.state_dict().items()}
    one = Stage(**{**st.__dict__, "steps": 1, "global_batch": 4, "warmup": 1})
    train_stage(Run(model, one, pools(), tmp_path, progress=False))
    heard = any(e.features is not None for e in step_examples(pools(), one, 0, seed=0))
    after = model.state_dict()
    table = "backbone.embed_tokens.weight"
    changed = lambda k, rows=slice(None): not torch.equal(before[k][rows], after[k][rows])  # noqa: E731
    assert changed("adapter.fc_1.weight") == ("adapter" in st.trains and heard)
    assert changed("backbone.layers.0.mlp.up_proj.weight") == ("blocks" in st.trains)
    assert changed(table, slice(0, CFG.text_vocab_size)) == ("text_rows" in st.trains)
    keep = table_rows(CFG, st.trains, after[table].shape[0])
    assert changed(table, keep) == bool(keep.any())
    assert not changed(table, ~keep)                  # every row the stage does not train: bit-identical


def test_stage1_leaves_text_tasks_bit_identical(tmp_path):
    """Stage 1 learns to hear and speak without changing one logit of a text-only task: text inputs
    average in the audio layers' pad_a rows, which stage 1 keeps frozen (it trains code rows only)."""
    model = fresh_model()
    ids = build_input("T1T2", CFG, text_ids=[5, 6, 7])[None]
    before = model(ids).text_logits
    one = Stage(**{**STAGES["tiny"][1].__dict__, "steps": 2, "global_batch": 4, "warmup": 1})
    train_stage(Run(model, one, pools(), tmp_path, progress=False))
    assert torch.equal(model(ids).text_logits, before)


def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    a = fresh_model()
    train_stage(Run(a, stage(), pools(), tmp_path / "a", progress=False))
    b = fresh_model()
    train_stage(Run(b, stage(), pools(), tmp_path / "b", progress=False, save_every=2, stop_after=3))
    with open(tmp_path / "b" / "metrics.jsonl", "a") as f:   # killed after logging step 4, before its checkpoint
        f.write(json.dumps({"step": 4, "loss": 9.9}) + "\n")
    b2 = fresh_model(seed=123)                         # a new process: different init, state comes from disk
    train_stage(Run(b2, stage(), pools(), tmp_path / "b", progress=False, resume=True))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b2.state_dict()[k]), k
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4, 5, 6]       # each step once: the redone 4 replaces the lost one
    assert (tmp_path / "b" / "loss.png").exists()


def test_resume_refuses_a_changed_config(tmp_path):
    m = fresh_model()
    train_stage(Run(m, stage(), pools(), tmp_path, progress=False, stop_after=2))
    with pytest.raises(ValueError, match=r"stage.lr: checkpoint 0.003 vs now 0.001"):
        train_stage(Run(fresh_model(), Stage(**{**stage().__dict__, "lr": 1e-3}), pools(), tmp_path,
                        progress=False, resume=True))
    with pytest.raises(ValueError, match="seed: checkpoint 0 vs now 5"):
        check_resume({"config": {}, "stage": {}, "seed": 0}, {"config": {}, "stage": {}, "seed": 5})
    # pools made differently (here: without the speed-perturbed copies) are a different run too
    train_stage(Run(fresh_model(), stage(), pools(), tmp_path / "aug", progress=False, stop_after=2,
                    data={"speeds": [0.9, 1.1]}))
    with pytest.raises(ValueError, match=r"data: checkpoint \{'speeds': \[0.9, 1.1\]\} vs now None"):
        train_stage(Run(fresh_model(), stage(), pools(), tmp_path / "aug", progress=False, resume=True))


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})

    def disk_full(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="previous checkpoint .* is intact"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1 and not (tmp_path / "ckpt.pt.tmp").exists()


def test_loss_falls(tmp_path):
    import json

    model = fresh_model()
    st = stage(steps=40, batch=8, tasks={"T1T2": 1.0, "A1A2": 1.0})
    last = train_stage(Run(model, st, pools(), tmp_path, progress=False))
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["loss"]
    assert last["loss"] < 0.5 * first


@contextlib.contextmanager
def recorded_gradients(model):
    """Collect, before every optimizer step, the gradient each parameter is about to be updated
    with (under DDP: after the all-reduce). Yields a list with one ``{name: grad}`` per step."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    names = {id(p): n for n, p in model.named_parameters()}
    steps = []
    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: steps.append(
        {names[id(p)]: p.grad.clone() for g in opt.param_groups for p in g["params"] if p.grad is not None}))
    try:
        yield steps
    finally:
        handle.remove()


def _ddp_worker(rank, world, port, out):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = fresh_model()
    # fp32: with a bf16 head (the "auto" default on AMX CPUs) each micro-batch's head gradient is
    # rounded to bf16 before it is summed, so another split of the batch rounds differently
    with recorded_gradients(model) as grads:
        train_stage(Run(model, stage(steps=4, batch=4), pools(), out, progress=False, micro_batch=1, precision="fp32"))
    if rank == 0:
        torch.save({"model": model.state_dict(), "grads": grads}, out / "final.pt")
    torch.distributed.destroy_process_group()


# Key biases are compared by their gradients only, not their weights. With RoPE their gradient is
# not zero, but it nearly cancels (softmax ignores what a bias adds equally to every logit): about
# 1e-3 of the other gradients here, so fp32 rounding is up to ~10 % of some of its elements, and
# AdamW divides each element by its own size, turning that into a weight difference (1.07e-5 after
# 4 steps on an AMD EPYC CPU, 0 on Intel). DDP promises equal gradients, not equal rounding.
NEAR_ZERO_GRADIENT = ("self_attn.k_proj.bias",)


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(tmp_path):
    """2 processes × micro-batch 1 train as 1 process × micro-batch 2: at every step each parameter
    is updated with the same gradient (DDP's all-reduced mean), to fp32 rounding, on any x86 CPU;
    the weights then agree, except where a gradient is too small for rounding to stay small in it."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, tmp_path / "ddp")) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    ddp = torch.load(tmp_path / "ddp" / "final.pt")
    single = fresh_model()
    with recorded_gradients(single) as grads:
        train_stage(Run(single, stage(steps=4, batch=4), pools(), tmp_path / "one", progress=False, micro_batch=2,
                        precision="fp32"))
    # the norm before clipping (logged per step) catches a wrongly scaled all-reduce, which clipping
    # to norm 1 and AdamW would both hide
    def norms(run):
        return [json.loads(x)["grad_norm"] for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    torch.testing.assert_close(norms("ddp"), norms("one"), rtol=1e-4, atol=0)
    assert len(grads) == len(ddp["grads"]) == 4 and set(grads[0]) == set(ddp["grads"][0])
    for step, (mine, theirs) in enumerate(zip(grads, ddp["grads"])):
        scale = max(g.abs().max() for g in mine.values())        # measured: differences ~4e-8 at scale 0.1
        for k, g in mine.items():
            torch.testing.assert_close(theirs[k], g, atol=1e-5 * scale, rtol=1e-4, msg=f"step {step + 1} {k}")
    key_bias = grads[0]["backbone.layers.0.self_attn.k_proj.bias"].abs().max()
    assert key_bias < 1e-2 * scale                             # the reason it is left out below
    for k, v in single.state_dict().items():
        if not k.endswith(NEAR_ZERO_GRADIENT):
            torch.testing.assert_close(ddp["model"][k], v, atol=1e-5, rtol=1e-4, msg=k)


@pytest.fixture
def fake_course(monkeypatch):
    """train_course on the tiny fake pools: no corpus, no Whisper, no evaluation, no speed copies."""
    import omni_lib.prepare
    import omni_lib.train as train
    from omni_lib.prepare import CourseData

    class Tok:
        def save(self, path):
            path.write_text("{}")

    monkeypatch.setattr(omni_lib.prepare, "prepare_course", lambda cfg, **kw: CourseData(pools(), {}, Tok(), False))
    monkeypatch.setattr(omni_lib.prepare, "SPEEDS", ())
    monkeypatch.setattr(train, "evaluate_course", lambda model, data, s: {"evaluated": True})
    return train


def test_course_pipeline_reuses_stages_until_a_recipe_changes(tmp_path, fake_course):
    train = fake_course
    steps = {0: 2, 1: 2, 2: 2, 3: 2}
    train.train_course(tmp_path, steps=steps, progress=False)
    stamp = lambda: {s: (tmp_path / f"stage{s}" / "model").stat().st_mtime_ns for s in range(4)}   # noqa: E731
    first = stamp()
    train.train_course(tmp_path, steps=steps, progress=False)
    assert stamp() == first                                         # nothing changed: everything reused
    train.train_course(tmp_path, steps={**steps, 2: 3}, progress=False)
    again = stamp()
    assert [again[s] == first[s] for s in range(4)] == [True, True, False, False]   # stage 2 changed: 2 and 3 retrain


def test_course_checkpoint_without_training_answers_none_until_the_current_recipe_is_trained(tmp_path, monkeypatch,
                                                                                            fake_course):
    import dataclasses

    import omni_lib.stages

    train = fake_course
    short = {s: dataclasses.replace(st, steps=2) for s, st in omni_lib.stages.STAGES["tiny"].items()}
    monkeypatch.setitem(omni_lib.stages.STAGES, "tiny", short)
    assert train.course_checkpoint(tmp_path, train=False) is None
    assert not any(tmp_path.iterdir())                              # asked, not trained
    path = train.course_checkpoint(tmp_path, progress=False)
    assert path == tmp_path / "stage3" / "model" and path.is_dir()
    assert train.course_checkpoint(tmp_path, train=False) == path
    monkeypatch.setitem(omni_lib.stages.STAGES, "tiny", {**short, 2: dataclasses.replace(short[2], steps=3)})
    assert train.course_checkpoint(tmp_path, train=False) is None   # an older recipe's model is not current


def test_precision_choices():
    from omni_lib.train import _precision
    cpu = torch.device("cpu")
    amp, head = _precision("fp32", cpu)
    assert head is None and not isinstance(amp, torch.autocast)
    amp, head = _precision("bf16", cpu)
    assert head is None and isinstance(amp, torch.autocast) and amp.fast_dtype == torch.bfloat16
    amp, head = _precision("auto", cpu)            # blocks in fp32 on a CPU; the head in bf16 only with AMX
    assert not isinstance(amp, torch.autocast)
    assert head == (torch.bfloat16 if torch.cpu._is_amx_tile_supported() else None)


def test_resume_never_runs_code_from_a_swapped_checkpoint(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    from omni_lib.cli import BadFile

    (tmp_path / "ckpt.pt").write_bytes(pickle.dumps({"identity": Payload()}))
    with pytest.raises(BadFile, match=r"ckpt\.pt: holds Python objects .* refused"):
        train_stage(Run(fresh_model(), stage(), pools(), tmp_path, progress=False, resume=True))
    assert not (tmp_path / "ran").exists()
