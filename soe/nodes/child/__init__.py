"""The child node: starts sub-workflows as executions of their own, optionally fanned out."""
