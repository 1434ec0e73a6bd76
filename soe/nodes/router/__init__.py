"""The router node: conditions only, no LLM, never writes the context."""
