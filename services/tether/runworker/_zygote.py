"""A code location's zygote: imports the run worker and the user's code once, then forks one
run worker per launch, so a run starts in milliseconds instead of paying for the interpreter
and the imports each time.

The zygote stays single-threaded (no broker connection, no gRPC, no threads) so that forking
it is safe. Each child becomes a run worker exactly as a cold start would be: its own session
(process group), the launcher's pipes as stdout and stderr, the environment the launcher
sends, the same events. When the user's files have changed on disk since they were loaded,
the zygote answers ``stale`` and the launcher starts the run cold (and a new zygote).
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

import msgspec

from .. import _telemetry as telemetry
from .. import partitions
from ..sdk import Definitions, load_definitions
from ..wire import ForkExit, ForkReply, ForkRequest, LocationSpec
from ._execute import execute_run
from ._frames import frame, recv_frame

# a child that died before execute_run could say anything
EXIT_CHILD_CRASHED = 70

_request_decoder = msgspec.msgpack.Decoder(ForkRequest)


def serve_zygote(spec: LocationSpec, socket_path: str) -> int:
    """Load ``spec`` and fork run workers for requests on ``socket_path`` until SIGTERM."""
    try:
        defs = load_definitions(spec)
    except Exception as exc:
        print(f"zygote for {spec.name}: the location does not load, runs start cold: {exc}",
              file=sys.stderr, flush=True)
        return 1
    files = _user_files(spec)
    # the forked run workers then record their spans without importing anything, and check
    # their partition by a lookup in keys enumerated once here
    telemetry.preload()
    _enumerate_partitions(defs)
    # everything imported so far is shared with the forks: kept out of the garbage
    # collector's reach, a fork's collections neither walk it nor copy its pages
    gc.freeze()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # the launcher takes the socket's path appearing as "ready": it must appear only once
    # the socket listens (bind creates the file, and a connect before listen is refused)
    binding = f"{socket_path}.binding"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(binding)
    listener.bind(binding)
    listener.listen(64)
    os.rename(binding, socket_path)
    # SIGTERM ends the loop through an exception, so the socket is removed on the way out
    signal.signal(signal.SIGTERM, _stop)
    print(f"zygote for {spec.name} ready on {socket_path} (pid {os.getpid()}, "
          f"{len(files)} user file(s) watched)", file=sys.stderr, flush=True)
    children: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    try:
        while True:
            for _key, _ in selector.select(timeout=0.02):
                conn, _ = listener.accept()
                _serve_request(conn, spec, defs, files, children, listener)
            _reap(children)
    except SystemExit:
        return 0
    finally:
        selector.close()
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)


def _enumerate_partitions(defs: Definitions) -> None:
    """Enumerate the keys of each partitioned job once, in the zygote, for every fork to
    inherit: a run worker checks its run's partition against them, and a daily definition
    from 1990 has 13,000 keys, ~0.1 s of CPU to enumerate in each run otherwise. (Dynamic
    keys are the control plane's: nothing to enumerate.)"""
    now = time.time()
    for job in defs.jobs.values():
        definition = None if job.partitions_def is None else job.partitions_def.snapshot
        if definition is not None and not partitions.dynamic_names(definition):
            partitions.partition_count(definition, now=now)


def _serve_request(conn: socket.socket, spec: LocationSpec, defs: Definitions,
                   files: dict[str, float], children: dict[int, socket.socket],
                   listener: socket.socket) -> None:
    fds: list[int] = []
    try:
        conn.settimeout(5.0)
        body, fds = recv_frame(conn, max_fds=2)
        request = _request_decoder.decode(body)
        if len(fds) != 2:
            raise ValueError(f"expected stdout and stderr descriptors, got {len(fds)}")
        if _changed(files):
            conn.sendall(frame(ForkReply(stale=True)))
            conn.close()
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            _become_run_worker(request, fds, defs, [listener, conn, *children.values()])
        conn.sendall(frame(ForkReply(pid=pid)))
        children[pid] = conn
    except (OSError, ValueError, ConnectionError, msgspec.DecodeError) as exc:
        with contextlib.suppress(OSError):
            conn.sendall(frame(ForkReply(error=f"{type(exc).__name__}: {exc}")))
        conn.close()
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _become_run_worker(request: ForkRequest, fds: list[int], defs: Definitions,
                       inherited: list[socket.socket]) -> NoReturn:
    code = EXIT_CHILD_CRASHED
    try:
        os.setsid()
        for sock in inherited:
            sock.close()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        location = request.launch.location
        if location.working_directory:
            os.chdir(location.working_directory)
        os.environ.clear()
        os.environ.update(request.env)
        code = execute_run(request.launch, redis_url=request.env["TETHER_REDIS_URL"],
                           traceparent=request.traceparent, defs=defs,
                           storage_dir=request.env.get("TETHER_STORAGE_DIR"))
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(frame(ForkExit(exit_code=os.waitstatus_to_exitcode(status))))
            conn.close()


def _user_files(spec: LocationSpec) -> dict[str, float]:
    """The location's own source files among the loaded modules, with their mtimes."""
    roots = [Path(spec.working_directory or os.getcwd()).resolve()]
    if spec.python_file:
        roots.append(Path(spec.python_file).resolve().parent)
    files: dict[str, float] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        resolved = Path(path).resolve()
        if "site-packages" in resolved.parts:
            continue
        if any(resolved.is_relative_to(root) for root in roots):
            with contextlib.suppress(OSError):
                files[str(resolved)] = resolved.stat().st_mtime
    return files


def _changed(files: dict[str, float]) -> bool:
    for path, mtime in files.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return True
        except OSError:
            return True
    return False


def _stop(signum: int, frame_: object) -> None:
    raise SystemExit(0)
