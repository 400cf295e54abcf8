# CampusHub: `make up` runs it, `make test` tests it. Everything installs into this checkout.

PYTHON ?= /usr/bin/python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
# Debian packages the tests start for real: a browser, R for the R kernel, PostgreSQL, OpenLDAP, openssl;
# systemd for `systemd-analyze verify` of the service unit, logrotate to try the rotation file (neither is started);
# a one-node Slurm cluster (slurmctld, slurmd, munge) for the Slurm backend; a Docker engine, debootstrap for the
# user image and iproute2 for the engine's bridge, for the docker backend. An MIT Kerberos KDC (krb5-kdc, kadmin.local,
# kinit) for Windows integrated sign-in, and what pykerberos builds against (libkrb5-dev, gcc, python3.11-dev).
TEST_DEBS := chromium chromium-driver r-base-core r-cran-irkernel postgresql slapd openssl systemd logrotate \
	slurmctld slurmd slurm-client munge docker.io debootstrap iproute2 git \
	simplesamlphp php-cli php-xml php-mbstring xmlsec1 \
	krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc python3.11-dev

.PHONY: up install test test-deps lint docs lock bench clean

up: install
	$(BIN)/campushub up

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PYTHON) || { echo "CampusHub needs $(PYTHON): apt-get install python3.11 python3.11-venv"; exit 1; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || $(MAKE) --no-print-directory apt-get DEBS=python3.11-venv
	@test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[user]'
	@$(MAKE) --no-print-directory r-kernel
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "CampusHub needs node and npm: apt-get install nodejs npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The R kernel, registered in the user environment when R and IRkernel are installed.
.PHONY: r-kernel
r-kernel:
	@if command -v Rscript >/dev/null && Rscript -e 'library(IRkernel)' >/dev/null 2>&1; then \
		PATH="$(CURDIR)/$(BIN):$$PATH" Rscript -e "IRkernel::installspec(prefix='$(CURDIR)/$(VENV)', user=FALSE)" >/dev/null 2>&1 \
		&& echo "R kernel registered"; \
	else echo "R not installed: no R kernel (apt-get install r-base-core r-cran-irkernel, then make r-kernel)"; fi

.PHONY: apt-get
apt-get:
	@if [ "$$(id -u)" != 0 ]; then echo "Please install as root: apt-get install $(DEBS)"; exit 1; fi
	@test -n "$$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit)" || apt-get update -qq
	$(APT) $(DEBS) >/dev/null

# Windows integrated sign-in (sign_in.kerberos) needs pykerberos, built against the system's Kerberos library.
.PHONY: kerberos
kerberos: install
	@missing=""; for deb in libkrb5-dev gcc python3.11-dev; do dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt-get DEBS="$$missing"; fi
	$(PIP) -e '.[user,kerberos]'

# The example plug-in the tests use, installed apart from the venv: only hubs the tests start with
# it on PYTHONPATH load it, so `make up` on this checkout never does.
PLUGIN_SITE := tests/.plugin-site
$(PLUGIN_SITE)/.installed: tests/plugin/pyproject.toml $(wildcard tests/plugin/campushub_workshop/*.py)
	rm -rf $(PLUGIN_SITE) tests/plugin/build
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --target $(PLUGIN_SITE) ./tests/plugin
	rm -rf tests/plugin/build
	@touch $@

test-deps: install $(PLUGIN_SITE)/.installed
	@missing=""; for deb in $(TEST_DEBS); do dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt-get DEBS="$$missing"; fi
	$(PIP) -e '.[user,test]'
	@$(MAKE) --no-print-directory r-kernel

# pytest exits 5 when it collected nothing: a suite that runs no test is broken, so that fails loudly.
# Test files run on TEST_WORKERS workers at once (pytest-xdist); tests/helpers/parallel.py schedules them and
# keeps the files sharing one Docker engine, one Slurm cluster or users' cgroups on one worker. 0: one process.
TEST_WORKERS ?= 2
test: test-deps
	@$(BIN)/ruff check campushub tests
	@$(BIN)/python -m campushub.config.reference --check docs/config-reference.md
	@$(BIN)/python -m campushub.cli_reference --check docs/cli-reference.md
	@$(BIN)/pytest -ra --durations=25 -n $(TEST_WORKERS) --dist loadscope; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$status

lint:
	$(BIN)/ruff check campushub tests
	$(BIN)/ruff format --check campushub tests

# CampusHub against stock JupyterHub, 50 students starting servers within a minute (root; bench/README.md).
# Needs `make install` first; options go in ARGS: make bench ARGS="--users 5 --window 10"
bench:
	$(BIN)/python bench/lecture_start.py $(ARGS)

docs:
	$(BIN)/python -m campushub.config.reference docs/config-reference.md
	$(BIN)/python -m campushub.cli_reference docs/cli-reference.md

# Re-pin every Python dependency after a change in pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e '.[user,test]'
	{ echo "# Exact versions CampusHub is tested with; installs use \`pip install -c constraints.txt\`."; \
	  echo "# Regenerate with \`make lock\` after changing dependencies in pyproject.toml."; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^campushub'; } > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) node_modules
