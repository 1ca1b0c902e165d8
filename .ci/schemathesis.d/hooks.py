"""Schemathesis hooks of tenantry's fuzzing run (.ci/schemathesis)."""

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
