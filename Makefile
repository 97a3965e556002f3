# Two commands a fresh machine needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install clean bench bench-peers soak docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/spotnana-sim serve

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
