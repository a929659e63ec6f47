"""VoiceAssistant-400K loader on tiny parquet files with the published column schema (dataset card
of gpt-omni/VoiceAssistant-400K): audio decoded from bytes, SNAC text parsed, bad rows and files
skipped with a warning and counted."""

import io
import warnings

import numpy as np
import pytest
import soundfile as sf

from omni_lib.data import CorpusWarning, VoiceAssistant400K, parse_snac

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# The card's features: split_name, index, round, question, answer, answer_snac are strings;
# question_audio is the `datasets` Audio feature, stored in parquet as struct<bytes, path>.
SCHEMA = pa.schema([("split_name", pa.string()), ("index", pa.string()), ("round", pa.string()),
                    ("question", pa.string()),
                    ("question_audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                    ("answer", pa.string()), ("answer_snac", pa.string())])


def encoded(seconds, rate=22_050, fmt="WAV"):
    """A short tone, encoded in memory as the dataset stores audio."""
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate, format=fmt)
    return buf.getvalue()


def row(i, audio, split_name="alpaca", question=None):
    return {"split_name": split_name, "index": str(i), "round": "0",
            "question": f"What is {i} plus {i}?" if question is None else question,
            "question_audio": audio, "answer": f"It is {2 * i}.",
            "answer_snac": " ".join(f"# {' '.join(str(10 * f + k) for k in range(7))}" for f in range(i + 1))}


def write(path, rows, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), str(path), **kw)
    return path


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "VoiceAssistant-400K"
    write(root / "data" / "train-00000-of-00002.parquet", [
        row(0, {"bytes": encoded(0.2), "path": "q0.wav"}),
        row(1, {"bytes": b"not audio", "path": "q1.wav"}),                  # does not decode
        row(2, None),                                                       # no audio at all
        row(3, {"bytes": encoded(0.1, 16_000, "FLAC"), "path": "q3.flac"}, split_name="identity"),
        row(4, {"bytes": encoded(0.3), "path": "q4.wav"}, question=""),      # no question text
    ], row_group_size=2)
    write(root / "data" / "train-00001-of-00002.parquet", [row(5, {"bytes": encoded(0.1), "path": "q5.wav"})])
    (root / "data" / "train-00002-of-00009.parquet").write_bytes(b"PAR1 truncated download")
    return root


def collect(corpus):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = list(corpus)
    return examples, [w for w in caught if issubclass(w.category, CorpusWarning)]


def test_rows_become_examples_with_decoded_audio(dataset):
    corpus = VoiceAssistant400K(dataset)
    examples, caught = collect(corpus)
    assert [ex.id for ex in examples] == ["alpaca-0-0", "identity-3-0", "alpaca-5-0"]
    ex = examples[0]
    assert ex.text == "What is 0 plus 0?" and ex.extra["answer"] == "It is 0."
    assert (ex.sample_rate, ex.num_samples, ex.path) == (22_050, 4410, None)
    assert ex.audio.dtype == np.float32 and abs(ex.seconds - 0.2) < 1e-9
    assert ex.extra["audio_name"] == "q0.wav" and ex.extra["source"] == "train-00000-of-00002.parquet:0"
    assert examples[1].sample_rate == 16_000                       # FLAC bytes work too
    assert ex.load(16_000).shape == (3200,)                        # in-memory audio, resampled
    # bad bytes, no audio, no question, the truncated file
    assert corpus.skipped == 4 == len(caught)
    assert any("unreadable parquet file" in e for e in corpus.errors)
    assert any("train-00000-of-00002.parquet:1: question audio does not decode" in e for e in corpus.errors)


def test_answer_snac_parses_to_seven_rows():
    frames = parse_snac(row(2, None)["answer_snac"])
    assert frames.shape == (7, 3) and frames.dtype == np.int64
    assert frames[:, 1].tolist() == [10, 11, 12, 13, 14, 15, 16]
    assert parse_snac("").shape == (7, 0)
    with pytest.raises(ValueError, match="frame 2 has 3 codes"):
        parse_snac("# 1 2 3 4 5 6 7 # 1 2 3")
    with pytest.raises(ValueError, match="not an integer"):
        parse_snac("# 1 2 3 4 5 6 x")


def test_split_names_limit_and_single_files(dataset):
    only = VoiceAssistant400K(dataset, split_names={"identity"})
    examples, _ = collect(only)
    assert [ex.id for ex in examples] == ["identity-3-0"]
    assert [ex.id for ex in VoiceAssistant400K(dataset, limit=1)] == ["alpaca-0-0"]
    one = dataset / "data" / "train-00001-of-00002.parquet"
    assert [ex.id for ex in VoiceAssistant400K(one)] == ["alpaca-5-0"]
    assert [ex.id for ex in VoiceAssistant400K([one, one])] == ["alpaca-5-0", "alpaca-5-0"]


def test_a_read_error_mid_file_loses_only_the_rest_of_that_file(dataset, monkeypatch):
    real = pq.ParquetFile.iter_batches

    def failing(self, *args, **kwargs):             # first batch fine, then a corrupt page
        batches = real(self, *args, **kwargs)
        yield next(batches)
        for _ in batches:
            raise OSError("Corrupt snappy compressed data")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", failing)
    corpus = VoiceAssistant400K(dataset, batch_rows=2)
    examples, _ = collect(corpus)
    assert [ex.id for ex in examples] == ["alpaca-0-0", "alpaca-5-0"]
    assert any("unreadable after row 2" in e and "3 rows lost" in e for e in corpus.errors)


def test_wrong_columns_and_missing_data_are_clear(tmp_path):
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": ["hello"], "label": [1]}), str(other))
    corpus = VoiceAssistant400K(other)
    examples, caught = collect(corpus)
    assert examples == [] and corpus.skipped == 1 and "is this VoiceAssistant-400K" in corpus.errors[0]
    with pytest.raises(FileNotFoundError, match="huggingface-cli download gpt-omni/VoiceAssistant-400K"):
        VoiceAssistant400K(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet files"):
        VoiceAssistant400K(tmp_path / "empty")
