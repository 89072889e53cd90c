# Copyright 2026 The pose_tracker Authors. Apache-2.0.
#
# make env     create/update .venv (scripts/setup_env.sh; fast when nothing changed)
# make test    the whole test suite (what CI runs): PYTEST_ARGS='-k foo' to narrow it
# make lint    only the linters (flake8, pep257, copyright headers)
# make demo    run the demo (python -m pose_tracker.ros.tools.demo); ARGS='...' are passed on
# make bench   run the benchmark (python -m pose_tracker.tools.bench); ARGS='...' are passed on
# make clean   remove build outputs and caches (keeps .venv); make distclean also removes .venv

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
PYTHON := $(VENV)/bin/python
ENV_FILE := $(VENV)/activate-pose-tracker
# Run a command in the project's environment (venv, AMENT_PREFIX_PATH, RMW, Fast DDS profile).
IN_ENV := . $(ENV_FILE) &&
PYTEST_ARGS ?=
ARGS ?=

.PHONY: env test lint demo bench clean distclean

env:
	POSE_TRACKER_VENV=$(abspath $(VENV)) bash scripts/setup_env.sh

# pytest's exit code 5 means it collected no tests: that is a failure here, never a pass.
test: env
	@rc=0; $(IN_ENV) $(PYTHON) -m pytest test -q -ra $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo 'make test: ERROR: pytest collected no tests (exit code 5)' >&2; fi; \
	exit $$rc

lint: env
	$(IN_ENV) $(PYTHON) -m pytest test -q -ra -m linter $(PYTEST_ARGS)

demo: env
	$(IN_ENV) $(PYTHON) -m pose_tracker.ros.tools.demo $(ARGS)

bench: env
	$(IN_ENV) $(PYTHON) -m pose_tracker.tools.bench $(ARGS)

clean:
	rm -rf build install log .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
