# Helm chart targets; the root Makefile includes this file.

CHART_CRD := charts/tracejob/crds/tracejob.io_tracejobs.yaml

.PHONY: chart-check chart-install-check chart-crds helm

## chart-check: helm lint + helm template (default and charts/tracejob/ci values), strict schema validation
chart-check:
	bash charts/check.sh

## chart-install-check: install, upgrade, uninstall the chart on a real 1.20 API server (local control plane, root)
chart-install-check:
	bash charts/install-check.sh

## helm: install helm (cached in $TRACEJOB_CACHE/helm) and print its path
helm:
	@bash scripts/helm.sh

## chart-crds: copy the generated CRD into the chart (Helm installs crds/ and never deletes it)
chart-crds: generate-crds
	cp $(OPERATOR_CRD) $(CHART_CRD)

# Adds the chart's copy to the root Makefile's `generate`, after the CRD is written.
generate: chart-crds
