# The course in three commands. Each one sets up what is missing first (see scripts/setup.sh).
#   make course   run every notebook in order (tiny preset, headless) into build/ and print a summary
#   make test     the whole test suite, notebooks included
#   make lab      JupyterLab on notebooks/
#   make grade    grade the exercises in exercises/ (see exercises/README.md; EXERCISES="02_delay" for one)
#   make pins     rewrite constraints.txt from $(VENV) after an upgrade that passed the tests
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= tiny

.PHONY: setup course test lab clean grade pins

$(STAMP): pyproject.toml scripts/setup.sh constraints.txt
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)

course: $(STAMP)
	$(PY) -m omni_lib.course --preset $(PRESET)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest omni_lib tests notebooks --nbmake --nbmake-timeout=1800 -p no:cacheprovider $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

grade: $(STAMP)
	$(PY) -m omni_lib.grade $(EXERCISES) $(GRADE_ARGS)

pins:
	bash scripts/pin.sh $(VENV)

clean:
	rm -rf build
