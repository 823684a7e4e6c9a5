# The README's two commands. Both install what is missing first (tools/setup.sh is idempotent).
#   make demo   runs the graph on the embedded sample recording with models the project builds itself
#   make test   runs the whole test suite (what CI runs)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup models demo test
setup:
	@bash tools/setup.sh

models: setup
	@$(BIN)/aria-nav models build-test

demo: models
	@$(BIN)/aria-nav demo $(ARGS)

test: models
	@$(BIN)/python -m pytest test $(PYTEST_ARGS)
