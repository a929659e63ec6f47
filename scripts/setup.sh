#!/usr/bin/env bash
# One-time set-up, run by `make` when needed: Debian speech tools (if we may install them), a
# virtual environment in $VENV (default .venv), PyTorch 2.13.0 and the course package with all
# extras. Safe to re-run. Users with a GPU: see README "CUDA".
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-${VENV:-.venv}}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

# Speech synthesis engines, only for regenerating the course's spoken data (data/ ships a copy).
need_apt=()
for tool in flite espeak-ng sox; do command -v "$tool" >/dev/null || need_apt+=("$tool"); done
# festival with the three voices of data/course (omni_lib/data/synth.py: slt is the assistant)
command -v festival >/dev/null || need_apt+=(festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null) \
      || echo "setup: could not install ${need_apt[*]}; the course still runs on the data it ships"
  else
    echo "setup: optional ${need_apt[*]} missing (sudo apt-get install ${need_apt[*]}); the course runs without them"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
# (this machine's pip prints one harmless "Location ... ignored" warning per package: hide those only)
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
echo "setup: installing $TORCH_SPEC and the course package (a few minutes the first time)"
pip install "$TORCH_SPEC"
pip install -e ".[course,eval,dev,offline]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$VENV/bin/python" - <<'PY'
import torch, transformers, snac
print(f"setup: ok: torch {torch.__version__}, transformers {transformers.__version__}, snac ok")
PY
