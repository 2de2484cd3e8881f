"""Checks real responses against the OpenAPI documents in api-spec/.

Every API test passes its responses through `check(response)`: the status must
be documented for that path and method, the content type must match, and the
body must validate against the documented schema (JSON Schema 2020-12, as
OpenAPI 3.1 uses it). References across the files of api-spec/ are resolved.
"""
import os
import re
from urllib.parse import urlparse

import jsonschema
import yaml

SPEC_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "api-spec")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _load_docs():
    docs = {}
    for name in sorted(os.listdir(SPEC_DIR)):
        if name.endswith(".yaml"):
            with open(os.path.join(SPEC_DIR, name), encoding="utf-8") as f:
                docs[name] = yaml.safe_load(f)
    return docs


DOCS = _load_docs()


def _resolve(node, doc_name, depth=0):
    """Inlines every $ref (local or 'file.yaml#/...') below node."""
    if depth > 40:
        raise ValueError("reference cycle in api-spec")
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            target_doc, _, pointer = ref.partition("#")
            target_doc = target_doc or doc_name
            target = DOCS[target_doc]
            for part in pointer.strip("/").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            return _resolve(target, target_doc, depth + 1)
        return {k: _resolve(v, doc_name, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc_name, depth + 1) for v in node]
    return node


def _template_regex(template):
    parts = re.split(r"(\{[^}]+\})", template)
    rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile("^" + rx + "$")


OPERATIONS = []
for _name, _doc in DOCS.items():
    for _path, _item in (_doc.get("paths") or {}).items():
        for _method in METHODS:
            if _method in _item:
                OPERATIONS.append((_template_regex(_path), _path, _method, _name, _item[_method]))


# What any documented path answers to a method it does not document: 405, or
# 401 first when the gateway finds no valid token (it authenticates before the
# service looks at the method).
_METHOD_NOT_ALLOWED = {"responses": {
    "405": {"$ref": "common.yaml#/components/responses/Problem"},
    "401": {"$ref": "common.yaml#/components/responses/Problem"},
}}


def find_operation(method, path):
    """The (doc name, path template, operation) documenting method and path.

    A documented path called with an undocumented method may only answer 405."""
    method = method.lower()
    exact = [o for o in OPERATIONS if o[2] == method and o[1] == path]
    matches = exact or [o for o in OPERATIONS if o[2] == method and o[0].match(path)]
    if not matches:
        others = [o for o in OPERATIONS if o[1] == path or o[0].match(path)]
        if others:
            return "common.yaml", others[0][1], _METHOD_NOT_ALLOWED
        raise AssertionError(f"{method.upper()} {path} is not in api-spec/")
    _, template, _, doc, op = matches[0]
    return doc, template, op


def check(response):
    """Asserts that a requests.Response matches the spec; returns its JSON body (or None)."""
    req = response.request
    path = urlparse(req.url).path
    doc, template, op = find_operation(req.method, path)
    responses = op.get("responses", {})
    status = str(response.status_code)
    spec = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    assert spec is not None, (
        f"{req.method} {template}: status {status} is not documented "
        f"(documented: {sorted(responses)}); body: {response.text[:300]}")
    spec = _resolve(spec, doc)
    assert response.headers.get("X-Request-Id"), "every response carries X-Request-Id"
    content = spec.get("content")
    if not content:
        assert not response.content, f"{template} {status}: body not documented"
        return None
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert ctype in content, f"{template} {status}: content type {ctype!r} not in {sorted(content)}"
    schema = content[ctype].get("schema")
    body = response.json()
    if schema is not None:
        jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(body)
    return body
