"""Schemathesis hooks of tenantry's fuzzing run (.ci/schemathesis)."""

import os
import re

import schemathesis

# The refusals of a schema-valid request that depend on state, which no
# JSON Schema can describe; the OpenAPI document says each in words.
STATE_DEPENDENT = re.compile(
    "|".join(
        [
            r"no \w+ with this id exists",  # a referenced tenant, workspace or group
            r"no such \w+ exists",  # an authorization object that is not stored
            r"must be in the future",  # an expiry time, against the clock
            r"belongs to another tenant",  # a revision token of another tenant
            r"defines no (type|relation|permission)|has no relation",  # the deployment's authorization schema
            r"describes tenantry's own structure",  # a relation of the schema that tenantry writes
            r"no user with this username exists",  # a username, for platform admins
            r"^schema: ",  # the text of a new authorization schema
            r"a group cannot be a member of itself",  # the group in the path
            r"a group's admins are users",  # the member in the path is a group
            r"applies to members of the tenant only",  # a role expiry for a user who is invited instead
            r"pending invitations; this server allows",  # the tenant's pending invitations, counted
            r"the log's size|the latest checkpoint's size|no signed checkpoint yet",  # an audit log's length
            r"must be at least the event's seq|must be at most `to`",  # two sizes of one audit request, compared
            r"the service account was deleted|a service account belongs to its own tenant",  # the user's kind, stored
            r"the decision is `\w+`; ",  # the outcome of the decision an approval names
            r"no approver group: ",  # the tenant's routing rules and the decision's group
            r"private targets are not allowed on this server",  # the server's webhook target policy
        ]
    )
)


@schemathesis.check
def refusal_needs_state(ctx, response, case):
    """A schema-valid request refused with 422 must be refused for state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text
    if not STATE_DEPENDENT.search(message):
        raise AssertionError(f"a schema-valid request was refused for a rule the document could state: {message}")
    return None


# The fuzzer's own credential (an API key `tnty_<tenant>_<key>_<secret>`)
# and its tenant: requests that would revoke the key, delete the tenant or
# suspend it are pointed elsewhere before they are sent, or every later
# request would be refused with 401 or 403 and test nothing.
_, _tenant_ulid, _key_ulid, _ = os.environ["TENANTRY_FUZZ_KEY"].split("_", 3)
OWN_TENANT_ID = f"ten_{_tenant_ulid}"
OWN_API_KEY_ID = f"key_{_key_ulid}"
INACTIVE_STATUSES = {"suspended", "disabled", "archived"}


@schemathesis.hook
def before_call(context, case, kwargs):
    path_id = (case.path_parameters or {}).get("id")
    if case.path == "/v1/api-keys/{id}" and case.method.upper() == "DELETE" and path_id == OWN_API_KEY_ID:
        case.path_parameters["id"] = "key_00000000000000000000000000"
    if case.path == "/v1/tenants/{id}" and path_id == OWN_TENANT_ID:
        if case.method.upper() == "DELETE":
            case.path_parameters["id"] = "ten_00000000000000000000000000"
        elif isinstance(case.body, dict) and case.body.get("status") in INACTIVE_STATUSES:
            case.body = dict(case.body, status="active")


# In the stateful phase Schemathesis fills path parameters from links it
# infers, and some put one kind of id where another belongs (a tenant id in
# `/v1/workspaces/{id}`): requests the document itself calls invalid, so
# their refusal with 400 `invalid_id` says nothing about the document.
ULID = "[0-7][0-9A-HJKMNP-TV-Z]{25}"
ID_PATTERNS = {
    "tenants": re.compile(f"ten_{ULID}"),
    "workspaces": re.compile(f"ws_{ULID}"),
    "groups": re.compile(f"grp_{ULID}"),
    "api-keys": re.compile(f"key_{ULID}"),
    "invitations": re.compile(f"inv_{ULID}"),
}
MEMBER_ID_PATTERN = re.compile(f"(usr|grp)_{ULID}")


def violates_path_patterns(case):
    parameters = case.path_parameters or {}
    collection = case.path.split("/")[2] if case.path.startswith("/v1/") else ""
    id_pattern = ID_PATTERNS.get(collection)
    if "id" in parameters and id_pattern is not None and not id_pattern.fullmatch(str(parameters["id"])):
        return True
    return "member_id" in parameters and not MEMBER_ID_PATTERN.fullmatch(str(parameters["member_id"]))


@schemathesis.hook
def filter_failure(context, failure, case, response):
    refused_id = response is not None and response.status_code == 400 and "invalid_id" in response.text
    return not (refused_id and violates_path_patterns(case))
