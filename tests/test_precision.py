"""The fast path (omni_lib.precision): what it picks per CPU, that it converts a model once, and
that its numbers stay near the exact path's on a tiny model with random weights (a stand-in:
the token agreement on a trained model is measured in test_course_model)."""

import copy
import warnings

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.encoder import WhisperEncoder
from omni_lib.model import PREFILL_ROWS, Int8Linear, OmniModel
from omni_lib.precision import EXACT, Precision, apply_precision, cpu_features, resolve
from omni_lib.tokens import build_batch_parallel

CFG = OmniConfig.from_preset("tiny", n_layer=2)
NATIVE = {"bf16": True, "int8": True}          # what an AMX / AVX512-BF16 CPU gets (emulated elsewhere: slow, same math)
NO_BF16 = {"bf16": False, "int8": True}


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.fixture(scope="module")
def whisper():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # random weights (the real ones: test_course_model)
        return WhisperEncoder.from_config(CFG, random_init=True)


def model_with(whisper):
    torch.manual_seed(0)
    return OmniModel(CFG).eval().requires_grad_(False).attach_whisper(copy.deepcopy(whisper))


def test_the_choice_follows_the_cpu():
    assert resolve("fp32") == EXACT and resolve("fp32", NATIVE).whisper == "fp32"
    assert resolve("fast", NATIVE) == Precision("fast", int8_weights=True, bf16_prefill=True, whisper="bf16")
    assert resolve("fast", NO_BF16) == Precision("fast", int8_weights=True, bf16_prefill=False, whisper="int8")
    assert resolve("fast", {"bf16": False, "int8": False}) == Precision("fast")    # nothing faster: fp32
    with pytest.raises(ValueError, match="choose one of"):
        resolve("int4")
    cpu = cpu_features()
    assert isinstance(cpu["bf16"], bool) and cpu["capability"]


@pytest.mark.parametrize("cpu", [NATIVE, NO_BF16], ids=["native-bf16", "no-bf16"])
def test_fast_logits_and_features_stay_near_the_exact_ones(whisper, cpu):
    exact, fast = model_with(whisper), apply_precision(model_with(whisper), "fast", cpu)
    assert fast.precision.name == "fast" and isinstance(fast.lm_head, Int8Linear)
    block = fast.backbone.layers[0].mlp.up_proj
    assert isinstance(block, Int8Linear) and (block.dense is not None) == cpu["bf16"]
    assert fast.lm_head.dense is None                               # the head sees one position: int8 only
    wave = 0.1 * torch.randn(16_000, generator=torch.Generator().manual_seed(3))
    f_exact, _ = exact.audio_features([wave], 16_000)
    f_fast, _ = fast.audio_features([wave], 16_000)
    assert fast.whisper.precision == ("bf16" if cpu["bf16"] else "int8")
    assert 0 < rel(f_fast, f_exact) < 0.05                          # measured: 1-2 %
    ids = build_batch_parallel(CFG, n_audio=f_exact.shape[1])
    assert ids.shape[-1] >= PREFILL_ROWS                            # the prefill path (bf16 where native)
    feats = f_exact.expand(2, -1, -1)
    a, b = fast(ids, feats, last_only=True), exact(ids, feats, last_only=True)
    assert rel(a.text_logits, b.text_logits) < 0.1 and rel(a.audio_logits, b.audio_logits) < 0.1


def test_a_model_is_converted_once(whisper):
    m = apply_precision(model_with(whisper), "fp32")
    assert m.precision == EXACT and isinstance(m.lm_head, torch.nn.Linear)
    apply_precision(m, "fast", NO_BF16)                            # exact -> fast: allowed
    assert apply_precision(m, "fast", NO_BF16) is m                # again: nothing to do
    with pytest.raises(ValueError, match="load it again"):
        apply_precision(m, "fp32")
    with pytest.raises(ValueError, match="load it again"):
        m.whisper.set_precision("fp32")


def test_whisper_features_of_each_precision_are_cached_apart(whisper):
    enc = copy.deepcopy(whisper)
    wave = 0.1 * torch.randn(8_000, generator=torch.Generator().manual_seed(4))
    exact_key = enc._key(wave)
    enc.set_precision("bf16")
    assert enc._key(wave) != exact_key
    with pytest.raises(ValueError, match="choose one of"):
        enc.set_precision("fp16")
