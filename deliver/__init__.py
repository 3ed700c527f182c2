"""Deliver: subscribers, unsubscribe tokens, digest mail over SMTP (exactly once), maintainer alerts."""
