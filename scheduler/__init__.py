"""Scheduling: APScheduler jobs that run crawls and digests unattended."""
