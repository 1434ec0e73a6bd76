"""The engine core: orchestrate, the runner, and the engine's writes to backends."""
