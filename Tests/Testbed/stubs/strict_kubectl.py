# labctl testbed stub: kubectl's validation of an applied manifest (apply/create -f FILE|-|URL).
#
# - Core kinds: the Kubernetes OpenAPI schemas of the cluster's minor version, as the kubernetes-validate
#   wheels on PyPI ship them (kubernetes_validate/kubernetes-json-schema/v1.<minor>.0-local-strict/
#   _definitions.json; 1.28.3 carries v1.20-v1.28, 1.37.0 v1.25-v1.37). `testbed stub-lib` installs them.
# - Custom resources: the structural schemas of the CRDs the lab's upstream manifests install
#   (crd_schemas.json, each entry naming its upstream file), known in a cluster only once the
#   manifest or istioctl install that brings them ran there.
# - Any other kind fails as kubectl does: no matches for kind "X" in version "Y".
# Error texts: kubectl <= 1.24 validates on the client (kube-openapi's proto validation:
# "error validating data: ValidationError(Deployment.spec): unknown field "x" in io.k8s.api.apps.v1.
# DeploymentSpec"); from 1.25 `--validate=strict` is the default and the API server refuses the object
# (KEP-2885 server-side field validation: "strict decoding error: unknown field "spec.x"").
import json
import os

from strict_lib import go_type, lib_dir, load_documents

HERE = os.path.dirname(os.path.realpath(__file__))


class Refused(Exception):
    pass


_defs = {}


def core_definitions(minor):
    if minor not in _defs:
        # As kubernetes-validate does: the newest schemas not newer than the cluster.
        have = sorted(int(d[3:]) for d in os.listdir(os.path.join(lib_dir(), "schemas")) if d.startswith("v1.")) \
            if os.path.isdir(os.path.join(lib_dir(), "schemas")) else []
        use = max([m for m in have if m <= minor], default=minor)
        path = os.path.join(lib_dir(), "schemas", "v1.%d" % use, "_definitions.json")
        try:
            with open(path) as f:
                data = json.load(f)
            defs = data.get("definitions") or data.get("$defs")  # 1.28.x wheels: definitions; 1.37.0: $defs
        except OSError:
            raise Refused("labctl stub: no Kubernetes schemas for v1.%d at %s (run `Tests/Testbed/testbed stub-lib`)"
                          % (minor, path))
        index = {}
        for name, d in defs.items():
            for gvk in d.get("x-kubernetes-group-version-kind", []):
                api = "%s/%s" % (gvk["group"], gvk["version"]) if gvk["group"] else gvk["version"]
                index[(api, gvk["kind"])] = name
        _defs[minor] = (defs, index)
    return _defs[minor]


_crds = None


def crd_catalog():
    global _crds
    if _crds is None:
        for d in (HERE, lib_dir()):
            path = os.path.join(d, "crd_schemas.json")
            if os.path.exists(path):
                with open(path) as f:
                    _crds = json.load(f)
                break
        else:
            _crds = {}
    return _crds


def crd_kinds(bundles):
    """The custom kinds a cluster knows: (apiVersion, kind) -> schema, from the CRD bundles installed there."""
    kinds = {}
    for bundle in bundles:
        for key, entry in crd_catalog().get(bundle, {}).get("kinds", {}).items():
            group, version, kind = key.split("/")
            kinds[("%s/%s" % (group, version), kind)] = entry["schema"]
    return kinds


def _types(schema):
    t = schema.get("type")
    return t if isinstance(t, list) else [t] if t else []


def _type_ok(value, types):
    names = {"object": dict, "array": list, "string": str, "boolean": bool}
    for t in types:
        if t == "null" and value is None:
            return True
        if t in ("integer", "number") and isinstance(value, (int, float)) and not isinstance(value, bool):
            if t == "number" or isinstance(value, int) or float(value).is_integer():
                return True
        if t in names and isinstance(value, names[t]):
            return True
    return False


class Walker:
    """A JSON-schema walk over the subset the Kubernetes schemas use: $ref, type, properties,
    additionalProperties (false or a schema), items, required, oneOf (IntOrString), x-kubernetes-*."""

    def __init__(self, defs, kind, base=None):
        # base: a CRD's definition name (kube-openapi's reversed group, version, kind); its nested
        # objects are named by their path, as the published OpenAPI of a CRD names them.
        self.defs, self.kind, self.base, self.unknown, self.invalid = defs, kind, base, [], []

    def resolve(self, schema):
        while "$ref" in schema:
            schema = self.defs[schema["$ref"].split("/")[-1]]
        return schema

    def walk(self, value, schema, path, owner):
        schema = self.resolve(schema)
        if value is None:
            return
        if "oneOf" in schema or "anyOf" in schema:
            options = [self.resolve(s) for s in schema.get("oneOf", schema.get("anyOf", []))]
            if not any(_type_ok(value, _types(o)) for o in options):
                self.invalid.append((path, owner, value, "/".join(t for o in options for t in _types(o))))
            return
        if schema.get("x-kubernetes-int-or-string"):
            if not _type_ok(value, ["integer", "string"]):
                self.invalid.append((path, owner, value, "integer/string"))
            return
        types = _types(schema)
        if types and not _type_ok(value, types):
            self.invalid.append((path, owner, value, types[0]))
            return
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        if isinstance(value, dict):
            owner = schema.get("_name") or (self.base + "".join("." + p for p in path if isinstance(p, str))
                                            if self.base else owner)
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for req in schema.get("required", []):
                if req not in value:
                    self.invalid.append((path + [req], owner, None, "required"))
            for key, item in value.items():
                if key in props:
                    self.walk(item, props[key], path + [key], owner)
                elif isinstance(extra, dict):
                    self.walk(item, extra, path + [key], owner)
                elif props or extra is False:
                    self.unknown.append((path, key, owner))
        elif isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.walk(item, schema["items"], path + [i], owner)


def _name_definitions(defs):
    for name, d in defs.items():
        d.setdefault("_name", name)


def _dotted(kind, path):
    out = kind
    for p in path:
        out += "[%d]" % p if isinstance(p, int) else "." + p
    return out


def _field_path(path):
    out = ""
    for p in path:
        out += "[%d]" % p if isinstance(p, int) else ("." if out else "") + p
    return out


def check_object(obj, source, minor, bundles, namespace):
    """Raise Refused with kubectl's message when the cluster (Kubernetes 1.<minor>) would refuse obj."""
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name", "")
    if not api or not kind:
        raise Refused('error: error validating "%s": error validating data: [apiVersion not set, kind not set]; '
                      'if you choose to ignore these errors, turn validation off with --validate=false' % source)
    defs, index = core_definitions(minor)
    custom = crd_kinds(bundles)
    if (api, kind) in index:
        _name_definitions(defs)
        schema = defs[index[(api, kind)]]
        walker = Walker(defs, kind)
        walker.walk(obj, schema, [], index[(api, kind)])
    elif (api, kind) in custom:
        group, version = api.split("/")
        walker = Walker({}, kind, "%s.%s.%s" % (".".join(reversed(group.split("."))), version, kind))
        # apiVersion, kind and metadata are the API server's, not the CRD's.
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        schema = dict(custom[(api, kind)])
        schema["properties"] = {k: v for k, v in schema.get("properties", {}).items()
                                if k not in ("apiVersion", "kind", "metadata")}
        walker.walk(body, schema, [], walker.base)
    else:
        if minor < 25:
            raise Refused('error: unable to recognize "%s": no matches for kind "%s" in version "%s"' % (source, kind, api))
        raise Refused('error: resource mapping not found for name: "%s" namespace: "%s" from "%s": no matches for kind '
                      '"%s" in version "%s"\nensure CRDs are installed first' % (name, namespace or "", source, kind, api))
    if not walker.unknown and not walker.invalid:
        return
    version = api.split("/")[-1]
    if minor < 25:
        errors = []
        for path, key, owner in walker.unknown:
            errors.append('ValidationError(%s): unknown field "%s" in %s' % (_dotted(kind, path), key, owner))
        for path, owner, value, want in walker.invalid:
            if want == "required":
                errors.append('ValidationError(%s): missing required field "%s" in %s'
                              % (_dotted(kind, path[:-1]), path[-1], owner))
            else:
                errors.append('ValidationError(%s): invalid type for %s.%s: got "%s", expected "%s"'
                              % (_dotted(kind, path), owner, path[-1] if path else "", go_type(value), want))
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise Refused('error: error validating "%s": error validating data: %s; if you choose to ignore these errors, '
                      'turn validation off with --validate=false' % (source, detail))
    prefix = 'Error from server (BadRequest): error when creating "%s": %s in version "%s" cannot be handled as a %s: ' % (
        source, kind, version, kind)
    for path, owner, value, want in walker.invalid:
        if want == "required":
            raise Refused('The %s "%s" is invalid: %s: Required value' % (kind, name, _field_path(path)))
        raise Refused(prefix + "json: cannot unmarshal %s into Go struct field %s of type %s"
                      % (go_type(value), _field_path(path), want))
    raise Refused(prefix + "strict decoding error: " + ", ".join(
        'unknown field "%s"' % _field_path(path + [key]) for path, key, _ in walker.unknown))


def objects(text):
    """The objects of a manifest, a v1 List's items in place of the List (as kubectl applies them)."""
    out = []
    for doc in load_documents(text):
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out += doc["items"]
        else:
            out.append(doc)
    return out


def validate(text, source, minor, bundles, namespace=None):
    """Check every object of a manifest; raise Refused with kubectl's message at the first refusal."""
    try:
        objs = objects(text)
    except ValueError as e:
        raise Refused('error: error parsing %s: error converting YAML to JSON: %s' % (source, e))
    for obj in objs:
        if not isinstance(obj, dict):
            raise Refused('error: error validating "%s": error validating data: invalid object to validate' % source)
        check_object(obj, source, minor, bundles, obj.get("metadata", {}).get("namespace") or namespace)
    return objs


if __name__ == "__main__":
    # Host-side check (the tests): strict_kubectl.py MINOR FILE [CRD-BUNDLE...]; exit 1 with kubectl's message.
    import sys
    try:
        validate(open(sys.argv[2]).read(), sys.argv[2], int(sys.argv[1]), sys.argv[3:])
    except Refused as e:
        sys.exit(str(e))
