"""Notifications: Provider and Alert custom resources (Flux's shape), matched against
the Events the operator posts, delivered off the reconcile path to webhooks (generic,
generic-hmac, Slack, Microsoft Teams) and Git hosts' commit statuses."""

from .model import ALERT_KIND, ALERT_PLURAL, PROVIDER_KIND, PROVIDER_PLURAL
from .notifier import Notifier

__all__ = ["ALERT_KIND", "ALERT_PLURAL", "PROVIDER_KIND", "PROVIDER_PLURAL", "Notifier"]
