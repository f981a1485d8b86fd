"""Chaos under load: Chaos Toolkit experiments whose activities dispatch to the current target."""
