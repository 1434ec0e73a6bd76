"""The context-schema and identity protocols, written once for every object store.

Each built-in backend keeps one mapping per execution id behind four
primitives (``_save``, ``_get``, ``_delete``, ``_entry``); these mixins turn
them into the protocol methods of SPEC §11.1, so the backends differ only in
how they store, never in what the methods mean. Mixins go first in the bases;
the store class provides the primitives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ContextSchemaMethods", "IdentityMethods"]


class _Primitives:
    """The four primitives; the store class the mixins are combined with defines them."""

    if TYPE_CHECKING:  # declared for the type checker only: at run time the store's own methods serve
        def _save(self, execution_id: str, value: dict[str, Any]) -> None: ...
        def _get(self, execution_id: str) -> dict[str, Any] | None: ...
        def _delete(self, execution_id: str) -> bool: ...
        def _entry(self, execution_id: str, name: str) -> Any: ...


class ContextSchemaMethods(_Primitives):
    """Context schemas (field name -> definition) per execution id."""

    def save_context_schema(self, execution_id: str, schema: dict[str, Any]) -> None:
        self._save(execution_id, schema)

    def get_context_schema(self, execution_id: str) -> dict[str, Any] | None:
        return self._get(execution_id)

    def delete_context_schema(self, execution_id: str) -> bool:
        return self._delete(execution_id)

    def get_field_schema(self, execution_id: str, field_name: str) -> Any:
        """The field's definition, or ``None`` when there is no schema or no such field."""
        return self._entry(execution_id, field_name)


class IdentityMethods(_Primitives):
    """Identities (name -> system prompt) per execution id."""

    def save_identities(self, execution_id: str, identities: dict[str, Any]) -> None:
        self._save(execution_id, identities)

    def get_identities(self, execution_id: str) -> dict[str, Any] | None:
        return self._get(execution_id)

    def get_identity(self, execution_id: str, name: str) -> str | None:
        prompt: str | None = self._entry(execution_id, name)
        return prompt

    def delete_identities(self, execution_id: str) -> bool:
        return self._delete(execution_id)
