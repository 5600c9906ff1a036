"""Checks the chart's certificates as rendered: with cert-manager (first file) two
Certificates, the agents' for server auth only and the operator's for client auth only, into
the Secrets the pods mount, and no Secrets of the chart's own; with the defaults (second
file) no Certificate at all."""
import sys

import yaml


def objects(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def fail(message):
    sys.exit(f"check-certificates: {message}")


cert_manager, default = objects(sys.argv[1]), objects(sys.argv[2])
certificates = {c["metadata"]["name"]: c["spec"] for c in cert_manager if c["kind"] == "Certificate"}
if len(certificates) != 2:
    fail(f"expected 2 Certificates with cert-manager, got {sorted(certificates)}")
if any(o["kind"] == "Secret" for o in cert_manager):
    fail("with cert-manager the chart must render no Secret of its own")
mounted = {
    v["secret"]["secretName"]
    for o in cert_manager
    if o["kind"] in ("DaemonSet", "Deployment")
    for v in o["spec"]["template"]["spec"].get("volumes", [])
    if "secret" in v
}
for name, spec in certificates.items():
    if spec["secretName"] not in mounted:
        fail(f"{name} issues {spec['secretName']}, which no pod mounts ({sorted(mounted)})")
    auth = {u for u in spec["usages"] if u.endswith(" auth")}
    expected = {"server auth"} if spec["dnsNames"] == ["tracejob-agent"] else {"client auth"}
    if auth != expected:
        fail(f"{name}: usages {sorted(auth)}, expected {sorted(expected)} only")
if any(o["kind"] == "Certificate" for o in default):
    fail("the default values must render no Certificate")
print("check-certificates: cert-manager issues a server-only agent and a client-only operator certificate")
