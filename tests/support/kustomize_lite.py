"""The subset of kustomize that deploy/kubernetes uses, in Python, so the unit tier renders the
overlays exactly as `kubectl kustomize` does without kubectl installed.

Supported, as kustomize v5 does them: `resources` (files and folders with a kustomization),
`namespace`, `secretGenerator` and `configMapGenerator` (`envs`, `files`, `literals`; the
content-hash name suffix, then every reference to the generated name in pod specs updated),
`images`, `replicas`, and `patches` (strategic merge, for the few list fields we patch, and
JSON 6902). Anything else in a kustomization is refused with an error, so a feature the
manifests start using cannot be silently ignored here. The output was compared with kubectl
1.37's (kustomize 5.8) for both overlays when this was written: the same objects, field for
field.
"""

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "secretGenerator",
             "configMapGenerator", "images", "replicas", "patches"}
# Kinds that live outside any namespace (among those kustomize knows; we use only Namespace).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass"}
# kustomize's "legacy" output order: these kinds first, in this order, the rest after.
ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
               "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
               "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
               "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
               "StatefulSet", "CronJob", "PodDisruptionBudget"]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
# Strategic merge: the list fields merged item by item, and the key that matches items (the
# patchMergeKey of the Kubernetes API); every other list is replaced whole.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
              "topologySpreadConstraints": "topologyKey"}
POD_SPEC_PATHS = {"Deployment": ("spec", "template", "spec"),
                  "StatefulSet": ("spec", "template", "spec"),
                  "Job": ("spec", "template", "spec"),
                  "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}


class KustomizeError(ValueError):
    """A kustomization this renderer cannot render (or kustomize would refuse)."""


def build(folder: Path) -> list[Resource]:
    """`kubectl kustomize FOLDER`: the objects, in kustomize's output order."""
    return sorted(_build(folder.resolve()), key=_order)


def _build(root: Path) -> list[Resource]:
    spec = _kustomization(root)
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{root}: fields this renderer does not implement: {unknown}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            resources += _build(path)
        else:
            resources += _load_yaml(_inside(root, path))
    generated = [_generate(root, "Secret", g) for g in spec.get("secretGenerator", [])]
    generated += [_generate(root, "ConfigMap", g) for g in spec.get("configMapGenerator", [])]
    renames = {}
    for resource in generated:
        base_name = resource["metadata"]["name"]
        resource["metadata"]["name"] = f"{base_name}-{content_hash(resource)}"
        renames[(resource["kind"], base_name)] = resource["metadata"]["name"]
    resources += generated
    _check_unique(root, resources)
    for patch in spec.get("patches", []):
        _apply_patch(root, resources, patch)
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    for replica in spec.get("replicas", []):
        targets = [r for r in resources if r["metadata"]["name"] == replica["name"]
                   and r["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}]
        if not targets:
            raise KustomizeError(f"{root}: replicas: nothing named {replica['name']}")
        for target in targets:
            target["spec"]["replicas"] = replica["count"]
    for image in spec.get("images", []):
        _set_image(resources, image)
    for resource in resources:
        _rename_references(resource, renames)
    return resources


def _kustomization(root: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_NAMES:
        if (root / name).is_file():
            loaded: dict[str, Any] = yaml.safe_load((root / name).read_text())
            return loaded
    raise KustomizeError(f"{root}: no kustomization file")


def _inside(root: Path, path: Path) -> Path:
    """kustomize's default load restrictor: a kustomization reads files under its own folder
    only (symbolic links followed)."""
    real = path.resolve()
    if not real.is_relative_to(root):
        raise KustomizeError(f"security; file '{real}' is not in or below '{root}'")
    return real


def _load_yaml(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _check_unique(root: Path, resources: list[Resource]) -> None:
    seen = set()
    for resource in resources:
        key = (resource["kind"], resource["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{root}: {key} defined twice")
        seen.add(key)


def env_pairs(text: str) -> dict[str, str]:
    """An `envs:` file as kustomize reads it: KEY=VALUE lines, leading space and `#` comment
    lines ignored, nothing after the first `=` interpreted."""
    pairs = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise KustomizeError(f"{line!r}: no '=' (kustomize would read the host's env)")
        pairs[key] = value
    return pairs


def _generate(root: Path, kind: str, generator: dict[str, Any]) -> Resource:
    unknown = set(generator) - {"name", "envs", "files", "literals", "type"}
    if unknown:
        raise KustomizeError(f"{root}: generator fields not implemented: {unknown}")
    data: dict[str, str] = {}
    for env_file in generator.get("envs", []):
        data.update(env_pairs(_inside(root, root / env_file).read_text()))
    for file_name in generator.get("files", []):
        key, _, source = str(file_name).rpartition("=")
        path = _inside(root, root / (source or file_name))
        data[key or path.name] = path.read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    resource: Resource = {"apiVersion": "v1", "kind": kind,
                          "metadata": {"name": generator["name"]}}
    if kind == "Secret":
        resource["type"] = generator.get("type", "Opaque")
        resource["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        resource["data"] = data
    return resource


def content_hash(resource: Resource) -> str:
    """kustomize's name suffix (api/hasher): SHA-256 of kind, name, data (and a Secret's
    type) encoded as Go's json.Marshal would (sorted keys, HTML characters escaped), ten
    characters of it with vowels and look-alikes swapped out. The name is encoded empty:
    kustomize 5.8 (kubectl 1.37) hashes the generated object before it is named, as its
    output shows."""
    encoded: dict[str, Any] = {"kind": resource["kind"], "name": "",
                               "data": resource.get("data", {})}
    if resource["kind"] == "Secret":
        encoded["type"] = resource.get("type", "Opaque")
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _apply_patch(root: Path, resources: list[Resource], patch: dict[str, Any]) -> None:
    body = yaml.safe_load(_inside(root, root / patch["path"]).read_text() if "path" in patch
                          else patch["patch"])
    if isinstance(body, list):  # JSON 6902: needs an explicit target
        for resource in _targets(resources, patch.get("target")):
            for operation in body:
                _json_patch(resource, operation)
        return
    target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    for resource in _targets(resources, target):
        merged = strategic_merge(resource, body)
        resource.clear()
        resource.update(merged)


def _targets(resources: list[Resource], target: dict[str, Any] | None) -> Iterator[Resource]:
    if not target or set(target) - {"kind", "name"}:
        raise KustomizeError(f"patch target must be kind and name: {target}")
    found = [r for r in resources
             if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]]
    if not found:
        raise KustomizeError(f"patch target not found: {target}")
    yield from found


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch, for maps and the list fields in MERGE_KEYS; `null` deletes."""
    if isinstance(original, dict) and isinstance(patch, dict):
        result = dict(original)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = strategic_merge(result[key], value, key)
            else:
                result[key] = _without_nulls(value)
        return result
    if isinstance(original, list) and isinstance(patch, list) and field in MERGE_KEYS:
        # kustomize (kyaml) puts the patch's items first, then the original's others.
        key = MERGE_KEYS[field]
        by_key = {item[key]: item for item in original}
        merged = [strategic_merge(by_key[item[key]], item, field) if item[key] in by_key
                  else _without_nulls(item) for item in patch]
        patched = {item[key] for item in patch}
        return merged + [item for item in original if item[key] not in patched]
    return _without_nulls(copy.deepcopy(patch))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _json_patch(resource: Resource, operation: dict[str, Any]) -> None:
    op = operation["op"]
    if op not in {"add", "replace", "remove"}:
        raise KustomizeError(f"JSON patch op not implemented: {op}")
    *parents, last = [part.replace("~1", "/").replace("~0", "~")
                      for part in operation["path"].lstrip("/").split("/")]
    node: Any = resource
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op == "remove":
            node.pop(index)
        elif op == "add":
            node.insert(index, copy.deepcopy(operation["value"]))
        else:
            node[index] = copy.deepcopy(operation["value"])
    else:
        if op in {"replace", "remove"} and last not in node:
            raise KustomizeError(f"JSON patch: {operation['path']} does not exist")
        if op == "remove":
            del node[last]
        else:
            node[last] = copy.deepcopy(operation["value"])


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    path = POD_SPEC_PATHS.get(resource["kind"])
    if path is None:
        return None
    node: dict[str, Any] = resource
    for part in path:
        node = node[part]
    return node


def containers(resource: Resource) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    for resource in resources:
        for container in containers(resource):
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                tag = "@" + image["digest"]
            elif "newTag" in image:
                tag = ":" + str(image["newTag"])
            container["image"] = name + tag


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _rename_references(resource: Resource, renames: dict[tuple[str, str], str]) -> None:
    spec = pod_spec(resource)
    if spec is None:
        return

    def rename(kind: str, holder: dict[str, Any], field: str) -> None:
        if holder.get(field) is not None:
            holder[field] = renames.get((kind, holder[field]), holder[field])

    for container in containers(resource):
        for source in container.get("envFrom", []):
            rename("Secret", source.get("secretRef", {}), "name")
            rename("ConfigMap", source.get("configMapRef", {}), "name")
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {})
            rename("Secret", reference.get("secretKeyRef", {}), "name")
            rename("ConfigMap", reference.get("configMapKeyRef", {}), "name")
    for volume in spec.get("volumes", []):
        rename("Secret", volume.get("secret", {}), "secretName")
        rename("ConfigMap", volume.get("configMap", {}), "name")
        for source in volume.get("projected", {}).get("sources", []):
            rename("Secret", source.get("secret", {}), "name")
            rename("ConfigMap", source.get("configMap", {}), "name")


def _order(resource: Resource) -> tuple[int, str, str, str]:
    kind = resource["kind"]
    if kind in ORDER_FIRST:
        rank = ORDER_FIRST.index(kind)
    elif kind in ORDER_LAST:
        rank = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
    else:
        rank = len(ORDER_FIRST)
    return (rank, f"{resource['apiVersion']}/{kind}",
            resource["metadata"].get("namespace", ""), resource["metadata"]["name"])


def dump(resources: list[Resource]) -> str:
    """Multi-document YAML, as `kubectl kustomize` prints it."""
    return yaml.safe_dump_all(resources, sort_keys=False, default_flow_style=False)
