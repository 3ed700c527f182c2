"""The built-in Jinja2 templates (digests, feeds, the archive site, the subscription page), as package data: found
through the package (``importlib.resources``) wherever PolicyWatch is installed. See README.md here."""
