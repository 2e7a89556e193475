"""Two code locations, each in its own virtualenv with its own version of a library: each
code server and each run imports its own version."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from ..deployment import Deployment
from .test_locations import deployment, tether  # noqa: F401 (the fixture)

DEFS = """
import sys
import tinyver
from tether import Definitions, OpContext, job, op

@op
def report(context: OpContext) -> None:
    context.log.info(f"tinyver {tinyver.VERSION} in {sys.prefix}")

@job(description=f"built against tinyver {tinyver.VERSION}")
def versions() -> None:
    report()

defs = Definitions(jobs=[versions])
"""
JOBS = "{ jobs { name location description } }"
RUN = "query($id: ID!) { run(id: $id) { status events { message } } }"
LAUNCH = "mutation($loc: String!) { launchRun(jobName: \"versions\", location: $loc) { id } }"


def virtualenv_with_tinyver(root: Path, version: str) -> Path:
    """A virtualenv that sees Tether (and its dependencies) from the test's environment, with
    its own ``tinyver`` package built from a generated source tree and installed into it.
    Returns its interpreter."""
    venv = root / f"venv-{version}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    # after its own site-packages: its own tinyver wins over anything the outer one has
    outer = sysconfig.get_path("purelib")
    (site_packages / "outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    source = root / f"tinyver-{version}"
    (source / "tinyver").mkdir(parents=True)
    (source / "tinyver" / "__init__.py").write_text(f'VERSION = "{version}"\n')
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "tinyver"\nversion = "{version}"\n'
        '[tool.setuptools]\npackages = ["tinyver"]\n')
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", str(source)], check=True, capture_output=True)
    return python


def test_two_locations_in_their_own_virtualenvs_each_see_their_own_library_version(
        deployment: Deployment, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    for version in ("1.0", "2.0"):
        python = virtualenv_with_tinyver(tmp_path, version)
        project = tmp_path / f"project-{version}"
        project.mkdir()
        (project / "defs.py").write_text(DEFS)
        name = f"tiny-{version.replace('.', '-')}"
        deployed = tether(deployment, "location", "deploy", name, "--python-file", "defs.py",
                          "--working-directory", str(project), "--python", str(python),
                          "--wait")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    jobs = sorted((job["location"], job["description"])
                  for job in deployment.graphql(JOBS)["jobs"])
    assert jobs == [("tiny-1-0", "built against tinyver 1.0"),
                    ("tiny-2-0", "built against tinyver 2.0")]

    for location, version in (("tiny-1-0", "1.0"), ("tiny-2-0", "2.0")):
        run_id = deployment.graphql(LAUNCH, loc=location)["launchRun"]["id"]
        run = deployment.wait_for(
            lambda run_id=run_id: (r := deployment.graphql(RUN, id=run_id)["run"])["status"]
            in ("SUCCESS", "FAILURE") and r, what=f"the run of {location}")
        assert run["status"] == "SUCCESS"
        messages = [event["message"] for event in run["events"]]
        assert f"tinyver {version} in {tmp_path / f'venv-{version}'}" in messages
