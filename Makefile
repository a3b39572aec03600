# Two commands for a newcomer: `make app` (set up + launch the explorer) and `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# pytest-xdist workers for `make test` / `make test-all` (0: one process). Two use both cores of a 2-core machine:
# the suite takes under 5 minutes instead of about 9.
TEST_WORKERS ?= 2

.PHONY: app test test-all venv benchmark screenshots weights clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

app: $(STAMP)
	$(PY) app.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "slow or not slow" $(ARGS)

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py $(ARGS)

# Refresh docs/screenshots/*.png (the README's pictures): the browser tests that walk the views, saving there.
screenshots: $(STAMP)
	FPN_SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q -m "slow or not slow" tests/test_app_e2e.py tests/test_app_e2e_insight.py \
		tests/test_app_e2e_why.py tests/test_app_e2e_layout.py \
		-k "test_upload_and_every_view or test_sweep_an_object or test_click_a_detection or test_after_an_example or test_presenter or test_at_1600" $(ARGS)

# torchvision's COCO R50-FPN weights (160 MB, sha256-checked) into torch's hub cache: the app's COCO model.
# ARGS="imagenet resnet50" fetches an ImageNet backbone instead; ARGS="--url URL" downloads from a mirror;
# ARGS="detectron2 COCO-Detection/faster_rcnn_R_50_C4_1x" a model of Detectron2's zoo (md5-prefix checked).
weights: $(STAMP)
	$(PY) scripts/download_weights.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
