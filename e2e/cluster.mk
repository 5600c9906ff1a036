# The one-node cluster and the end-to-end suite; the root Makefile includes this file.

.PHONY: cluster-up cluster-down cluster-build images e2e

## cluster-up: a real one-node cluster (kubelet + containerd in a network namespace) and print the KUBECONFIG line (root)
cluster-up:
	@bash e2e/cluster.sh up

## cluster-down: stop the one-node cluster and remove every process, mount, netns, cgroup and directory it made
cluster-down:
	@bash e2e/cluster.sh down

## cluster-build: only install the packages and build (or reuse) the Kubernetes binaries
cluster-build:
	@bash e2e/cluster.sh build

## images: the operator, agent, pause and busybox images as tarballs, imported when the cluster is up
images:
	@if [ -S "$${TRACEJOB_CLUSTER_DIR:-/tmp/tracejob-cluster}/containerd/containerd.sock" ]; then \
		bash e2e/images.sh import; else bash e2e/images.sh build; fi

## e2e: cluster up, images, helm install, the e2e suite, cluster down (root)
e2e:
	bash e2e/run.sh
