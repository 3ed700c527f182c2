"""The test suite. Imported before its conftest, so what is set here holds for every process the tests start."""

import os

# Every process the tests start (well over a thousand: the CLI, crawls, workers) imports numpy, sqlite_utils does;
# OpenBLAS then starts a thread per CPU, and that costs more CPU than the import itself (0.1-0.3 s a process, a
# sixth of the suite's CPU). Nothing the tests run does linear algebra that a second thread would speed up.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
