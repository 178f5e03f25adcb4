# The operator's front door. `make deploy` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
INVENTORY ?= inventory/local
# e.g. DEPLOY_ARGS='--check --diff' or DEPLOY_ARGS='-e goalgpt_base_web_workers=4'
DEPLOY_ARGS ?=
# app.seed_data's options for demo-data, e.g. DEMO_ARGS='--matches 1000 --replace'
DEMO_ARGS ?=
# pytest-xdist workers of `make test` (tests/support/worker_groups.py says who runs what):
# the lab's, the e2e deployment's, and one for every other test from the start
TEST_WORKERS ?= 3
ALERT_RULES ?= build/prometheus/goalgpt-alerts.yml
# Tools run from the venv find its other tools (ansible-lint, ansible-playbook) first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv servers lab-tools lab-up lab-down test lint format deploy check demo-data alert-rules config-docs flows-docs mutation clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
		| sed -e 's|$$(INVENTORY)|$(INVENTORY)|g' -e 's|$$(ALERT_RULES)|$(ALERT_RULES)|g' \
		| awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,report]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create .venv from the pins

servers: ## make sure the postgresql and redis-server binaries exist
	@scripts/ensure-servers.sh

lab-tools: ## make sure systemd-nspawn, debootstrap and tinyproxy exist (the lab's tools)
	@scripts/ensure-lab-tools.sh

lab-up: venv lab-tools ## boot the 7-host systemd lab; writes build/lab/inventory.yml
	$(BIN)/python -m tests.lab up

lab-down: venv ## remove every trace of the lab (also of a killed run)
	$(BIN)/python -m tests.lab down

test: venv servers lab-tools ## run every test against throwaway servers and the lab
	$(BIN)/pytest --durations=20 -n $(TEST_WORKERS)

flows-docs: venv ## regenerate docs/flows.md (who may reach what) from playbooks/group_vars/all/flows.yml
	$(BIN)/ansible-playbook playbooks/flows.yml -i inventory/example -e flows_markdown=$(CURDIR)/docs/flows.md

mutation: venv servers ## mutation testing of the decision core (~25 min), from scratch; scores and survivors check
	rm -rf mutants
	$(BIN)/python scripts/mutation_report.py --stamp
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_report.py

lint: venv ## ruff, lint-imports (which layer may import which), yamllint and ansible-lint
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint

format: venv ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

deploy: venv ## deploy everything to $(INVENTORY) (INVENTORY=DIR for another); more options in DEPLOY_ARGS
	$(BIN)/ansible-playbook playbooks/deploy.yml -i $(INVENTORY) $(DEPLOY_ARGS)

check: venv ## smoke gate against the deployment of $(INVENTORY), every app host, nothing to export
	$(BIN)/ansible-playbook playbooks/check.yml -i $(INVENTORY)

demo-data: venv ## load sample matches and predictions into the deployment of $(INVENTORY) (DEMO_ARGS)
	$(BIN)/ansible-playbook playbooks/demo_data.yml -i $(INVENTORY) -e '{"demo_data_args": "$(DEMO_ARGS)"}'

alert-rules: venv ## render Prometheus alerting rules from checks/thresholds.yml to $(ALERT_RULES)
	$(BIN)/python -m checks.alert_rules --output $(ALERT_RULES)

config-docs: venv ## regenerate docs/configuration.md from the settings in app/config/schema.py
	$(BIN)/python -m app.config --markdown > docs/configuration.md

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .hypothesis mutants
