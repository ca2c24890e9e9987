"""IAM as AWS evaluates it, enough for this stack: the Allow statements of one role, from the
synthesized template, with CloudFormation references resolved to the test's resources.

An action or resource may carry ``*`` and ``?`` wildcards (case-insensitive actions,
case-sensitive resources). A statement's ``Condition`` is judged for the string operators this
stack writes (``StringEquals``, ``StringLike``, ``ArnLike``, ``Bool``) against the request's context keys; a key the
request does not carry fails the condition, as in IAM
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
This stack writes no Deny statements; the evaluator refuses to judge a statement it cannot
(a Deny, ``NotAction``, another operator), rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

# Operator -> whether a value matches a pattern. StringLike and ArnLike take * and ? wildcards.
_OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringLike": lambda value, pattern: _pattern(pattern).fullmatch(value) is not None,
    "ArnLike": lambda value, pattern: _pattern(pattern).fullmatch(value) is not None,
    "Bool": lambda value, pattern: value.lower() == str(pattern).lower(),
}


@dataclass(frozen=True)
class Condition:
    """One condition key of a statement: the request's value must match one of ``values``."""

    operator: str
    key: str
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        if self.key not in context:
            return False
        match = _OPERATORS[self.operator]
        return any(match(context[self.key], value) for value in self.values)

    def __str__(self) -> str:
        return f"{self.operator} {self.key} {list(self.values)}"


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern, as one statement of a role's policy allows it."""

    role: str
    action: str
    resource: str
    conditions: tuple[Condition, ...] = ()

    def allows(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
        return (
            _pattern(self.action.lower()).fullmatch(action.lower()) is not None
            and _pattern(self.resource).fullmatch(resource) is not None
            and all(condition.holds(context or {}) for condition in self.conditions)
        )


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.DOTALL)


class Policies:
    """Every role's grants in one template. ``references`` maps a logical id (``Ref``) or
    ``LogicalId.Attribute`` (``Fn::GetAtt``) to the value the test's environment gives it; any
    other reference stands for a resource no test call names."""

    def __init__(self, template: Mapping[str, Any], references: Mapping[str, str]) -> None:
        self.resources: Mapping[str, Any] = template["Resources"]
        self.references = references
        self.grants: dict[str, list[Grant]] = {}
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::IAM::Policy":
                for role in resource["Properties"]["Roles"]:
                    self._add(role["Ref"], resource["Properties"]["PolicyDocument"])
            elif resource["Type"] == "AWS::IAM::Role":
                for policy in resource["Properties"].get("Policies", []):
                    self._add(logical_id, policy["PolicyDocument"])

    def _add(self, role: str, document: Mapping[str, Any]) -> None:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow" or "NotAction" in statement or "NotResource" in statement:
                raise ValueError(f"{role}: the evaluator cannot judge {statement}")
            conditions = self._conditions(role, statement)
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]):
                    self.grants.setdefault(role, []).append(Grant(role, action, self.resolve(resource), conditions))

    def _conditions(self, role: str, statement: Mapping[str, Any]) -> tuple[Condition, ...]:
        conditions = []
        for operator, keys in statement.get("Condition", {}).items():
            if operator not in _OPERATORS:
                raise ValueError(f"{role}: the evaluator cannot judge the condition {operator} in {statement}")
            for key, values in keys.items():
                conditions.append(Condition(operator, key, tuple(self.resolve(v) for v in _listed(values))))
        return tuple(conditions)

    def role_of_handler(self, module: str) -> str:
        """The role of the Lambda function whose handler is ``module.handler``."""
        for resource in self.resources.values():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function" and properties.get("Handler") == f"{module}.handler":
                return properties["Role"]["Fn::GetAtt"][0]
        raise KeyError(f"no function in the template runs {module}.handler")

    def role_of_state_machine(self) -> str:
        [machine] = [r for r in self.resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
        return machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]

    def matching(self, role: str, action: str, resource: str, context: Mapping[str, str] | None = None) -> list[Grant]:
        return [grant for grant in self.grants.get(role, []) if grant.allows(action, resource, context)]

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value or "Fn::GetAtt" in value:
            name = value["Ref"] if "Ref" in value else ".".join(value["Fn::GetAtt"])
            return self.references.get(name, f"(unresolved {name})")
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(self.resolve(part) for part in parts)
        raise ValueError(f"cannot resolve {value}")


def _listed(value: str | list[str] | Any) -> Iterable[Any]:
    return value if isinstance(value, list) else [value]
