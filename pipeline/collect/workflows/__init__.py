"""Workflows: validated graphs of operator nodes that collectors run before and after capture."""
