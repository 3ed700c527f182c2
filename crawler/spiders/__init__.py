"""Spiders: the generic config-driven one, and custom ones named after their source."""
