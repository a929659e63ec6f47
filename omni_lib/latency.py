"""Where the wait for a spoken answer goes: the time to first audio in consecutive pieces.

:func:`omni_lib.decode.stream` stamps the moments a spoken answer passes on its way out; the
pieces are the intervals between consecutive stamps, so they add up to the first audio exactly:

    audio load      reading and resampling the question (the chat command; 0 in Python)
    whisper         the Whisper encoder on the question's window (0 with ready features)
    prefill         the prompt through the model, up to the first step's tokens (step 0)
    first frame     the 7 steps after step 0 that complete frame 0 (layer 6 lags by 7 steps)
    right context   the steps until the codec may decode the first chunk: the streaming
                    decoder's right context (3 frames for SNAC, 1 for the course codec) and
                    the rest of the first chunk
    codec           decoding the first chunk (and detokenising that step's text)

After the first audio: steps per second and the real-time factor of the rest (compute seconds
per second of speech; below 1 the speech never waits).

    >>> lat = Latency({"whisper": 0.5, "prefill": 0.7, "first_frame": 1.0, "right_context": 1.1,
    ...                "codec": 1.15}, steps_after=20, after_s=1.0, audio_after_s=1.7)
    >>> p = lat.pieces_ms(); p["first_frame_ms"], p["first_audio_ms"]
    (300.0, 1150.0)
    >>> round(lat.real_time_factor, 2)
    0.59
"""

from __future__ import annotations

from dataclasses import dataclass, field

EVENTS = ("whisper", "prefill", "first_frame", "right_context", "codec")   # in the order they happen


@dataclass
class Latency:
    """Stamps (seconds since the question was in hand) of a spoken answer, and its rest."""
    stamps: dict[str, float]                 # event -> time, for the EVENTS that happened
    steps_after: int = 0                     # steps decoded after the first audio
    after_s: float = 0.0                     # their wall time
    audio_after_s: float = 0.0               # the speech they (and the flush) gave
    audio_load_s: float = 0.0                # reading the question, before the stamps' origin
    notes: dict = field(default_factory=dict)

    def pieces_ms(self) -> dict:
        """``{piece_ms: ...}`` for every event that happened, then ``first_audio_ms`` (their sum)."""
        out, last = {"audio_load_ms": round(self.audio_load_s * 1e3, 1)}, 0.0
        for name in EVENTS:
            if name in self.stamps:
                out[f"{name}_ms"] = round((self.stamps[name] - last) * 1e3, 1)
                last = self.stamps[name]
        if "codec" in self.stamps:
            out["first_audio_ms"] = round((self.audio_load_s + self.stamps["codec"]) * 1e3, 1)
        return out

    @property
    def steps_per_s(self) -> float:
        return self.steps_after / self.after_s if self.after_s else float("nan")

    @property
    def real_time_factor(self) -> float:
        return self.after_s / self.audio_after_s if self.audio_after_s else float("nan")

    def as_dict(self) -> dict:
        return self.pieces_ms() | {"steps_after_first_audio": self.steps_after,
                                   "steps_per_s_after_first_audio": round(self.steps_per_s, 2),
                                   "real_time_factor_after_first_audio": round(self.real_time_factor, 3)} | self.notes

    def format(self) -> str:
        """One line: ``first audio 1150 ms = load 0 + Whisper 500 + ...; then 20.0 steps/s (RTF 0.59)``."""
        p = self.pieces_ms()
        names = {"audio_load_ms": "load", "whisper_ms": "Whisper", "prefill_ms": "prefill",
                 "first_frame_ms": "7 steps to frame 0", "right_context_ms": "right context",
                 "codec_ms": "codec"}
        parts = " + ".join(f"{names[k]} {v:.0f}" for k, v in p.items() if k in names)
        if "first_audio_ms" not in p:
            return f"no audio; {parts} ms"
        return (f"first audio {p['first_audio_ms']:.0f} ms = {parts}; then {self.steps_per_s:.1f} steps/s, "
                f"real-time factor {self.real_time_factor:.2f} (below 1: the speech never waits)")
