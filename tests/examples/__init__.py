"""Executable how-tos: short tests an integrator can copy (see docs/conformance.md)."""
