"""Test support shared by the Kaden packages (pytest plugins and helpers)."""
