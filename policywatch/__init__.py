"""PolicyWatch. This folder is the application on top (the CLI, the demo, `sources check`); the layers it drives
are installed as its subpackages from their own folders: core (the kernel), crawler, detection, digest, deliver,
archive, web, scheduler, and templates (see README.md, Layout)."""
