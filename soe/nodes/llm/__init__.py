"""The LLM node: one structured LLM call whose output is stored in the context."""
