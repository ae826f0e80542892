#!/usr/bin/env python3
"""Least privilege of keygate's role, by resource (DESIGN section 7, issue #12 item 2).

moto's IAM enforcement judges actions but passes every resource as "*", so the Rust test
`least_privilege` (tests/it) proves the actions and this script proves the resources:

1. It resolves the role policies of deploy/keygate.yaml with sample parameter values (the
   CloudFormation intrinsics it uses: Ref, Fn::Sub, Fn::GetAtt, Fn::If over the template's
   own conditions) and checks that deploy/iam-policy.json, filled in with the same values,
   grants exactly the same statements as the template's `keygate` policy.
2. It evaluates the resolved policies with moto's own IAM evaluator
   (moto.iam.access_control.IAMPolicy, which matches ARNs with wildcards) for every
   (action, resource ARN) keygate uses: allowed inside the IAM path, the secret prefix, the
   KMS key, the topic, table and queues of the stack; denied outside them.
3. Every action the policies grant must be exercised by one of the allowed cases, so a grant
   nobody tested fails here.
4. The same for the issuer role of deploy/keygate-member.yaml in a member account (DESIGN
   section 9): it trusts keygate's role alone, with the external ID; it grants the home
   role's actions on IAM users and secrets, inside the path and the prefix of that account
   and region only; and keygate's home role may assume roles of its name only.

Run with the project's .venv python (./scripts/test does). Exit 0 when everything holds,
1 with one line per failure otherwise.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import yaml
from moto.iam.access_control import IAMPolicy, PermissionResult

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "keygate.yaml"
MEMBER_TEMPLATE = ROOT / "deploy" / "keygate-member.yaml"
POLICY_FILE = ROOT / "deploy" / "iam-policy.json"
AUDITOR_FILE = ROOT / "deploy" / "auditor-policy.json"

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
APP_KEY_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:github/keygate-app-key-AbCdEf"
WEBHOOK_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:github/keygate-webhook-GhIjKl"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:keygate-NoticesTopic-1A2B3C4D5E6F"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/keygate-LedgerTable-1A2B3C4D5E6F"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:keygate-work.fifo"
DEAD_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:keygate-dead.fifo"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/keygate-keygate"
MEMBER_ROLE_NAME = "keygate-issuer"
MEMBER = "111111111111"
OTHER_MEMBER = "222222222222"
MEMBER_REGION = "eu-west-1"
MEMBER_KMS_KEY = f"arn:aws:kms:{MEMBER_REGION}:{MEMBER}:key/5678abcd-12ab-34cd-56ef-1234567890ab"
KEYGATE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/keygate-FunctionRole-1A2B3C4D5E6F"
EXTERNAL_ID = "keygate-acme"

PARAMETERS = {
    "AppId": "123456",
    "Repository": "acme/access-requests",
    "Branch": "main",
    "AppPrivateKeySecretArn": APP_KEY_SECRET,
    "WebhookSecretArn": WEBHOOK_SECRET,
    "IamUserPath": "/keygate/",
    "SecretPrefix": "keygate/",
    "KmsKeyArn": KMS_KEY,
    "Accounts": (
        '{ prod = { role_arn = "arn:aws:iam::111111111111:role/keygate-issuer", '
        'external_id = "keygate-acme" } }'
    ),
    "MemberRoleName": MEMBER_ROLE_NAME,
    "AlertEmail": "",
    "CodeS3Bucket": "artifacts",
    "CodeS3Key": "keygate.zip",
    "Architecture": "arm64",
    "LogRetentionDays": "365",
    "ReservedConcurrency": "10",
    "QueueConcurrency": "5",
    "MetricsToken": "",
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::StackName": "keygate",
}
# What Ref and Fn::GetAtt of the stack's own resources return, as CloudFormation would.
REFS = {
    "NoticesTopic": TOPIC,
    "LedgerTable": TABLE.rsplit("/", 1)[1],
    "WorkQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/keygate-work.fifo",
    "DeadLetterQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/keygate-dead.fifo",
    "FunctionLogGroup": "/aws/lambda/keygate-keygate",
}
ATTRS = {
    "LedgerTable.Arn": TABLE,
    "WorkQueue.Arn": QUEUE,
    "DeadLetterQueue.Arn": DEAD_QUEUE,
    "FunctionLogGroup.Arn": f"{LOG_GROUP}:*",
}
# iam-policy.json's placeholders, filled in with the same values.
FILE_VALUES = {
    "Partition": "aws",
    "AccountId": ACCOUNT,
    "Region": REGION,
    "IamUserPath": PARAMETERS["IamUserPath"],
    "SecretPrefix": PARAMETERS["SecretPrefix"],
    "KmsKeyArn": KMS_KEY,
    "TopicArn": TOPIC,
    "TableArn": TABLE,
    "QueueArn": QUEUE,
    "DeadLetterQueueArn": DEAD_QUEUE,
    "MemberRoleName": MEMBER_ROLE_NAME,
}

NO_VALUE = object()


# ---- Loading and resolving the template --------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, !If, ...)."""


def _short_form(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_form)


class Resolver:
    def __init__(self, template: dict, parameters: dict, pseudo: dict | None = None):
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo or PSEUDO
        self.conditions = {
            name: self.condition(body)
            for name, body in template.get("Conditions", {}).items()
        }

    def condition(self, body) -> bool:
        if isinstance(body, dict) and len(body) == 1:
            (fn, args), = body.items()
            if fn == "Fn::Not":
                return not self.condition(args[0])
            if fn == "Fn::Equals":
                return self.resolve(args[0]) == self.resolve(args[1])
        raise ValueError(f"condition not understood: {body!r}")

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        for table in (self.pseudo, self.parameters, REFS):
            if name in table:
                return table[name]
        raise ValueError(f"no sample value for Ref {name}")

    def sub(self, text: str) -> str:
        def one(m: re.Match) -> str:
            name = m.group(1)
            if "." in name and not name.startswith("AWS::"):
                if name not in ATTRS:
                    raise ValueError(f"no sample value for ${{{name}}}")
                return ATTRS[name]
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(n) for n in node]
            return [n for n in out if n is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::Sub":
                return self.sub(value)
            if key == "Fn::GetAtt":
                name = ".".join(value)
                if name not in ATTRS:
                    raise ValueError(f"no sample value for GetAtt {name}")
                return ATTRS[name]
            if key == "Fn::If":
                name, yes, no = value
                return self.resolve(yes if self.conditions[name] else no)
        return {k: self.resolve(v) for k, v in node.items()}


def role_policies(parameters: dict) -> dict[str, dict]:
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    role = Resolver(template, parameters).resolve(
        template["Resources"]["FunctionRole"]["Properties"]
    )
    return {p["PolicyName"]: p["PolicyDocument"] for p in role["Policies"]}


def policy_file(path: Path = POLICY_FILE) -> dict:
    text = path.read_text()
    unknown = set(re.findall(r"\$\{([^}]+)\}", text)) - FILE_VALUES.keys()
    if unknown:
        raise ValueError(f"{path.name}: unknown placeholders {sorted(unknown)}")
    for name, value in FILE_VALUES.items():
        text = text.replace("${" + name + "}", value)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name}: not valid JSON: {e}") from None


# ---- Comparing and evaluating -------------------------------------------------------------


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def normalized(policy: dict) -> list:
    """Statements with Action and Resource as sorted lists, so order and a one-element list
    against a plain string do not count as a difference."""
    out = []
    for s in policy["Statement"]:
        s = copy.deepcopy(s)
        for key in ("Action", "Resource"):
            s[key] = sorted(as_list(s[key]))
        out.append(s)
    return sorted(out, key=lambda s: s.get("Sid", ""))


def granted(policies: list[dict], action: str, resource: str, context: dict | None) -> bool:
    """IAM's rule within one identity: allowed when some statement allows and none denies."""
    allowed = False
    for policy in policies:
        result = IAMPolicy(json.dumps(policy)).is_action_permitted(
            action, resource, incoming_condition_values=context
        )
        if result == PermissionResult.DENIED:
            return False
        allowed |= result == PermissionResult.PERMITTED
    return allowed


def iam_user(path_and_name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user{path_and_name}"


def secret(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    # Secrets Manager appends a hyphen and six random characters to every secret's ARN.
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"


VIA_SECRETS_MANAGER = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}

IAM_ACTIONS = [
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:GetAccessKeyLastUsed",
]
SECRET_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:DescribeSecret",
    # A secret's value after its readers' policy, and each rotation's new version (§10).
    "secretsmanager:PutSecretValue",
    "secretsmanager:TagResource",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:DeleteSecret",
]
TABLE_ACTIONS = [
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
]
QUEUE_ACTIONS = [
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
]
ISSUED = secret("keygate/ci-deployer/access-key-20260101000000")

# (action, resource, condition context, why): keygate does these; each must be allowed.
ALLOWED = (
    [(a, iam_user("/keygate/ci-deployer"), None, "a user under the path") for a in IAM_ACTIONS]
    + [(a, iam_user("/keygate/team/nested"), None, "a user deeper under the path") for a in IAM_ACTIONS]
    + [(a, ISSUED, None, "a secret under the prefix") for a in SECRET_ACTIONS]
    + [
        ("kms:GenerateDataKey", KMS_KEY, VIA_SECRETS_MANAGER, "the key, through Secrets Manager"),
        ("kms:Decrypt", KMS_KEY, VIA_SECRETS_MANAGER, "the key, through Secrets Manager"),
        ("sns:Publish", TOPIC, None, "the stack's topic"),
        ("sns:GetTopicAttributes", TOPIC, None, "keygate doctor checks the topic"),
        ("sqs:GetQueueAttributes", DEAD_QUEUE, None, "the dead-letter queue's depth"),
        ("sqs:SendMessage", DEAD_QUEUE, None, "work that failed for good, with its reason"),
        ("logs:CreateLogStream", f"{LOG_GROUP}:log-stream:2026/01/01/[$LATEST]abc", None, "own log group"),
        ("logs:PutLogEvents", f"{LOG_GROUP}:log-stream:2026/01/01/[$LATEST]abc", None, "own log group"),
        ("secretsmanager:GetSecretValue", APP_KEY_SECRET, None, "the App's private key"),
        ("secretsmanager:GetSecretValue", WEBHOOK_SECRET, None, "the webhook secret"),
    ]
    + [(a, TABLE, None, "the ledger table") for a in TABLE_ACTIONS]
    + [("dynamodb:Query", f"{TABLE}/index/by_state", None, "the ledger's index by state")]
    + [("dynamodb:Query", f"{TABLE}/index/by_pr", None, "the ledger's index by pull request")]
    + [(a, QUEUE, None, "the work queue") for a in QUEUE_ACTIONS]
    + [
        ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE_NAME}", None, "a member's issuer role"),
        ("sts:AssumeRole", f"arn:aws:iam::{OTHER_MEMBER}:role/{MEMBER_ROLE_NAME}", None, "another member's"),
    ]
)

OTHER_TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payroll"
OTHER_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:payroll.fifo"

# Out of scope: each must be denied.
DENIED = (
    [(a, iam_user("/ci-deployer"), None, "a user outside the path") for a in IAM_ACTIONS]
    + [(a, iam_user("/keygateway/ci"), None, "a path that only starts like it") for a in IAM_ACTIONS]
    + [(a, iam_user("/admins/keygate/ci"), None, "the path further down another path") for a in IAM_ACTIONS]
    + [(a, iam_user("/keygate/ci", OTHER_ACCOUNT), None, "another account") for a in IAM_ACTIONS]
    + [
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:role/keygate/deployer", None, "a role"),
        ("iam:CreateUser", iam_user("/keygate/new"), None, "creating users is not keygate's job"),
        ("iam:PutUserPolicy", iam_user("/keygate/ci"), None, "granting permissions is not"),
        ("iam:AttachUserPolicy", iam_user("/keygate/ci"), None, "granting permissions is not"),
        ("iam:CreateLoginProfile", iam_user("/keygate/ci"), None, "console passwords are not"),
    ]
    + [(a, secret("payroll/db-password"), None, "a secret outside the prefix") for a in SECRET_ACTIONS]
    + [(a, secret("keygatex/ci"), None, "a name that only starts like the prefix") for a in SECRET_ACTIONS]
    + [(a, secret("keygate/ci", region="eu-west-1"), None, "another region") for a in SECRET_ACTIONS]
    + [(a, secret("keygate/ci", account=OTHER_ACCOUNT), None, "another account") for a in SECRET_ACTIONS]
    + [
        ("secretsmanager:GetSecretValue", ISSUED, None, "keygate never reads a key it issued"),
        ("secretsmanager:UpdateSecret", ISSUED, None, "nor changes one"),
        ("secretsmanager:DeleteResourcePolicy", ISSUED, None, "nor opens one up"),
        ("secretsmanager:GetSecretValue", secret("payroll/db-password"), None, "another secret"),
        ("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/other", VIA_SECRETS_MANAGER, "another key"),
        ("kms:Decrypt", KMS_KEY, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}, "the key, used directly"),
        ("kms:CreateGrant", KMS_KEY, VIA_SECRETS_MANAGER, "grants on the key"),
        ("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:payroll", None, "another topic"),
        ("sns:GetTopicAttributes", f"arn:aws:sns:{REGION}:{ACCOUNT}:payroll", None, "another topic"),
        ("sns:Subscribe", TOPIC, None, "subscribing someone to the topic"),
        ("sns:SetTopicAttributes", TOPIC, None, "changing the topic"),
        ("dynamodb:GetItem", OTHER_TABLE, None, "another table"),
        ("dynamodb:Scan", TABLE, None, "a scan of the ledger"),
        ("dynamodb:DeleteTable", TABLE, None, "deleting the ledger"),
        ("dynamodb:Query", f"{TABLE}/index/other", None, "another index"),
        ("sqs:ReceiveMessage", DEAD_QUEUE, None, "reading the dead-letter queue"),
        ("sqs:SendMessage", OTHER_QUEUE, None, "another queue"),
        ("sqs:PurgeQueue", QUEUE, None, "purging the work queue"),
        ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other:log-stream:x", None, "another log group"),
        ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole", None, "another role in a member"),
        ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE_NAME}-admin", None, "a name that only starts like it"),
        ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/ops/{MEMBER_ROLE_NAME}", None, "the name under another path"),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/admin", None, "a role in keygate's own account"),
    ]
)

# Without member accounts the role may assume no role at all.
DENIED_WITHOUT_ACCOUNTS = [
    ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE_NAME}", None, "no accounts configured"),
]

# Without a KMS key the role holds no KMS permission at all.
DENIED_WITHOUT_KMS = [
    ("kms:GenerateDataKey", KMS_KEY, VIA_SECRETS_MANAGER, "no key configured"),
    ("kms:Decrypt", KMS_KEY, VIA_SECRETS_MANAGER, "no key configured"),
]


# The auditor (deploy/auditor-policy.json): what `keygate audit` reads, and nothing else.
AUDITOR_ALLOWED = [
    ("iam:ListAccessKeys", iam_user("/keygate/ci-deployer"), None, "a key's state"),
    ("iam:GetAccessKeyLastUsed", iam_user("/keygate/ci-deployer"), None, "a key's last use"),
    ("secretsmanager:ListSecrets", "*", None, "keygate's secrets by tag (no resource type)"),
]
AUDITOR_DENIED = [
    ("secretsmanager:GetSecretValue", ISSUED, None, "an auditor never reads a key"),
    ("secretsmanager:GetSecretValue", APP_KEY_SECRET, None, "nor the App's private key"),
    ("secretsmanager:DescribeSecret", ISSUED, None, "the audit reads tags from ListSecrets"),
    ("secretsmanager:DeleteSecret", ISSUED, None, "changing anything"),
    ("secretsmanager:TagResource", ISSUED, None, "changing a tag (the expiry)"),
    ("iam:ListAccessKeys", iam_user("/admins/root-ish"), None, "a user outside the path"),
    ("iam:GetAccessKeyLastUsed", iam_user("/ci-deployer"), None, "a user outside the path"),
    ("iam:UpdateAccessKey", iam_user("/keygate/ci-deployer"), None, "deactivating a key"),
    ("iam:CreateAccessKey", iam_user("/keygate/ci-deployer"), None, "making a key"),
    ("dynamodb:PutItem", TABLE, None, "writing the ledger"),
    ("sns:Publish", TOPIC, None, "sending notices"),
]


def check_auditor(failures: list[str]) -> int:
    """The auditor's policy: read-only, scoped like the role's, every grant used."""
    doc = policy_file(AUDITOR_FILE)
    for s in doc["Statement"]:
        if s["Effect"] != "Allow":
            failures.append(f"auditor/{s.get('Sid')}: unexpected {s['Effect']}")
        for a in as_list(s["Action"]):
            if a == "*" or a.endswith(":*"):
                failures.append(f"auditor/{s.get('Sid')}: wildcard action {a}")
            if "*" in as_list(s["Resource"]) and a != "secretsmanager:ListSecrets":
                failures.append(f"auditor/{s.get('Sid')}: {a} on Resource \"*\"")
            if a not in {x for x, *_ in AUDITOR_ALLOWED}:
                failures.append(f"auditor/{s.get('Sid')}: {a} is granted but no case uses it")
    for action, resource, ctx, why in AUDITOR_ALLOWED:
        if not granted([doc], action, resource, ctx):
            failures.append(f"auditor: denied but keygate audit needs it ({why}): {action} on {resource}")
    for action, resource, ctx, why in AUDITOR_DENIED:
        if granted([doc], action, resource, ctx):
            failures.append(f"auditor: allowed but not an auditor's ({why}): {action} on {resource}")
    return len(AUDITOR_ALLOWED) + len(AUDITOR_DENIED)


def main() -> int:
    failures: list[str] = []
    auditor_cases = check_auditor(failures)
    policies = role_policies(PARAMETERS)
    if set(policies) != {"keygate", "lambda-runtime"}:
        failures.append(f"the role's policies are {sorted(policies)}, not keygate and lambda-runtime")
        return report(failures)

    # 1. The file for the other modes grants exactly what the template's keygate policy does.
    in_file = {s.get("Sid"): s for s in normalized(policy_file())}
    in_template = {s.get("Sid"): s for s in normalized(policies["keygate"])}
    for sid in sorted(in_file.keys() | in_template.keys(), key=str):
        if in_file.get(sid) != in_template.get(sid):
            failures.append(
                f"statement {sid} differs between deploy/iam-policy.json and the keygate "
                f"policy of deploy/keygate.yaml:\n  file:     {json.dumps(in_file.get(sid))}\n"
                f"  template: {json.dumps(in_template.get(sid))}"
            )

    # No statement grants a whole service or everything.
    for name, doc in policies.items():
        for s in doc["Statement"]:
            for a in as_list(s["Action"]):
                if a == "*" or a.endswith(":*"):
                    failures.append(f"{name}/{s.get('Sid')}: wildcard action {a}")
            if s["Effect"] != "Allow":
                failures.append(f"{name}/{s.get('Sid')}: unexpected {s['Effect']}")
            if "*" in as_list(s["Resource"]):
                failures.append(f"{name}/{s.get('Sid')}: Resource \"*\"")

    # 2. Allowed inside, denied outside, with moto's evaluator.
    docs = list(policies.values())
    for action, resource, ctx, why in ALLOWED:
        if not granted(docs, action, resource, ctx):
            failures.append(f"denied but keygate needs it ({why}): {action} on {resource}")
    for action, resource, ctx, why in DENIED:
        if granted(docs, action, resource, ctx):
            failures.append(f"allowed but out of scope ({why}): {action} on {resource}")

    no_accounts = role_policies({**PARAMETERS, "Accounts": ""})
    if any(s.get("Sid") == "AssumeIssuerRoles" for s in no_accounts["keygate"]["Statement"]):
        failures.append("without Accounts the role may still assume issuer roles")
    for action, resource, ctx, why in DENIED_WITHOUT_ACCOUNTS:
        if granted(list(no_accounts.values()), action, resource, ctx):
            failures.append(f"allowed without accounts ({why}): {action} on {resource}")

    no_kms = role_policies({**PARAMETERS, "KmsKeyArn": ""})
    if any(s.get("Sid") == "KmsKeyThroughSecretsManager" for s in no_kms["keygate"]["Statement"]):
        failures.append("without KmsKeyArn the role still has a KMS statement")
    for action, resource, ctx, why in DENIED_WITHOUT_KMS:
        if granted(list(no_kms.values()), action, resource, ctx):
            failures.append(f"allowed without a KMS key ({why}): {action} on {resource}")

    # 3. Every granted action is exercised by an allowed case.
    exercised = {a for a, *_ in ALLOWED}
    for name, doc in policies.items():
        for s in doc["Statement"]:
            for a in as_list(s["Action"]):
                if a not in exercised:
                    failures.append(f"{name}/{s.get('Sid')}: {a} is granted but no case uses it")

    # 4. The issuer role of a member account.
    member_checked = check_member(failures, policies["keygate"])

    if not failures:
        denied = len(DENIED) + len(DENIED_WITHOUT_KMS) + len(DENIED_WITHOUT_ACCOUNTS)
        print(
            f"policy_eval: {len(ALLOWED)} uses allowed, {denied} out-of-scope uses denied; "
            "deploy/iam-policy.json grants exactly the template's keygate policy; "
            f"the auditor's policy holds in {auditor_cases} cases; "
            f"member issuer role: {member_checked}"
        )
    return report(failures)


# ---- The issuer role of a member account (deploy/keygate-member.yaml) --------------------

MEMBER_PARAMETERS = {
    "KeygateRoleArn": KEYGATE_ROLE,
    "ExternalId": EXTERNAL_ID,
    "RoleName": MEMBER_ROLE_NAME,
    "IamUserPath": "/keygate/",
    "SecretPrefix": "keygate/",
    "KmsKeyArn": MEMBER_KMS_KEY,
}
MEMBER_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": MEMBER,
    "AWS::Region": MEMBER_REGION,
    "AWS::StackName": "StackSet-keygate-member-0123",
}
MEMBER_VIA_SECRETS_MANAGER = {"kms:ViaService": f"secretsmanager.{MEMBER_REGION}.amazonaws.com"}
MEMBER_ISSUED = secret("keygate/ci-deployer/access-key-20260101000000", MEMBER_REGION, MEMBER)

MEMBER_ALLOWED = (
    [(a, iam_user("/keygate/ci-deployer", MEMBER), None, "a user under the path") for a in IAM_ACTIONS]
    + [(a, MEMBER_ISSUED, None, "a secret under the prefix") for a in SECRET_ACTIONS]
    + [
        ("kms:GenerateDataKey", MEMBER_KMS_KEY, MEMBER_VIA_SECRETS_MANAGER, "the key, through Secrets Manager"),
        ("kms:Decrypt", MEMBER_KMS_KEY, MEMBER_VIA_SECRETS_MANAGER, "the key, through Secrets Manager"),
    ]
)
MEMBER_DENIED = (
    [(a, iam_user("/ci-deployer", MEMBER), None, "a user outside the path") for a in IAM_ACTIONS]
    + [(a, iam_user("/keygate/ci", ACCOUNT), None, "keygate's own account") for a in IAM_ACTIONS]
    + [(a, iam_user("/keygate/ci", OTHER_MEMBER), None, "another member") for a in IAM_ACTIONS]
    + [(a, secret("payroll/db", MEMBER_REGION, MEMBER), None, "a secret outside the prefix") for a in SECRET_ACTIONS]
    + [(a, secret("keygate/ci", REGION, MEMBER), None, "another region") for a in SECRET_ACTIONS]
    + [(a, secret("keygate/ci", MEMBER_REGION, OTHER_MEMBER), None, "another member") for a in SECRET_ACTIONS]
    + [
        ("iam:CreateUser", iam_user("/keygate/new", MEMBER), None, "creating users"),
        ("iam:PutUserPolicy", iam_user("/keygate/ci", MEMBER), None, "granting permissions"),
        ("iam:CreateAccessKey", f"arn:aws:iam::{MEMBER}:role/keygate/deployer", None, "a role"),
        ("secretsmanager:GetSecretValue", MEMBER_ISSUED, None, "reading a key it issued"),
        ("sts:AssumeRole", f"arn:aws:iam::{OTHER_MEMBER}:role/{MEMBER_ROLE_NAME}", None, "hopping on"),
        ("sns:Publish", TOPIC, None, "notices are the home role's"),
        ("dynamodb:GetItem", TABLE, None, "the ledger is the home role's"),
        ("kms:Decrypt", MEMBER_KMS_KEY, {"kms:ViaService": f"s3.{MEMBER_REGION}.amazonaws.com"}, "the key, used directly"),
    ]
)


def member_role(parameters: dict) -> dict:
    template = yaml.load(MEMBER_TEMPLATE.read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    if set(resources) != {"IssuerRole"}:
        raise ValueError(f"{MEMBER_TEMPLATE.name} makes {sorted(resources)}, not only IssuerRole")
    return Resolver(template, parameters, MEMBER_PSEUDO).resolve(resources["IssuerRole"]["Properties"])


def check_member(failures: list[str], home_keygate: dict) -> str:
    role = member_role(MEMBER_PARAMETERS)
    if role.get("RoleName") != MEMBER_ROLE_NAME:
        failures.append(f"member: the role is named {role.get('RoleName')!r}, not RoleName")
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    expected_trust = [{
        "Sid": "KeygateWithItsExternalId",
        "Effect": "Allow",
        "Principal": {"AWS": KEYGATE_ROLE},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
    }]
    if trust != expected_trust:
        failures.append(
            f"member: the role must trust keygate's role alone, with the external ID: {json.dumps(trust)}"
        )
    policies = {p["PolicyName"]: p["PolicyDocument"] for p in role["Policies"]}
    if set(policies) != {"keygate-issuer"}:
        failures.append(f"member: the role's policies are {sorted(policies)}, not keygate-issuer")
        return "not checked"
    statements = {s.get("Sid"): s for s in policies["keygate-issuer"]["Statement"]}
    home = {s.get("Sid"): s for s in home_keygate["Statement"]}
    for sid, s in statements.items():
        if s["Effect"] != "Allow":
            failures.append(f"member/{sid}: unexpected {s['Effect']}")
        if "*" in as_list(s["Resource"]) or any(a == "*" or a.endswith(":*") for a in as_list(s["Action"])):
            failures.append(f"member/{sid}: a wildcard action or Resource \"*\"")
        if sid not in home or sorted(as_list(home[sid]["Action"])) != sorted(as_list(s["Action"])):
            failures.append(f"member/{sid}: its actions differ from the home role's statement {sid}")
    docs = list(policies.values())
    for action, resource, ctx, why in MEMBER_ALLOWED:
        if not granted(docs, action, resource, ctx):
            failures.append(f"member: denied but keygate needs it ({why}): {action} on {resource}")
    for action, resource, ctx, why in MEMBER_DENIED:
        if granted(docs, action, resource, ctx):
            failures.append(f"member: allowed but out of scope ({why}): {action} on {resource}")
    no_kms = member_role({**MEMBER_PARAMETERS, "KmsKeyArn": ""})
    if any(s.get("Sid") == "KmsKeyThroughSecretsManager"
           for p in no_kms["Policies"] for s in p["PolicyDocument"]["Statement"]):
        failures.append("member: without KmsKeyArn the role still has a KMS statement")
    exercised = {a for a, *_ in MEMBER_ALLOWED}
    for sid, s in statements.items():
        for a in as_list(s["Action"]):
            if a not in exercised:
                failures.append(f"member/{sid}: {a} is granted but no case uses it")
    return f"{len(MEMBER_ALLOWED)} uses allowed, {len(MEMBER_DENIED)} denied, trusts keygate's role alone"


def report(failures: list[str]) -> int:
    for f in failures:
        print(f"policy_eval: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as e:
        sys.exit(report([str(e)]))
