"""PolicyWatch. This folder is the application on top (the CLI, the demo, `sources check`); the layers it drives
are installed as its subpackages from their own folders: core (the kernel), crawler, detection, digest, deliver,
archive, web, scheduler, and templates (see README.md, Layout)."""

import os

# numpy (the MinHash signatures; sqlite-utils imports it too) starts OpenBLAS with a thread per CPU as it loads,
# which costs every process more CPU than the import itself. PolicyWatch's arrays are a few thousand numbers, where
# BLAS threads never help: one is enough, unless the environment says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
