"""Attachments read in worker processes under OS limits, so that no file can take the crawl down with it.

The checks in policywatch.crawler.extract.attachments stop the bombs that are known; underneath, pypdf, python-docx,
openpyxl, xlrd and olefile still parse hostile bytes in ways nobody has checked. So each file is read in a worker
process whose address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) the kernel caps, and which the caller kills after a
wall-clock timeout: a file past any of these is "too large to read: <which limit>", and the crawl goes on.

Workers are started on first use and then kept (a start, with the readers' imports, costs about half a second, which
is not counted in a file's wall-clock time); one stopped by a limit is replaced for the next file. One worker per
crawl process by default: a crawl process reads one file at a time anyway, and then the memory a crawl can spend on
attachments is bounded by one limit, not several. Requests and replies cross pipes as a length-prefixed JSON header
(never a pickle: the worker has parsed hostile bytes, and the crawl believes nothing it says but a kind, a text and
a reason), requests followed by the file's bytes. A programming error in the worker (policywatch.crawler.faults: a
reader library that cannot be imported, a bug in the readers) is no property of the file: the worker replies with it
as "fatal" and leaves, and ``read`` raises it as a ReportedProgrammingError, which stops the crawl like any other.

A worker dies with its crawl, even one killed with SIGKILL: it asks the kernel for SIGKILL when its parent dies
(Linux's PR_SET_PDEATHSIG), and leaves when its request pipe closes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from queue import SimpleQueue
from typing import Any

from policywatch.core.normalize import clean_text
from policywatch.crawler.extract.attachments import (
    ATTACHMENT_KINDS,
    DEFAULT_LIMITS,
    TOO_LARGE,
    AttachmentText,
    Limits,
    attachment_text,
    guess_kind,
    needs_reader,
)
from policywatch.crawler.faults import ReportedProgrammingError, is_programming_error, summarize_programming_error

_LENGTH = struct.Struct("<Q")  # every message starts with its length
_MAX_HEADER = 1 << 16  # a request's header: a file name and a content type
_READY = b"ready\n"  # what a worker says once it can read, before its first file's time starts
START_SECONDS = 60.0  # how long a worker may take to become ready (its imports) before it counts as not started
_PR_SET_PDEATHSIG = 1
_KEEP_RESIDENT = 150 << 20  # a worker still holding more than this after a file is replaced, to give it back
# A worker whose address space came this close to its limit is replaced (VmPeak never comes down again), and a file
# that failed in it is reported as over the memory limit.
_NEAR_LIMIT = 0.8


class AttachmentReader:
    """A pool of warm worker processes that read attachments under ``limits``; thread-safe.

    ``read`` blocks until a worker is free and has answered; ``read_async`` waits on the asyncio loop instead,
    so a crawl goes on fetching pages while a file is read.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, workers: int = 1) -> None:
        self.limits = limits
        self._idle: SimpleQueue[_Worker | None] = SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)  # started on first use
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attachment-reader")
        self._started: list[_Worker] = []
        self._lock = threading.Lock()

    def read(self, data: bytes, filename: str = "", content_type: str | None = None) -> AttachmentText:
        """The file's kind, hash, size and text, or the reason it has none; never raises on bad bytes, but raises
        ReportedProgrammingError for a programming error in the worker (and a programming error of its own)."""
        if not needs_reader(data):  # no library opens these bytes: judged at a glance, here
            return attachment_text(data, filename, content_type, limits=self.limits)
        worker = self._idle.get()
        try:
            worker, reply = self._ask(worker, data, filename, content_type)
        finally:
            self._idle.put(worker)
        digest = hashlib.sha256(data).hexdigest()
        if isinstance(reply, dict) and "fatal" in reply:
            raise ReportedProgrammingError(reply["fatal"], reply["where"])
        if isinstance(reply, dict):
            return AttachmentText(reply["kind"], digest, len(data), reply["text"], reply["error"])
        kind = guess_kind(data, filename, content_type)
        error = reply if reply.startswith(TOO_LARGE) else f"corrupt {kind.upper()}: {reply}"
        return AttachmentText(kind, digest, len(data), None, error)

    async def read_async(self, data: bytes, filename: str = "", content_type: str | None = None) -> AttachmentText:
        """``read`` on one of the pool's threads, awaited on the running asyncio loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.read, data, filename, content_type)

    def close(self) -> None:
        """Let every worker go (each leaves when its request pipe closes), killing any that lingers."""
        with self._lock:
            started, self._started = self._started, []
        for worker in started:
            worker.stop()
        self._threads.shutdown(wait=False)

    def _ask(
        self, worker: _Worker | None, data: bytes, filename: str, content_type: str | None
    ) -> tuple[_Worker | None, dict[str, Any] | str]:
        """Send the file to a live worker and wait for its answer: the reply, or why there is none."""
        header = json.dumps({"name": filename, "type": content_type, "size": len(data)}).encode()
        for attempt in range(2):
            if worker is None or worker.process.poll() is not None:
                try:
                    worker = self._start()
                except (TimeoutError, EOFError, ValueError):
                    return None, "the reader process could not be started"
            # The file's time starts now: a worker's start (its imports, slow on a busy machine) is not the file's.
            deadline = time.monotonic() + self.limits.wall_seconds
            try:
                worker.send(header, data, deadline)
                reply = worker.receive(deadline, self._reply_cap())
            except TimeoutError:
                worker.kill()
                return None, TOO_LARGE + f"time limit ({self.limits.wall_seconds:g} s)"
            except (BrokenPipeError, ConnectionResetError):  # died before taking the file: killed from outside
                worker.kill()
                if attempt == 0:
                    worker = None
                    continue
                return None, "the reader process could not be started"
            except EOFError:  # died while reading it
                return None, self._death(worker)
            except ValueError as e:  # an answer that is not one: the worker cannot be trusted any more
                worker.kill()
                return None, f"the reader's answer was malformed ({e})"
            if "fatal" in reply or reply.pop("retire", False):  # after a programming error the worker has left
                worker.stop()
                worker = None
            return worker, reply
        raise AssertionError("unreachable")

    def _start(self) -> _Worker:
        """A new worker, once it is ready to read (its libraries imported, its limits set)."""
        worker = _Worker(self.limits)
        with self._lock:
            self._started = [w for w in self._started if w.process.poll() is None] + [worker]
        try:
            worker.wait_ready(time.monotonic() + START_SECONDS)
        except BaseException:
            worker.kill()
            raise
        return worker

    def _death(self, worker: _Worker) -> str:
        """Why a worker ended mid-file: the CPU limit's SIGXCPU, or something else that stopped it."""
        code = worker.kill()
        if code == -signal.SIGXCPU:
            return TOO_LARGE + f"CPU time limit ({self.limits.cpu_seconds:g} s)"
        if code is not None and code < 0:
            return f"the reader process was stopped by {signal.Signals(-code).name}"
        return f"the reader process exited ({code})"

    def _reply_cap(self) -> int:
        """The longest reply a worker can honestly send: the text at 12 bytes a character (JSON escapes a
        character outside the BMP as two \\u escapes), and a little more."""
        return 12 * self.limits.max_chars + (1 << 16)


class _Worker:
    """One worker process and the parent's ends of its pipes (non-blocking, so every wait has a deadline)."""

    def __init__(self, limits: Limits) -> None:
        # stderr is dropped: the crawl process reports its last stderr line as its failure.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "policywatch.crawler.extract.sandbox", str(os.getpid()), json.dumps(asdict(limits))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        self._requests, self._replies = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self._requests, False)
        os.set_blocking(self._replies, False)

    def send(self, header: bytes, data: bytes, deadline: float) -> None:
        for part in (_LENGTH.pack(len(header)) + header, data):
            view = memoryview(part)
            while view:
                _wait(self._requests, deadline, write=True)
                try:
                    view = view[os.write(self._requests, view) :]
                except BlockingIOError:
                    continue

    def wait_ready(self, deadline: float) -> None:
        """Wait for the worker to say it is ready (TimeoutError at the deadline, EOFError if it died first)."""
        if self._read(len(_READY), deadline) != _READY:
            raise ValueError("not a reader's greeting")

    def receive(self, deadline: float, cap: int) -> dict[str, Any]:
        (length,) = _LENGTH.unpack(self._read(_LENGTH.size, deadline))
        if length > cap:
            raise ValueError(f"{length:,} bytes")
        reply = json.loads(self._read(length, deadline))
        if isinstance(reply, dict) and isinstance(reply.get("fatal"), str):
            if not isinstance(reply.get("where"), str | None):
                raise ValueError("unexpected fields")
            return {"fatal": _one_line(reply["fatal"]) or "an error", "where": _one_line(reply["where"] or "") or None}
        if not (isinstance(reply, dict) and reply.get("kind") in ATTACHMENT_KINDS
                and all(isinstance(reply.get(k), str | None) for k in ("text", "error"))):
            raise ValueError("unexpected fields")
        return reply

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        while left:
            _wait(self._replies, deadline, write=False)
            try:
                chunk = os.read(self._replies, min(left, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> None:
        """Close its request pipe, so it leaves; kill it if it has not within a second."""
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> int | None:
        """Kill it (if still running), reap it and close the pipes; its exit code (negative: the signal)."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return code


def _one_line(text: str) -> str:
    """A worker's description of an error as one short line a terminal shows as text (it has parsed hostile bytes)."""
    return " ".join(clean_text(text).split())[:300]


def _wait(fd: int, deadline: float, write: bool) -> None:
    """Block until the pipe can be read or written, or raise TimeoutError at the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    ready = select.select([], [fd], [], left) if write else select.select([fd], [], [], left)
    if not any(ready):
        raise TimeoutError


_shared: dict[Limits, AttachmentReader] = {}
_shared_lock = threading.Lock()


def shared_reader(limits: Limits) -> AttachmentReader:
    """The process's one pool for these limits, closed when the process exits."""
    with _shared_lock:
        if limits not in _shared:
            _shared[limits] = AttachmentReader(limits)
            atexit.register(_shared[limits].close)
        return _shared[limits]


# -- the worker ---------------------------------------------------------------------------------------------------


def _serve(parent: int, limits: Limits) -> None:
    """Read files from stdin and answer on stdout until stdin closes or this process should be renewed."""
    _die_with(parent)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDWR), 0)  # a library printing or prompting cannot disturb the protocol
    os.dup2(os.open(os.devnull, os.O_RDWR), 1)
    broken = _warm()
    resource = _limit_memory(limits)
    replies.write(_READY)
    replies.flush()
    while True:
        request = _request(requests)
        if request is None:
            return
        if broken is not None:  # no file can be read: the first one hears why, and the worker leaves
            _reply(replies, broken)
            return
        header, data = request
        _limit_cpu(resource, limits.cpu_seconds)
        try:
            read = attachment_text(data, header["name"], header["type"], limits=limits)
        except Exception as e:  # attachment_text raises nothing else: a malformed file is a reason, not a raise
            if not is_programming_error(e):
                raise
            _reply(replies, _fatal(e))
            return
        del data
        near_limit = _peak_address_space() > _NEAR_LIMIT * (limits.memory_mb << 20)
        if near_limit and read.error and not read.error.startswith(TOO_LARGE):
            # Libraries in C report a failed allocation their own way (lxml: "unknown error"): a file that failed
            # with the address space nearly full failed for want of memory.
            read = replace(read, error=TOO_LARGE + f"memory ({limits.memory_mb} MB)")
        retire = near_limit or _trimmed_resident() > _KEEP_RESIDENT
        _reply(replies, {"kind": read.kind, "text": read.text, "error": read.error, "retire": retire})
        if retire:  # a heap that has hit the limit, or will not shrink, is not worth keeping
            return


def _reply(replies: Any, reply: dict[str, Any]) -> None:
    """Send one reply: its length, then its JSON."""
    encoded = json.dumps(reply).encode()
    replies.write(_LENGTH.pack(len(encoded)) + encoded)
    replies.flush()


def _fatal(error: BaseException) -> dict[str, Any]:
    """The reply for a programming error: what it was and where, for the parent to raise again."""
    what, where = summarize_programming_error(error)
    return {"fatal": what, "where": where}


def _request(requests: Any) -> tuple[dict[str, Any], bytes] | None:
    """The next request's header and file bytes; None when the parent has gone."""
    prefix = requests.read(_LENGTH.size)
    if len(prefix) < _LENGTH.size or (length := _LENGTH.unpack(prefix)[0]) > _MAX_HEADER:
        return None
    header = json.loads(requests.read(length))
    data = requests.read(header["size"])
    return (header, data) if len(data) == header["size"] else None


def _die_with(parent: int) -> None:
    """Ask for SIGKILL when the parent dies, and leave now if it already has."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: a parent's death still closes the request pipe
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _warm() -> dict[str, Any] | None:
    """Import every reader's library before the first file: no file pays for it, and the memory limit then
    counts what reading costs on top of them. A library that cannot be imported is the fatal reply to send."""
    try:
        import docx  # noqa: F401
        import openpyxl  # noqa: F401
        import pypdf  # noqa: F401
        import xlrd  # noqa: F401
    except Exception as e:
        if not is_programming_error(e):
            raise
        return _fatal(e)
    return None


def _limit_memory(limits: Limits) -> Any:
    """Cap the address space (a MemoryError past it, which attachment_text reports) and forbid core dumps."""
    import resource

    cap = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return resource


def _limit_cpu(resource: Any, seconds: float) -> None:
    """RLIMIT_CPU counts the process's whole life: allow ``seconds`` more than used so far (SIGXCPU past it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _peak_address_space() -> int:
    """The most address space this process has held (VmPeak); 0 where /proc cannot say."""
    try:
        with open("/proc/self/status") as status:
            line = next((line for line in status if line.startswith("VmPeak:")), "VmPeak: 0 kB")
        return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        return 0


def _trimmed_resident() -> int:
    """Resident bytes after handing free heap back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Limits(**json.loads(sys.argv[2])))
