"""Reconciles as ordered steps over one explicit run object; no kopf in here."""

from .outcome import Outcome

__all__ = ["Outcome"]
