"""Validates `sealtune plan` output for Kubernetes and Argo against published schemas.

Kubernetes manifests: the OpenAPI-derived JSON schemas that the PyPI package
`kubernetes-validate` ships, in strict mode (unknown fields are errors), for
each version given. Argo Workflows: the `Workflow` model of the PyPI package
`hera`, generated from Argo's OpenAPI spec; pydantic checks the types, and a
walk over the model rejects any field the spec does not have.

Usage: check-plan-schemas.py K8S_VERSIONS(comma-separated) FILE.yaml...
"""

import sys
import typing

import kubernetes_validate
import yaml
from hera.workflows.models.io.argoproj.workflow import v1alpha1 as argo
from pydantic import BaseModel


def unknown_fields(model, data, path="$"):
    """Paths of keys in data that the pydantic model (recursively) does not define."""
    out = []
    if isinstance(model, type) and issubclass(model, BaseModel):
        if not isinstance(data, dict):
            return out
        fields = {}
        for name, f in model.model_fields.items():
            fields[f.alias or name] = f.annotation
            fields[name] = f.annotation
        for k, v in data.items():
            if k not in fields:
                out.append(f"{path}.{k}")
            else:
                out += unknown_fields(fields[k], v, f"{path}.{k}")
        return out
    origin = typing.get_origin(model)
    args = typing.get_args(model)
    if origin is typing.Annotated:
        return unknown_fields(args[0], data, path)
    if origin in (list, typing.List) and isinstance(data, list):
        for i, x in enumerate(data):
            out += unknown_fields(args[0], x, f"{path}[{i}]")
        return out
    if origin in (dict, typing.Dict) and isinstance(data, dict):
        for k, x in data.items():
            out += unknown_fields(args[1], x, f"{path}.{k}")
        return out
    if args:  # Union / Optional: the first model type that fits
        for a in args:
            if a is type(None):
                continue
            if isinstance(a, type) and issubclass(a, BaseModel) and not isinstance(data, dict):
                continue
            return unknown_fields(a, data, path)
    return out


def main():
    versions = sys.argv[1].split(",")
    failed = 0
    for name in sys.argv[2:]:
        with open(name) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for doc in docs:
            kind = doc.get("kind")
            what = f"{name}: {kind} {doc['metadata'].get('name') or doc['metadata'].get('generateName')}"
            if doc.get("apiVersion", "").startswith("argoproj.io/"):
                try:
                    argo.Workflow.model_validate(doc)
                    extra = unknown_fields(argo.Workflow, doc)
                    if extra:
                        raise ValueError("fields not in the Argo Workflow schema: " + ", ".join(extra))
                    print(f"ok   {what}: Argo Workflow schema (hera {__import__('hera').__version__})")
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    print(f"FAIL {what}: {str(e).splitlines()[0]}")
                continue
            for v in versions:
                try:
                    kubernetes_validate.validate(doc, v, strict=True)
                    print(f"ok   {what}: Kubernetes {v} (strict)")
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    msg = str(e).splitlines()[0]
                    where = "/".join(str(x) for x in getattr(e, "absolute_path", []))
                    print(f"FAIL {what}: Kubernetes {v}: {msg} (at {where or 'top'})")
    if failed:
        print(f"{failed} failure(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
