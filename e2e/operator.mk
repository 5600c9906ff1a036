# Operator targets; the root Makefile includes this file.

CARGO ?= cargo
OPERATOR_CRD := crds/tracejob.io_tracejobs.yaml

.PHONY: control-plane-up control-plane-down generate-crds check-crds test-operator test-operator-integration ci-operator

## control-plane-up: start etcd + kube-apiserver on 127.0.0.1 (built once from Debian's sources) and print the KUBECONFIG line
control-plane-up:
	@bash e2e/control-plane.sh up

## control-plane-down: stop the local control plane and remove what control-plane-up made
control-plane-down:
	@bash e2e/control-plane.sh down

## generate-crds: write crds/ from the Rust API types
generate-crds:
	$(CARGO) run -q -p tracejob-operator --bin crdgen > $(OPERATOR_CRD).tmp
	mv $(OPERATOR_CRD).tmp $(OPERATOR_CRD)

# Adds the CRD to the root Makefile's `generate` (a prerequisite only: the recipe is the root's).
generate: generate-crds

## check-crds: fail if crds/ differs from what the types generate
check-crds:
	@bash e2e/check-crds.sh

## test-operator: API and controller tests that need no cluster
test-operator:
	$(CARGO) test -p tracejob-api -p tracejob-operator

## test-operator-integration: the operator against the local kube-apiserver (make control-plane-up first)
test-operator-integration:
	$(CARGO) test -p tracejob-operator --test apiserver

## ci-operator: the operator's own CI (installs, builds, starts and stops the control plane itself)
ci-operator:
	bash e2e/ci-operator.sh
