"""Validates examples/*.yaml against the chart's CRD schema the way a strict API server
would (`kubectl apply` refuses unknown fields): object schemas that list their properties
get additionalProperties: false unless they preserve unknown fields. Run by charts/check.sh
with the kubernetes-validate venv's Python (which has jsonschema and PyYAML)."""
import glob
import sys

import jsonschema
import yaml


def strict(schema):
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


crd_path, examples_dir = sys.argv[1], sys.argv[2]
crd = yaml.safe_load(open(crd_path))
schemas = {
    f"{crd['spec']['group']}/{v['name']}": strict(v["schema"]["openAPIV3Schema"])
    for v in crd["spec"]["versions"]
}
failures = 0
files = sorted(glob.glob(f"{examples_dir}/*.yaml"))
for path in files:
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        schema = schemas.get(doc.get("apiVersion"))
        if doc.get("kind") != crd["spec"]["names"]["kind"] or schema is None:
            print(f"{path}: not a {crd['spec']['names']['kind']} of this CRD's versions")
            failures += 1
            continue
        # apiVersion, kind (checked above) and metadata are the API server's own; the CRD
        # schema covers the rest.
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        for error in jsonschema.Draft4Validator(schema).iter_errors(body):
            where = ".".join(str(p) for p in error.absolute_path) or "<root>"
            print(f"{path}: {where}: {error.message}")
            failures += 1
if failures:
    sys.exit(1)
print(f"examples: {len(files)} manifests validate against {crd_path}")
