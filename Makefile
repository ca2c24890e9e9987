PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CDK CLI (package.json), for `npx cdk deploy` and the tests' real `cdk synth`.
NODE_STAMP := node_modules/.installed

.PHONY: run test lint docs synth smoke bench deploy deploy-gcp provenance-cert clean

# The venv is rebuilt whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt client/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

LINTED := functions infra local tests tools client app.py

# The whole API offline on http://127.0.0.1:$${PORT:-8787} (Ctrl-C stops it).
run: $(STAMP)
	$(BIN)/python -m local

# Runs every test, including the CDK synth with cdk-nag and cfn-lint (tests/infra), on a worker
# per core (up to 4; tests/parallel.py keeps together the tests that share a costly fixture).
# The browser tests need Chromium: installed here as root, else they skip saying how.
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check $(LINTED)
	bash tools/ensure_browser.sh
	$(BIN)/python -m pytest -n logical --maxprocesses=4 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# The CloudFormation template in cdk.out/, offline (no Docker, no AWS account).
synth: $(STAMP)
	$(BIN)/python app.py

# After `cdk deploy`: API_URL=<ApiUrl output> API_KEY=<key>; without them, the running `make run`.
smoke: $(STAMP)
	$(BIN)/python tools/smoke.py --api-url "$(API_URL)" --api-key "$(API_KEY)"

# The hot path against the same AWS calls made bare (BENCH_SIDE=512 for smaller images).
bench: $(STAMP)
	$(BIN)/python tools/bench.py

# Preflight (each enabled model's availability, agreement and region, as a table), then `npx cdk deploy`;
# ARGS go to tools/deploy.py, e.g. ARGS="--accept-agreements -c models=stable-image-core --require-approval never".
deploy: $(STAMP) $(NODE_STAMP)
	$(BIN)/python tools/deploy.py $(ARGS)

# Stages functions/gcp with imagegen and deploys `customize` with gcloud (PROJECT=..., REGION=...).
deploy-gcp: $(STAMP)
	$(BIN)/python functions/gcp/deploy.py --project "$(PROJECT)" --region "$(or $(REGION),us-central1)" $(ARGS)

# The certificate content credentials are signed with, after the first deploy: a CSR signed through
# KMS by default; ARGS="--chain FILE" stores the chain a CA issued, ARGS="--self-signed" a trial chain.
provenance-cert: $(STAMP)
	$(BIN)/python tools/provenance_cert.py $(ARGS)

# Regenerates the README's model table from the registry and docs/openapi.json from the routes.
docs: $(STAMP)
	PYTHONPATH=functions $(BIN)/python -m imagegen.registry --write README.md
	mkdir -p docs
	PYTHONPATH=functions:functions/handlers $(BIN)/python -m core.openapi docs/openapi.json
	cp docs/openapi.json client/imagegen_client/openapi.json

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .build cdk.out
