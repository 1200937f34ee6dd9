"""Concilia's services. Each sub-package is one service; none imports another."""
