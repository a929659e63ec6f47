"""Speech data for the course: its own offline corpus, and loaders for the paper's corpora.

* :mod:`omni_lib.data.domain`  the closed domain as text: ~260 question/answer pairs, 70 words
* :mod:`omni_lib.data.synth`   speaks it with offline engines -> ``data/course`` (LibriSpeech layout)
* :func:`load_course`          the spoken question/answer pairs of ``data/course``
* :class:`LibriSpeech`, :class:`LibriTTS`, :class:`VCTK`, :class:`VoiceAssistant400K`
                               lazy loaders of the real corpora, each in its native layout; bad
                               files are skipped, warned about and counted (:mod:`.corpus`)

    >>> from omni_lib.data import domain, load_course, LibriSpeech
    >>> domain.pairs("train")[0]
    ('what is one plus three', 'one plus three is four')
"""

from . import domain
from .corpus import Corpus, CorpusWarning, Example
from .course import CourseExample, load_course
from .librispeech import LibriSpeech
from .libritts import LibriTTS
from .vctk import VCTK
from .voice_assistant import VoiceAssistant400K, parse_snac

__all__ = ["domain", "Corpus", "CorpusWarning", "Example", "CourseExample", "load_course",
           "LibriSpeech", "LibriTTS", "VCTK", "VoiceAssistant400K", "parse_snac"]
