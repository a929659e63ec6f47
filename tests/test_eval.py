"""``python -m omni_lib.eval``: WER facts, the results file and its resume, bad input, a Mini-Omni
model and a Whisper baseline on a small LibriSpeech-layout corpus copied from the course corpus."""

import json
import shutil
import urllib.error

import pytest
import torch

pytest.importorskip("jiwer")
pytest.importorskip("whisper")

from omni_lib import DATA_DIR                       # noqa: E402
from omni_lib import eval as ev                     # noqa: E402
from omni_lib.wer import alignment, normalise, word_errors   # noqa: E402

SOURCE = DATA_DIR / "course" / "test-voices"
# (speaker, chapter, utterances) copied into the fixture's split "test-a": 6 utterances, 2 chapters
PICK = [("201", "1", 4), ("202", "3", 2)]


# ---------------------------------------------------------------------------------- WER facts
def test_corpus_wer_counts_on_literal_examples():
    e = word_errors(["the cat sat on the mat", "hello world"], ["the cat sat on a mat mat", "hello"])
    assert (e["substitutions"], e["deletions"], e["insertions"], e["ref_words"]) == (1, 1, 1, 8)
    assert e["wer"] == pytest.approx(3 / 8)          # corpus WER: errors over all words, not a mean of rates
    assert word_errors(["a b c"], [""])["wer"] == 1.0                 # everything deleted
    assert word_errors(["", "a"], ["x y", "a"])["insertions"] == 2   # empty reference: insertions
    assert word_errors([""], [""])["wer"] == 0.0
    with pytest.raises(ValueError, match="2 references but 1"):
        word_errors(["a", "b"], ["a"])


def test_alignment_marks_substitutions_deletions_insertions():
    ops = alignment("what is two plus five", "what is to plus five six")
    assert ops == [("=", "what", "what"), ("=", "is", "is"), ("S", "two", "to"), ("=", "plus", "plus"),
                   ("=", "five", "five"), ("I", "", "six")]
    assert alignment("one two", "") == [("D", "one", ""), ("D", "two", "")]


def test_normalisers_change_the_score():
    ref, hyp = "MISTER SMITH WANTS TWENTY ONE COLOURED PENCILS", "Mr. Smith wants 21 colored pencils."
    assert normalise(ref) == normalise(hyp) == "mister smith wants 21 colored pencils"
    basic = word_errors([normalise(ref, "basic")], [normalise(hyp, "basic")])
    assert basic["wer"] == pytest.approx(4 / 7)       # mr, 21, colored substituted; "one" deleted
    assert word_errors([normalise(ref, "orthographic")], [normalise(hyp, "orthographic")])["wer"] == 1.0
    assert normalise("one two three") == "123"        # spoken digits merge into one word: a known quirk
    with pytest.raises(ValueError, match="unknown normaliser"):
        normalise("x", "lower")


def test_markdown_table_puts_our_rows_beside_the_paper():
    run = {"run": "mine", "data_root": "d", "device": "cpu", "rtfx": 12.3,
           "splits": {"test-clean": {"wer": 0.0512, "n": 2, "audio_seconds": 60.0, "wer_orthographic": 0.5,
                                     "wer_basic": 0.1, "substitutions": 1, "deletions": 0, "insertions": 0,
                                     "rtfx": 12.3, "skipped": 0},
                      "test-voices": {"skipped": 3}}}
    table = ev.markdown_table([run])
    assert "| Mini-Omni | 4.5 | 9.7 | 4.6 | 9.2 | – |" in table
    assert "| **mine** | 5.1 | – | – | – | – | 12 |" in table
    assert "| mine | test-voices | 0 |" in table


# ---------------------------------------------------------------------------------- fixtures
def make_corpus(root):
    """``root/test-a``: a LibriSpeech-layout split of 6 course utterances, with their transcripts."""
    for spk, ch, n in PICK:
        src, dst = SOURCE / spk / ch, root / "test-a" / spk / ch
        dst.mkdir(parents=True)
        lines = (src / f"{spk}-{ch}.trans.txt").read_text().splitlines()[:n]
        for line in lines:
            shutil.copy(src / f"{line.split()[0]}.flac", dst)
        (dst / f"{spk}-{ch}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "LibriSpeech")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A 1-block tiny model with random weights, saved as ours; real Whisper-base ears (the offline
    extra ships base) with a 2 s window (the fixture's clips are shorter)."""
    from omni_lib.config import OmniConfig
    from omni_lib.model import OmniModel
    from omni_lib.text import TextTokenizer

    d = tmp_path_factory.mktemp("tiny") / "model"
    cfg = OmniConfig.from_preset("tiny", n_layer=1, whisper_model="base", whisper_dim=512, whisper_window_s=2.0)
    torch.manual_seed(0)
    OmniModel(cfg).save_pretrained(d)
    TextTokenizer.for_config(cfg).save(d / "text_tokenizer.json")
    return d


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny matrices: a second thread gains nothing, and on a busy machine it waits at every op."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def short_transcripts(monkeypatch):
    """Random weights never say eot: bound their transcripts to a few tokens (the tests' time)."""
    monkeypatch.setattr(ev, "TOKENS_PER_SECOND", 2)
    monkeypatch.setattr(ev, "EXTRA_TOKENS", 2)


@pytest.fixture(scope="module")
def omni(model_dir):
    return ev.load_recognizer(str(model_dir))


class Killed(Exception):
    pass


class FakeASR:
    """Answers every utterance with the same text, instantly: for the data and resume paths."""
    name, identity, window_s = "fake", {"fake": 1}, 4.0

    def __init__(self):
        self.seen = []

    def transcribe(self, waves):
        self.seen.append(len(waves))
        return ["what is two plus five"] * len(waves)


def jsonl_ids(out, run="fake", split="test-a"):
    return [json.loads(line)["id"] for line in (out / run / f"{split}.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------------- a model end to end
def test_mini_omni_model_run_writes_lines_table_and_summary(corpus, model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    s = ev.main(["asr", "--ckpt", str(model_dir), "--data-root", str(corpus), "--splits", "test-a",
                 "--out", str(out), "--batch-size", "6", "--no-progress"])
    assert "| Mini-Omni | 4.5 | 9.7 | 4.6 | 9.2 |" in capsys.readouterr().out         # printed
    assert s["run"] == f"tiny-{model_dir.parent.name}" and s["splits"]["test-a"]["n"] == 6 and s["skipped"] == 0
    lines = [json.loads(x) for x in (out / s["run"] / "test-a.jsonl").read_text().splitlines()]
    assert {"id", "duration", "reference", "hypothesis", "reference_normalised", "hypothesis_normalised",
            "seconds"} <= set(lines[0])
    assert lines[0]["reference_normalised"] == normalise(lines[0]["reference"])
    assert s["rtfx"] > 0 and 0 <= s["wer"] < float("inf")
    assert f"| **{s['run']}** |" in (out / "table.md").read_text() and "Mini-Omni" in s["table"]
    assert json.loads((out / s["run"] / "summary.json").read_text())["wer"] == s["wer"]


def test_killed_half_way_resumes_only_the_rest_with_the_same_numbers(corpus, omni, tmp_path, monkeypatch):
    run = dict(batch_size=2, max_samples=4, progress=False)
    straight = ev.run_asr(omni, corpus, ["test-a"], tmp_path / "a", **run)

    real, calls, kill = ev.OmniASR.transcribe, [], [True]

    def killed_on_second_batch(self, waves):
        calls.append(len(waves))
        if len(calls) == 2 and kill[0]:
            raise Killed                      # as if the run were stopped here
        return real(self, waves)

    monkeypatch.setattr(ev.OmniASR, "transcribe", killed_on_second_batch)
    with pytest.raises(Killed):
        ev.run_asr(omni, corpus, ["test-a"], tmp_path / "b", **run)
    assert len(jsonl_ids(tmp_path / "b", omni.name)) == 2
    calls.clear()
    kill[0] = False
    resumed = ev.run_asr(omni, corpus, ["test-a"], tmp_path / "b", **run)
    assert calls == [2]                                                 # only the 2 left
    assert resumed["splits"]["test-a"]["decoded_now"] == 2 and resumed["splits"]["test-a"]["resumed"] == 2
    keys = ("n", "wer", "wer_orthographic", "wer_basic", "substitutions", "deletions", "insertions", "audio_seconds")
    assert [resumed["splits"]["test-a"][k] for k in keys] == [straight["splits"]["test-a"][k] for k in keys]
    assert resumed["wer"] == straight["wer"]
    hyp = lambda d: {json.loads(x)["id"]: json.loads(x)["hypothesis"]    # noqa: E731
                     for x in (d / omni.name / "test-a.jsonl").read_text().splitlines()}
    assert hyp(tmp_path / "a") == hyp(tmp_path / "b")


def test_a_line_cut_short_is_decoded_again_and_the_rest_kept(corpus, tmp_path):
    rec, out = FakeASR(), tmp_path / "out"
    ev.run_asr(rec, corpus, ["test-a"], out, progress=False)
    f = out / "fake" / "test-a.jsonl"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])        # killed mid-write
    with pytest.warns(UserWarning, match="dropped 1 damaged line"):
        s = ev.run_asr(rec, corpus, ["test-a"], out, progress=False)
    assert rec.seen == [6, 1] and s["splits"]["test-a"]["n"] == 6
    assert sorted(jsonl_ids(out)) == sorted(json.loads(x)["id"] for x in lines)


def test_results_of_another_model_are_moved_aside_not_mixed(corpus, tmp_path):
    rec, out = FakeASR(), tmp_path / "out"
    ev.run_asr(rec, corpus, ["test-a"], out, progress=False)
    other = FakeASR()
    other.identity = {"fake": 2}
    with pytest.warns(UserWarning, match="another model"):
        ev.run_asr(other, corpus, ["test-a"], out, progress=False)
    assert other.seen == [6]
    assert len(list((out / "fake").glob("stale-*/test-a.jsonl"))) == 1


# ---------------------------------------------------------------------------------- bad input
def _drop_transcript(split):
    (split / "202" / "3" / "202-3.trans.txt").unlink()


def _unlisted(split):
    t = split / "201" / "1" / "201-1.trans.txt"
    t.write_text("\n".join(t.read_text().splitlines()[1:]) + "\n")


def _garbage_flac(split):
    next((split / "202" / "3").glob("*.flac")).write_bytes(b"not a flac at all" * 10)


def _truncated_flac(split):                      # the header reads, the samples do not
    f = next((split / "202" / "3").glob("*.flac"))
    f.write_bytes(f.read_bytes()[:2000])


def _empty_reference(split):
    t = split / "201" / "1" / "201-1.trans.txt"
    lines = t.read_text().splitlines()
    t.write_text("\n".join([lines[0].split()[0]] + lines[1:]) + "\n")


@pytest.mark.parametrize("damage, lost, message", [
    (_drop_transcript, 2, "no 202-3.trans.txt"),
    (_unlisted, 1, "not listed in 201-1.trans.txt"),
    (_garbage_flac, 1, "unreadable audio"),
    (_truncated_flac, 1, "unreadable audio"),
    (_empty_reference, 1, "no transcript for 201-1-"),
], ids=["no-trans", "unlisted", "garbage-flac", "truncated-flac", "empty-reference"])
def test_bad_input_is_reported_counted_and_loses_nothing_written(corpus, tmp_path, capsys, damage, lost, message):
    out = tmp_path / "out"
    ev.run_asr(FakeASR(), corpus, ["test-a"], out, max_samples=2, progress=False)   # 201-1-0013, 201-1-0045
    before = (out / "fake" / "test-a.jsonl").read_text()
    damage(corpus / "test-a")
    rec = FakeASR()
    s = ev.run_asr(rec, corpus, ["test-a"], out, progress=False)
    split = s["splits"]["test-a"]
    assert split["n"] == 6 - lost and split["skipped"] >= 1 and s["skipped"] == split["skipped"]
    assert any(message in p for p in s["problems"]), s["problems"]
    assert message in capsys.readouterr().err
    assert (out / "fake" / "test-a.jsonl").read_text().startswith(before)   # nothing written is lost
    assert sum(rec.seen) == 6 - lost - split["resumed"]                      # the rest was decoded


def test_max_samples_spreads_over_the_split(corpus):
    examples, problems = ev.read_split(corpus, "test-a", 3)
    assert [e.id for e in examples] == ["201-1-0013", "201-1-0016", "202-3-0005"] and problems == []


def test_missing_split_is_a_counted_problem_and_alone_a_clear_exit(corpus, tmp_path):
    s = ev.run_asr(FakeASR(), corpus, ["test-a", "test-clean"], tmp_path / "out", progress=False)
    assert s["splits"]["test-clean"] == {"skipped": 1, "decoded_now": 0, "resumed": 0}
    assert any("LibriSpeech test-clean not found" in p and "--download" in p for p in s["problems"])
    assert "| **fake** | – | – | – | – |" in s["table"]
    with pytest.raises(SystemExit, match="(?s)nothing to evaluate.*test-other not found"):
        ev.run_asr(FakeASR(), corpus, ["test-other"], tmp_path / "out2", progress=False)


def test_download_fails_clearly_offline(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(SystemExit, match=r"could not download LibriSpeech dev-clean.*openslr.org/12"):
        ev.download_librispeech(tmp_path, ["dev-clean"])
    assert not list(tmp_path.iterdir())                                     # no partial files left


def test_model_arguments_are_checked(tmp_path):
    with pytest.raises(SystemExit, match="exactly one of --ckpt"):
        ev.load_recognizer(None, None)
    with pytest.raises(FileNotFoundError, match="lit_model.pth .*model.safetensors"):
        ev.load_recognizer(str(tmp_path))


# ---------------------------------------------------------------------------------- baseline, throughput
def test_whisper_baseline_on_two_utterances(corpus, tmp_path):
    s = ev.main(["asr", "--whisper", "base", "--data-root", str(corpus), "--splits", "test-a", "--max-samples",
                 "2", "--out", str(tmp_path / "out"), "--quiet"])     # real weights (the offline extra)
    assert s["run"] == "whisper-base" and s["splits"]["test-a"]["n"] == 2
    assert s["wer"] < 0.5                         # "what is two plus five": right, or nearly
    assert s["splits"]["test-a"]["wer_orthographic"] > s["wer"]       # upper-case references vs cased output


def test_bench_compares_batched_with_one_at_a_time(corpus, model_dir):
    r = ev.bench_main(["--ckpt", str(model_dir), "--data-root", str(corpus), "--split", "test-a", "--n", "3",
                       "--batch-size", "3", "--json"])
    assert r["utterances"] == 3 and r["speedup"] > 0 and r["rtfx_batched"] > 0
    assert r["rtfx_batched"] / r["rtfx_single"] == pytest.approx(r["speedup"])
    assert 0 <= r["same_hypotheses"] <= 1
