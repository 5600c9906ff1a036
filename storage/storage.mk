# Object-storage targets; the root Makefile includes this file.

CARGO ?= cargo

.PHONY: garage test-storage

## garage: build the Garage S3 server the storage tests start (cached in $TRACEJOB_CACHE)
garage:
	bash scripts/garage.sh

## test-storage: the storage crate against file:// and a Garage it starts, and the operator's artifact tests
test-storage: garage
	$(CARGO) test -p tracejob-storage
	$(CARGO) test -p tracejob-operator --test artifacts
	$(CARGO) test -p tracejob-node-agent --test storage
	$(CARGO) test -p tracejob-cli --test results_s3
