"""pytest fixtures for integrators (entry point ``pytest11``); the engine never imports pytest."""
