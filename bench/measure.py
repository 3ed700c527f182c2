"""``python -m bench.measure CMD ...``: run CMD and report what its process tree cost, as one JSON line.

A process of its own per step, so RUSAGE_CHILDREN covers exactly that step's tree: CPU seconds summed over
every descendant that was waited for, and ru_maxrss the largest resident set any one of them reached.
CMD's stdout is passed on inside the JSON (``stdout``); its stderr goes to ours.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "rc": done.returncode, "wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss, "stdout": done.stdout,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
