"""Pure functions that turn fetched bytes into policy fields: no I/O, no Scrapy."""
