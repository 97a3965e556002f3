"""Executable how-tos: short tests an integrator can copy (see the README section "Conformance kit")."""
