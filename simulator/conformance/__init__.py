"""Conformance kit: check a user-detail API, grade a token-exchange client from a journal."""
