"""The API plumbing every app's API uses: base views and serializers, fields, parsers, errors, idempotency."""
