"""A real Docker Engine for the Docker agent's tests, and the images they run.

``dockerd`` (Debian's docker.io; ``TETHER_SETUP_DOCKER=1 scripts/setup`` installs it) starts
as root with no bridge and no iptables rules, on a socket and data folder of its own; every
container the tests (and the agent) start uses the host's network, so no traffic leaves
loopback. The data folder is kept between runs: the images below are built once per change
of their inputs.

No registry is reachable, so the images are built here:

- ``tether-test-python:<hash>``: ``docker import`` of a root file system made of this host's
  Python (the interpreter the test venv runs on, without its test suite and tkinter), the
  shared libraries it and Tether's dependencies link, and Tether's runtime dependencies
  copied from the venv (the closure of ``tether``'s requirements, as installed there), plus
  pip. No base image, no network: a few seconds.
- ``tether-test:<hash>``: a Dockerfile ``FROM`` that one which installs Tether from a wheel
  of this checkout (``pip install --no-deps``) and copies the test code location to
  ``/app``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("TETHER_TEST_DOCKER_ROOT", "/var/lib/tether-test-docker"))
EXEC_ROOT = Path("/run/tether-test-docker")
SOCKET = EXEC_ROOT / "docker.sock"
DOCKER_HOST = f"unix://{SOCKET}"
LOCATION_DIR = Path(__file__).resolve().parent / "docker_location"
# parts of the standard library no run worker needs (most of its size)
_STDLIB_SKIP = {"test", "site-packages", "idlelib", "tkinter", "turtledemo", "ensurepip",
                "lib2to3"}


class EngineUnavailable(Exception):
    """dockerd cannot start here; the message says why (the tests skip with it)."""


def start_engine(timeout: float = 60.0) -> subprocess.Popen[bytes] | None:
    """Make sure the test Engine answers on ``SOCKET``; the dockerd process if this call
    started it (None: one was running already)."""
    if _answers():
        return None
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise EngineUnavailable("dockerd is not installed (apt-get install docker.io, or "
                                "TETHER_SETUP_DOCKER=1 scripts/setup)")
    if os.geteuid() != 0:
        raise EngineUnavailable("dockerd needs root here")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    log = (DATA_ROOT / "dockerd.log").open("ab")
    process = subprocess.Popen(
        [dockerd, "--bridge=none", "--iptables=false", "--ip-masq=false",
         "--data-root", str(DATA_ROOT), "--exec-root", str(EXEC_ROOT / "exec"),
         "--pidfile", str(EXEC_ROOT / "dockerd.pid"), "-H", DOCKER_HOST,
         "--containerd-namespace", "tether-test", "--containerd-plugins-namespace",
         "tether-test-plugins"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers():
            return process
        if process.poll() is not None:
            raise EngineUnavailable(f"dockerd exited with code {process.returncode}:\n"
                                    f"{_tail(DATA_ROOT / 'dockerd.log')}")
        time.sleep(0.2)
    stop_engine(process)
    raise EngineUnavailable(f"dockerd did not answer within {timeout:g} s:\n"
                            f"{_tail(DATA_ROOT / 'dockerd.log')}")


def stop_engine(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _answers() -> bool:
    if not SOCKET.exists():
        return False
    import docker

    try:
        client = docker.DockerClient(base_url=DOCKER_HOST, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# -- images ----------------------------------------------------------------------------------

def _runtime_distributions() -> list[metadata.Distribution]:
    """Tether's runtime dependencies as installed in this venv (their closure), and pip."""
    marker_env = {"extra": ""}
    seen: dict[str, metadata.Distribution] = {}
    todo = ["tether", "pip"]
    while todo:
        name = re.split(r"[<>=!~;\[ ]", todo.pop())[0].lower().replace("_", "-")
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        from packaging.requirements import Requirement

        for raw in dist.requires or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                todo.append(requirement.name)
                for extra in requirement.extras:
                    # e.g. redis[hiredis]: the extra's own requirements
                    for extra_raw in metadata.distribution(requirement.name).requires or []:
                        extra_req = Requirement(extra_raw)
                        if extra_req.marker is not None and extra_req.marker.evaluate(
                                {"extra": extra}):
                            todo.append(extra_req.name)
    seen.pop("tether")
    return list(seen.values())


def _dist_files(dist: metadata.Distribution) -> list[Path]:
    base = Path(str(dist.locate_file("")))
    # with their compiled modules: a container's Python would compile each import anew
    return [base / str(file) for file in dist.files or []
            if ".." not in Path(str(file)).parts]


def _shared_libraries(files: list[Path]) -> set[Path]:
    """The system libraries the ELF files among ``files`` link (as ldd resolves them)."""
    elves = [str(f) for f in files if f.suffix == ".so" or ".so." in f.name
             or f.name.startswith("python3")]
    found: set[Path] = set()
    for start in range(0, len(elves), 200):
        out = subprocess.run(["ldd", *elves[start:start + 200]], capture_output=True,
                             text=True).stdout
        for match in re.finditer(r"=> (/\S+)|^\s+(/\S+) \(", out, re.MULTILINE):
            path = Path(match.group(1) or match.group(2))
            if not str(path).startswith(sys.base_prefix):
                found.add(path)
    return found


def _python_files() -> list[Path]:
    prefix = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    files = [prefix / "bin" / version]
    files += sorted((prefix / "lib").glob("libpython*.so*"))
    stdlib = Path(sysconfig.get_paths(vars={"base": str(prefix)})["stdlib"])
    for path in stdlib.rglob("*"):
        parts = path.relative_to(stdlib).parts
        if parts and parts[0] in _STDLIB_SKIP:
            continue
        if path.is_file() and not path.name.startswith("_tkinter"):
            files.append(path)
    return files


def _base_key(dists: list[metadata.Distribution]) -> str:
    digest = hashlib.sha256(f"{sys.version}|{sys.base_prefix}|v2".encode())
    for dist in sorted(dists, key=lambda d: d.metadata["Name"].lower()):
        digest.update(f"{dist.metadata['Name']}=={dist.version};".encode())
    return digest.hexdigest()[:16]


def base_image(client: object) -> str:
    """The tag of the base image (the host's Python and Tether's dependencies), built if
    this Engine does not have it yet."""
    import docker

    assert isinstance(client, docker.DockerClient)
    dists = _runtime_distributions()
    tag = f"tether-test-python:{_base_key(dists)}"
    if client.images.list(name=tag):
        return tag
    prefix = Path(sys.base_prefix)
    site = Path(sysconfig.get_paths(vars={"base": str(prefix)})["purelib"])
    python_files = _python_files()
    dep_files = [(f, site / f.relative_to(Path(str(dist.locate_file("")))))
                 for dist in dists for f in _dist_files(dist) if f.is_file()]
    libraries = _shared_libraries(python_files + [f for f, _ in dep_files])
    libraries |= {Path(p) for p in ("/lib64/ld-linux-x86-64.so.2",)}
    bin_dir = prefix / "bin"
    with tempfile.TemporaryDirectory(prefix="tether-rootfs-") as tmp:
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            for directory in ("tmp", "etc", "app", "root"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
                tar.addfile(info)
            _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
            _add_text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
            for path in python_files:
                tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
            for source, target in dep_files:
                tar.add(source, arcname=str(target).lstrip("/"), recursive=False)
            for library in sorted(libraries):
                # the file itself, under the name it is linked by
                tar.add(library.resolve(), arcname=str(library).lstrip("/"))
            # `python3` is the name the agent runs in an image
            link = tarfile.TarInfo(str(bin_dir / "python3").lstrip("/"))
            link.type, link.linkname = tarfile.SYMTYPE, python_files[0].name
            tar.addfile(link)
        client.api.import_image(src=str(archive), repository=tag.split(":")[0],
                                tag=tag.split(":")[1], changes=[
                                    f"ENV PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin",
                                    "ENV PYTHONDONTWRITEBYTECODE=1",
                                    "WORKDIR /app"])
    return tag


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _sources_key(base: str) -> str:
    digest = hashlib.sha256(base.encode())
    for path in sorted([*(ROOT / "services" / "tether").rglob("*"),
                        *LOCATION_DIR.rglob("*"), ROOT / "pyproject.toml"]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tether_image(client: object) -> str:
    """The tag of the image with Tether (from a wheel of this checkout) and the test code
    location in ``/app``, built if this Engine does not have it yet."""
    import docker

    assert isinstance(client, docker.DockerClient)
    base = base_image(client)
    tag = f"tether-test:{_sources_key(base)}"
    if client.images.list(name=tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="tether-image-") as tmp:
        context = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(context), str(ROOT)],
                       check=True, cwd=tmp)
        wheel = next(context.glob("tether-*.whl")).name
        shutil.copytree(LOCATION_DIR, context / "location",
                        ignore=shutil.ignore_patterns("__pycache__"))
        # no shell in the image: RUN in exec form
        dockerfile = (f"FROM {base}\nCOPY {wheel} /tmp/\n"
                      f'RUN ["python3", "-m", "pip", "install", "--quiet", "--no-deps", '
                      f'"--no-index", "/tmp/{wheel}"]\n'
                      "COPY location/ /app/\n")
        return _build(client, tag, dockerfile, {p.name: p for p in context.iterdir()})


def derived_image(client: object, base: str, tag: str, lines: str) -> str:
    """``tag``: an image ``FROM base`` with the Dockerfile ``lines`` (no context files)."""
    import docker

    assert isinstance(client, docker.DockerClient)
    return _build(client, tag, f"FROM {base}\n{lines}\n", {})


def _build(client: object, tag: str, dockerfile: str, files: dict[str, Path]) -> str:
    import docker

    assert isinstance(client, docker.DockerClient)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_text(tar, "Dockerfile", dockerfile)
        for name, path in files.items():
            tar.add(path, arcname=name)
    buffer.seek(0)
    # the legacy builder (no BuildKit in docker.io 20.10's daemon API); RUN steps use the
    # host's network, as there is no bridge
    client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True,
                                   forcerm=True, network_mode="host")
    return tag
