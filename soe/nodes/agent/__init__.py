"""The agent node: a tool-using LLM loop bounded by retries and max_iterations."""
