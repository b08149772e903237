# Developer commands. Each sets up .venv on first use (Python 3.11, pinned by constraints.txt)
# and reuses it afterwards. The repository root is the package: .venv sees it as
# `diffsynth_render` through a symlink and a .pth file, without installing a copy.

PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
READY := $(VENV)/.ready
# A CPU build of torch lies in /opt/wheels on our machines; elsewhere pip uses the index.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
# The other Blender releases the manifest promises, as bpy wheels: 4.2 LTS and 4.5 LTS (Python 3.11)
# and 5.2 LTS (Python 3.13, like every Blender from 5.1). Each gets its own venv, made on first use,
# where tests/smoke runs against the built zip; the engine runs in .venv, whose src/ makes the
# checkout importable for the harness (tests/conftest.py), not for the extension.
LTS_BPY := 4.2.23 4.5.15
CURRENT_BPY := 5.2.3
# Python 3.13 on PATH, or the newest 3.13 pyenv has; empty where the machine has neither.
PYTHON313 ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep '^3\.13' | tail -1) pyenv which python3.13 2>/dev/null)
SMOKE_BPY := $(LTS_BPY) $(if $(PYTHON313),$(CURRENT_BPY))
SMOKE_READY := $(SMOKE_BPY:%=.venv-bpy-%/.ready)
# The engine again with numpy 2 (what Install Dependencies gets; .venv keeps 1.26 for bpy 5.0):
# every test not marked blender, but those of process control and file safety (the fake-Blender
# state machine, signals, memory growth, folders and disks), which hold no numerics and would
# add four minutes.
NUMPY2 := numpy==2.4.6
N2PY := .venv-numpy2/bin/python
NUMPY2_SKIP := test_core.py test_headless.py test_memory.py test_nothing_lost.py

.PHONY: venv test demo package bench constraints clean

# The repository root is the package: `python -m` run here must not put it on sys.path, where its
# folders would pass for libraries of the same name (diffusers probes for a top-level `kernels`).
export PYTHONSAFEPATH := 1

# bpy started by the demo and benchmarks keeps its settings here, never in your Blender config.
demo bench: export BLENDER_USER_RESOURCES = $(CURDIR)/build/blender-user

venv: $(READY)

$(READY): requirements.txt engine/requirements.txt constraints.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet $(FIND_LINKS) -r requirements.txt -c constraints.txt
	$(call import_checkout,$(VENV))
	touch $@

# The venv $(1) imports the checkout as diffsynth_render (a symlink in $(1)/src and a .pth file).
define import_checkout
	mkdir -p $(1)/src
	ln -sfn "$(CURDIR)" $(1)/src/diffsynth_render
	echo "$(CURDIR)/$(1)/src" > "$$($(1)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/diffsynth_render.pth"
endef

# Same pins as .venv but for bpy itself (and, on Python 3.13, the numpy 2 that bpy brings); pytest
# to run the smoke suite.
BPY_PYTHON = $(PYTHON)
BPY_OWN_PINS = bpy
.venv-bpy-$(CURRENT_BPY)/.ready: BPY_PYTHON = $(PYTHON313)
.venv-bpy-$(CURRENT_BPY)/.ready: BPY_OWN_PINS = bpy|numpy
.venv-bpy-%/.ready: constraints.txt
	test -x .venv-bpy-$*/bin/python || $(BPY_PYTHON) -m venv .venv-bpy-$*
	grep -v -E '^($(BPY_OWN_PINS))==' constraints.txt > .venv-bpy-$*/constraints.txt
	.venv-bpy-$*/bin/python -m pip install --quiet bpy==$* pytest -c .venv-bpy-$*/constraints.txt
	touch $@

# The engine's packages and pytest, pinned as in .venv but for numpy (no bpy: engine tests only).
.venv-numpy2/.ready: engine/requirements.txt constraints.txt
	test -x $(N2PY) || $(PYTHON) -m venv .venv-numpy2
	grep -v -E '^(bpy|numpy)==' constraints.txt > .venv-numpy2/constraints.txt
	$(N2PY) -m pip install --quiet $(FIND_LINKS) -r engine/requirements.txt pytest $(NUMPY2) \
		-c .venv-numpy2/constraints.txt
	$(call import_checkout,.venv-numpy2)
	touch $@

test: $(READY) $(SMOKE_READY) .venv-numpy2/.ready
	$(VPY) -m ruff check .
	$(VPY) -m diffsynth_render.tools.wheel_check
	$(VPY) -m pytest tests
	$(N2PY) -m pytest tests -m "not blender" -p no:cacheprovider $(NUMPY2_SKIP:%=--ignore=tests/%)
	for version in $(SMOKE_BPY); do \
		PYTHONPATH="$(CURDIR)/$(VENV)/src" DIFFSYNTH_ENGINE_PYTHON="$(CURDIR)/$(VPY)" \
			.venv-bpy-$$version/bin/python -m pytest tests/smoke || exit 1; \
	done
	@echo "Smoke suite passed on bpy $(SMOKE_BPY) (and on 5.0.1 in the main suite)"
	$(if $(PYTHON313),,@echo "SKIPPED: the smoke suite on bpy $(CURRENT_BPY) (Blender 5.2 LTS): this machine has no \
		Python 3.13 (python3.13 on PATH, or a 3.13 under pyenv)")

demo: $(READY)
	MODEL="$(MODEL)" PAINTER="$(PAINTER)" STYLE="$(STYLE)" $(VPY) -m diffsynth_render.tools.demo

package: $(READY)
	$(VPY) -m diffsynth_render.tools.package

bench: $(READY)
	$(VPY) -m diffsynth_render.bench

constraints: $(READY)
	$(VPY) -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/' | sort -f > constraints.txt.new
	{ head -2 constraints.txt; cat constraints.txt.new; } > constraints.txt.tmp && rm constraints.txt.new
	mv constraints.txt.tmp constraints.txt

clean:
	rm -rf build dist
