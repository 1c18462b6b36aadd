"""A small evaluator of Kubernetes RBAC and ValidatingAdmissionPolicy over rendered manifests.

RBAC: a request (verb, API group, resource[/subresource], namespace or None for cluster scope,
object name) is allowed when a (Cluster)RoleBinding that names the ServiceAccount, or a group it
belongs to, grants a matching rule; RoleBindings count only inside their own namespace. This is the
authorizer's documented algorithm without aggregation (the chart uses none).

Admission: ValidatingAdmissionPolicy matchConstraints, matchConditions, variables and validations
evaluated with cel-python, the way the kube-apiserver does for one request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import celpy

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None


class Rbac:
    def __init__(self, manifests: list[Manifest]) -> None:
        self.manifests = manifests

    def _role(self, kind: str, name: str, namespace: str | None) -> Manifest | None:
        for manifest in self.manifests:
            meta = manifest["metadata"]
            same_scope = kind == "ClusterRole" or meta.get("namespace") == namespace
            if manifest["kind"] == kind and meta["name"] == name and same_scope:
                return manifest
        return None

    @staticmethod
    def _names_subject(binding: Manifest, namespace: str, account: str) -> bool:
        groups = {
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        }
        for subject in binding.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                if subject["name"] == account and subject.get("namespace") == namespace:
                    return True
            elif subject["kind"] == "Group" and subject["name"] in groups:
                return True
        return False

    @staticmethod
    def _rule_matches(rule: dict[str, Any], request: Request) -> bool:
        def has(field: str, value: str) -> bool:
            values = rule.get(field, [])
            return "*" in values or value in values

        names = rule.get("resourceNames", [])
        return (
            has("verbs", request.verb)
            and has("apiGroups", request.group)
            and has("resources", request.resource)
            and (not names or request.name in names)
        )

    def rules_for(self, namespace: str, account: str, request: Request) -> list[dict[str, Any]]:
        granted = []
        for binding in self.manifests:
            if binding["kind"] not in {"ClusterRoleBinding", "RoleBinding"}:
                continue
            if not self._names_subject(binding, namespace, account):
                continue
            binding_namespace = binding["metadata"].get("namespace")
            if binding["kind"] == "RoleBinding" and request.namespace != binding_namespace:
                continue
            ref = binding["roleRef"]
            role = self._role(ref["kind"], ref["name"], binding_namespace)
            assert role is not None, f"{binding['metadata']['name']} refers to a missing {ref}"
            granted.extend(rule for rule in role["rules"] if self._rule_matches(rule, request))
        return granted

    def allowed(self, namespace: str, account: str, request: Request) -> bool:
        return bool(self.rules_for(namespace, account, request))


@dataclass(frozen=True)
class Decision:
    applies: bool
    allowed: bool
    messages: tuple[str, ...] = ()


class AdmissionPolicy:
    def __init__(self, policy: Manifest) -> None:
        self.spec = policy["spec"]
        self.env = celpy.Environment()

    def _eval(self, expression: str, activation: dict[str, Any]) -> Any:
        program = self.env.program(self.env.compile(expression))
        return program.evaluate(activation)

    def _matches(self, request: dict[str, Any]) -> bool:
        kind = request["resource"]
        resource = kind["resource"] + (
            f"/{request['subResource']}" if request.get("subResource") else ""
        )
        for rule in self.spec["matchConstraints"]["resourceRules"]:
            if (
                kind["group"] in rule["apiGroups"]
                and (kind["version"] in rule["apiVersions"] or "*" in rule["apiVersions"])
                and request["operation"] in rule["operations"]
                and resource in rule["resources"]
            ):
                return True
        return False

    def review(
        self, request: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> Decision:
        if not self._matches(request):
            return Decision(applies=False, allowed=True)
        activation: dict[str, Any] = {
            "request": celpy.json_to_cel(request),
            "object": celpy.json_to_cel(obj),
            "oldObject": celpy.json_to_cel(old),
        }
        for condition in self.spec.get("matchConditions", []):
            if not bool(self._eval(condition["expression"], activation)):
                return Decision(applies=False, allowed=True)
        # The variables' values are CEL values already (json_to_cel would turn a BoolType into
        # an IntType: BoolType subclasses int, not bool).
        variables = celpy.celtypes.MapType()
        for variable in self.spec.get("variables", []):
            activation["variables"] = variables
            value = self._eval(variable["expression"], activation)
            variables[celpy.celtypes.StringType(variable["name"])] = value
        activation["variables"] = variables
        messages = []
        for validation in self.spec["validations"]:
            result = self._eval(validation["expression"], activation)
            if isinstance(result, celpy.CELEvalError) or not bool(result):
                if "messageExpression" in validation:
                    messages.append(str(self._eval(validation["messageExpression"], activation)))
                else:
                    messages.append(validation.get("message", validation["expression"]))
        # failurePolicy Fail: an expression error denies, like a false result.
        return Decision(applies=True, allowed=not messages, messages=tuple(messages))
