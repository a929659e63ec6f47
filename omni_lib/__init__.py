"""omni_lib: Mini-Omni, rebuilt step by step.

One module per idea of the paper (arXiv 2408.16725):

* :mod:`omni_lib.config`  presets (``tiny`` for a laptop, ``mini-omni`` = the released model)
* :mod:`omni_lib.tokens`  the 181,120-id token space and the eight-row task layouts
* :mod:`omni_lib.text`    the Qwen2 text tokenizer (hub, local directory, or offline)
* :mod:`omni_lib.audio`   any audio -> 24 kHz mono float, with clear errors
* :mod:`omni_lib.codec`   SNAC: audio <-> 7-token frames, streaming decoding
* :mod:`omni_lib.delay`   the delay pattern that lets the model talk while it thinks
* :mod:`omni_lib.viz`     the plots the notebooks share
* :mod:`omni_lib.course`  ``make course``: run every notebook and summarise
* :mod:`omni_lib.precision`  fp32, or the fast path this CPU runs well; :mod:`omni_lib.latency` where the wait goes
"""

__version__ = "0.1.0"

import os as _os
from pathlib import Path as _Path

# The course's data folder (data/ beside this package in a clone); OMNI_DATA points elsewhere.
DATA_DIR = _Path(_os.environ.get("OMNI_DATA", _Path(__file__).resolve().parents[1] / "data"))
