"""Finishing touches on the generated OpenAPI schema: the error answers every operation can give, strict
request bodies (unknown fields are refused) and the X-Total-Count header of paged lists."""

ERROR_STATUSES = {
    "400": "Bad input: `{\"detail\": …}` or `{\"field\": [messages]}`.",
    "401": "No or an invalid credential.",
    "403": "Not allowed (e.g. not a consumer, or CSRF missing on a session write).",
    "404": "Not found — also someone else's object.",
    "409": "The state does not allow it (e.g. not enough allowance, request not pending).",
    "413": "The body is too large.",
    "415": "Only application/json bodies are accepted.",
    "422": "This Idempotency-Key was used with another request.",
    "429": "Too many requests; see Retry-After.",
}
PAGED = {"wallets_list", "wallets_entries", "withdrawals_list", "merchant_withdrawals_list", "merchant_campaigns_list"}


def postprocess_schema(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = {
        "type": "object",
        "description": "`detail` (and `code` for domain errors), or field names with lists of messages.",
        "additionalProperties": True,
        "example": {"detail": "Not enough allowance: 8.00 available.", "code": "insufficient_allowance"},
    }
    for name, schema in components.items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, description in ERROR_STATUSES.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
            if "429" in responses:
                responses["429"].setdefault("headers", {})["Retry-After"] = {
                    "description": "Seconds to wait.", "schema": {"type": "integer"},
                }
            if operation.get("operationId") in PAGED:
                ok = responses.get("200", {})
                ok.setdefault("headers", {})["X-Total-Count"] = {
                    "description": "How many there are in all (the body is one page).",
                    "schema": {"type": "integer"}, "required": True,
                }
    return result
