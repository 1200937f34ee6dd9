"""Concilia: shared library, generated contracts and command-line tools."""
