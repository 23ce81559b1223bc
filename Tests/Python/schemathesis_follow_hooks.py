"""schemathesis hooks for ControlServerTests: a follow stream (GET /v1/logs/follow) ends only with the stack,
or after `limit` records or `timeout` seconds. So that every generated request to it ends, one the server
would accept gets a short `timeout`; a value the server must refuse (400) is left as generated.
"""

import schemathesis

SHORT = 0.3


def _accepted(value):
    """Whether the server takes `value` as a timeout (a number above 0, at most a day, written in decimal)."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return False
    text = str(value)
    if not text[:1].isdigit() or any(c not in "0123456789.eE+-" for c in text):
        return False
    try:
        return 0 < float(text) <= 86400
    except ValueError:
        return False


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.operation.path != "/v1/logs/follow":
        return
    query = dict(case.query or {})
    timeout = query.get("timeout")
    if timeout is None or isinstance(timeout, list) or _accepted(timeout):
        query["timeout"] = SHORT
    case.query = query
