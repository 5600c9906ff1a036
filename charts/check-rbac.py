"""The chart's RBAC must grant what operator/deploy/rbac.yaml grants (the rules the
operator's integration test runs the controller with) and nothing beyond the additions the
interface allows: `get` on secrets and `get` on nodes, and for `tracejob logs` the users'
`get` on tracejobs/log and the operator's `get`/`patch` of pods in its own namespace (the
leader labels its pod). Run by charts/check.sh on a rendered
chart with the kubernetes-validate venv's Python."""
import sys

import yaml

# (apiGroup, resource, verb) the chart may add to operator/deploy/rbac.yaml.
ALLOWED_EXTRA = {
    "ClusterRole": {
        ("", "secrets", "get"),
        ("", "nodes", "get"),
        ("live.tracejob.io", "tracejobs/log", "get"),
    },
    "Role": {("", "pods", "get"), ("", "pods", "patch")},
}


def grants(docs, kind):
    out = set()
    for doc in docs:
        if doc and doc["kind"] == kind:
            for rule in doc.get("rules", []):
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        for verb in rule.get("verbs", []):
                            out.add((group, resource, verb))
    return out


reference = list(yaml.safe_load_all(open(sys.argv[1])))
rendered = list(yaml.safe_load_all(open(sys.argv[2])))
failed = False
for kind in ("ClusterRole", "Role"):
    want, got = grants(reference, kind), grants(rendered, kind)
    for missing in sorted(want - got):
        print(f"chart {kind} lacks {missing} that operator/deploy/rbac.yaml grants")
        failed = True
    extra = got - want - ALLOWED_EXTRA[kind]
    for grant in sorted(extra):
        print(f"chart {kind} grants {grant} beyond operator/deploy/rbac.yaml")
        failed = True
if failed:
    sys.exit(1)
print("rbac: the chart grants exactly operator/deploy/rbac.yaml plus get secrets/nodes and the live API's")
