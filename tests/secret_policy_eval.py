#!/usr/bin/env python3
"""Evaluates the resource policy keygate puts on a secret whose request names `readers`
(DESIGN §3.3): `secretsmanager:GetSecretValue` is allowed for each reader and for keygate's
own role, and denied to every other principal, even one whose identity policy allows
`secretsmanager:*` on every secret.

Why not only moto: moto stores the document but never enforces it and has no
`ValidateResourcePolicy`; its evaluator, `moto.iam.access_control.IAMPolicy`, matches a
`Principal` but ignores every condition operator except `StringEquals` (an unknown operator
counts as met), so it would deny the readers too. The identity side (`Action` and `Resource`
of an identity policy) is evaluated with moto's `IAMPolicy`; the resource policy with the
small evaluator below, which implements AWS's rules for exactly the elements keygate writes
and refuses any other element, operator or key, so that a changed document cannot be
evaluated wrongly in silence. It models principals of the secret's own account only.

Run by scripts/test: `python tests/secret_policy_eval.py [POLICY.json]` (default: the
fixture tests/fixtures/secret_policy.json, which a Rust unit test keeps equal to what keygate
builds). Exits non-zero, naming the case, when a decision is not the expected one.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from moto.iam.access_control import IAMPolicy, PermissionResult

ACTION = "secretsmanager:GetSecretValue"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:svc/access-key-1-AbCdEf"
ACCOUNT = "123456789012"
FIXTURE = Path(__file__).parent / "fixtures" / "secret_policy.json"

ALLOW, DENY = "Allow", "Deny"


class Unsupported(Exception):
    """The document holds something this evaluator does not model."""


@dataclass
class Caller:
    """Who calls GetSecretValue: `principal_arn` is what AWS puts in `aws:PrincipalArn`
    (a role's ARN, path included, for a role session; `None` for a service principal)."""

    name: str
    principal_arn: str | None
    identity_policies: list[str] = field(default_factory=list)


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    """AWS `StringLike` matching: `*` any run of characters, `?` one character."""
    if "${" in pattern:
        raise Unsupported(f"policy variable in {pattern!r}")
    rx = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(rx, value, flags) is not None


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def _principal_matches(principal, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        raise Unsupported(f"Principal {principal!r}")
    if caller.principal_arn is None:
        return False
    for p in _as_list(principal["AWS"]):
        if p == "*":
            return True
        if p in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
            return caller.principal_arn.split(":")[4] == ACCOUNT
        if "*" in p or "?" in p:
            raise Unsupported(f"wildcard principal {p!r}")
        # AWS resolves a principal ARN to the user's or role's unique ID when the policy is
        # saved; IAM names are unique without regard to case.
        if p.lower() == caller.principal_arn.lower():
            return True
    return False


def _condition_holds(condition: dict, caller: Caller) -> bool:
    """All operators and keys must hold (AND); the values of one key are OR'd, and a
    negated operator holds when the value matches none of them. A key missing from the
    request context fails a positive operator and meets a negated one."""
    for operator, block in condition.items():
        if operator not in ("StringLike", "StringNotLike", "StringEquals", "StringNotEquals"):
            raise Unsupported(f"condition operator {operator}")
        for key, values in block.items():
            if key.lower() != "aws:principalarn":
                raise Unsupported(f"condition key {key}")
            actual = caller.principal_arn
            negated = "Not" in operator
            if actual is None:
                if not negated:
                    return False
                continue
            like = operator.endswith("Like")
            hit = any(
                _wildcard(v, actual, False) if like else v == actual
                for v in _as_list(values)
            )
            if hit == negated:
                return False
    return True


def resource_policy_effects(document: dict, action: str, caller: Caller) -> set[str]:
    """The effects of the statements that apply to this call."""
    if document.get("Version") != "2012-10-17":
        raise Unsupported(f"Version {document.get('Version')!r}")
    effects = set()
    for st in _as_list(document["Statement"]):
        extra = set(st) - {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
        if extra:
            raise Unsupported(f"statement elements {sorted(extra)}")
        if st["Effect"] not in (ALLOW, DENY):
            raise Unsupported(f"Effect {st['Effect']!r}")
        if not any(_wildcard(a, action, True) for a in _as_list(st["Action"])):
            continue
        if not any(r == "*" or _wildcard(r, SECRET_ARN, False) for r in _as_list(st["Resource"])):
            continue
        if not _principal_matches(st["Principal"], caller):
            continue
        if not _condition_holds(st.get("Condition", {}), caller):
            continue
        effects.add(st["Effect"])
    return effects


def decide(document: dict, caller: Caller, action: str = ACTION) -> str:
    """AWS's decision for a principal of the secret's own account: an explicit deny in any
    policy wins; otherwise an allow in the resource policy or an identity policy allows;
    otherwise the implicit deny."""
    effects = resource_policy_effects(document, action, caller)
    for identity in caller.identity_policies:
        result = IAMPolicy(identity).is_action_permitted(action, SECRET_ARN)
        if result == PermissionResult.DENIED:
            effects.add(DENY)
        elif result == PermissionResult.PERMITTED:
            effects.add(ALLOW)
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else DENY


ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
)
READ_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ACTION, "Resource": "*"}]}
)


def fixture_cases() -> list[tuple[Caller, str]]:
    """The readers and keygate of tests/fixtures/secret_policy.json, and everyone else."""
    iam = f"arn:aws:iam::{ACCOUNT}"
    return [
        (Caller("reader role with a path, no identity policy", f"{iam}:role/ci/deploy-ci"), ALLOW),
        (Caller("reader user, no identity policy", f"{iam}:user/backup"), ALLOW),
        (Caller("reader user that also reads everything", f"{iam}:user/backup", [READ_ALL]), ALLOW),
        (Caller("keygate's role, with a path", f"{iam}:role/service/keygate", [READ_ALL]), ALLOW),
        (Caller("keygate's role, without a path", f"{iam}:role/keygate", [READ_ALL]), ALLOW),
        (Caller("an account admin", f"{iam}:user/admin", [ADMIN]), DENY),
        (Caller("a role allowed to read every secret", f"{iam}:role/ops", [READ_ALL]), DENY),
        (Caller("a role whose name ends in keygate", f"{iam}:role/not-keygate", [READ_ALL]), DENY),
        (Caller("a role named like the reader at another path", f"{iam}:role/deploy-ci", [READ_ALL]), DENY),
        (Caller("the account root", f"{iam}:root", [ADMIN]), DENY),
        (Caller("a service principal (no aws:PrincipalArn)", None, [READ_ALL]), DENY),
        (Caller("another principal without any policy", f"{iam}:user/mallory"), DENY),
    ]


def self_test() -> None:
    """The evaluator itself, on documents small enough to judge by eye."""
    who = Caller("u", f"arn:aws:iam::{ACCOUNT}:user/u")
    allow_u = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": who.principal_arn}, "Action": ACTION, "Resource": "*"}]}
    assert decide(allow_u, who) == ALLOW
    assert decide(allow_u, who, "secretsmanager:PutSecretValue") == DENY, "implicit deny"
    assert decide(allow_u, Caller("v", f"arn:aws:iam::{ACCOUNT}:user/v")) == DENY
    deny_all = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"}]}
    assert decide(deny_all, Caller("a", who.principal_arn, [ADMIN])) == DENY, "deny beats allow"
    like = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": ACTION, "Resource": "*",
         "Condition": {"StringNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:user/u?"]}}}]}
    assert decide(like, Caller("u1", f"arn:aws:iam::{ACCOUNT}:user/u1", [READ_ALL])) == ALLOW
    assert decide(like, Caller("u12", f"arn:aws:iam::{ACCOUNT}:user/u12", [READ_ALL])) == DENY
    assert decide(like, Caller("U1", f"arn:aws:iam::{ACCOUNT}:user/U1", [READ_ALL])) == DENY, \
        "StringLike is case-sensitive"
    for bad in (
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "x"}, "Action": ACTION, "Resource": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": ACTION, "Resource": "*",
                                                 "Condition": {"ArnNotLike": {"aws:PrincipalArn": "x"}}}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": ACTION, "Resource": "*",
                                                 "Condition": {"StringNotLike": {"aws:username": "x"}}}]},
        {"Version": "2008-10-17", "Statement": []},
    ):
        try:
            decide(bad, who)
        except Unsupported:
            continue
        raise AssertionError(f"evaluated a document it does not model: {bad}")


def main(argv: list[str]) -> int:
    self_test()
    path = Path(argv[1]) if len(argv) > 1 else FIXTURE
    document = json.loads(path.read_text())
    failures = 0
    for caller, expected in fixture_cases():
        got = decide(document, caller)
        mark = "ok  " if got == expected else "FAIL"
        failures += got != expected
        print(f"{mark} {ACTION} by {caller.name}: {got} (expected {expected})")
    if failures:
        print(f"{failures} decision(s) differ from the contract in DESIGN §3.3", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
