# Developer commands. Each sets up .venv on first use (Python 3.11, pinned by constraints.txt)
# and reuses it afterwards. The repository root is the package: .venv sees it as
# `diffsynth_render` through a symlink and a .pth file, without installing a copy.

PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
READY := $(VENV)/.ready
# A CPU build of torch lies in /opt/wheels on our machines; elsewhere pip uses the index.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
# The older Blender releases the manifest promises (4.2 LTS, 4.5 LTS), as bpy wheels: each gets its
# own venv, made on first use, where tests/smoke runs against the built zip; the engine runs in .venv,
# whose src/ makes the checkout importable for the harness (tests/conftest.py), not for the extension.
LTS_BPY := 4.2.23 4.5.15
LTS_READY := $(LTS_BPY:%=.venv-bpy-%/.ready)

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
	mkdir -p $(VENV)/src
	ln -sfn "$(CURDIR)" $(VENV)/src/diffsynth_render
	echo "$(CURDIR)/$(VENV)/src" > "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/diffsynth_render.pth"
	touch $@

# Same pins as .venv but for bpy itself; pytest to run the smoke suite.
.venv-bpy-%/.ready: constraints.txt
	test -x .venv-bpy-$*/bin/python || $(PYTHON) -m venv .venv-bpy-$*
	grep -v '^bpy==' constraints.txt > .venv-bpy-$*/constraints.txt
	.venv-bpy-$*/bin/python -m pip install --quiet bpy==$* pytest -c .venv-bpy-$*/constraints.txt
	touch $@

test: $(READY) $(LTS_READY)
	$(VPY) -m ruff check .
	$(VPY) -m pytest tests
	for version in $(LTS_BPY); do \
		PYTHONPATH="$(CURDIR)/$(VENV)/src" DIFFSYNTH_ENGINE_PYTHON="$(CURDIR)/$(VPY)" \
			.venv-bpy-$$version/bin/python -m pytest tests/smoke || exit 1; \
	done

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
