"""The tool node: calls one registered or built-in tool with rendered parameters."""
