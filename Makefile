# Two commands a fresh machine needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install clean bench bench-peers soak docs dist FORCE

# The package is installed editable in setuptools' "strict" mode: a tree of links under build/ that
# mypy, import-linter and the docs build can read like a regular install (the default mode's import
# hook hides spotnana_sim from static tools, since its folders are not named after it). A new or
# removed source file needs the tree rebuilt, so the stamp depends on the list of files.
SOURCES := $(shell find simulator reference_impl scenarios -type f -not -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort)
SOURCE_LIST := $(VENV)/.source-list

$(SOURCE_LIST): FORCE
	@mkdir -p $(VENV)
	@echo '$(SOURCES)' | cmp -s - $@ || echo '$(SOURCES)' > $@

$(STAMP): pyproject.toml $(SOURCE_LIST)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[test]' --config-settings editable_mode=strict
	touch $(STAMP)

FORCE:

install: $(STAMP)

# The simulator on :8080 and the reference partner app on :3000 (open http://localhost:3000); one Ctrl-C stops both.
run: $(STAMP)
	$(BIN)/spotnana-sim serve --with-partner-app

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-peers: $(STAMP)
	$(BIN)/python -m bench.run --peers

soak: $(STAMP)
	$(BIN)/python -m bench.soak

# The manual: regenerate the parts that come from the code, then build it strictly into build/site.
docs: $(STAMP)
	$(BIN)/python docs/_gen/reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

# A wheel and an sdist in dist/, to `pip install dist/spotnana_simulator-<version>-py3-none-any.whl` elsewhere.
dist: $(STAMP)
	$(BIN)/python -m pip install --quiet build
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
