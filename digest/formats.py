"""The formats a digest is rendered in (policywatch.digest.render): a name of its own, so the CLI's options can offer
them without loading the renderer."""

FORMATS = ("html", "text", "md", "atom")
