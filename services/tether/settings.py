"""The one settings object of a Tether process.

Built once at the process entry point from ``TETHER_*`` environment variables and an optional
TOML file (``TETHER_CONFIG``), validated by msgspec, then passed down explicitly. Environment
variables win over the file. ``TETHER_DATABASE_URL`` sets ``database_url``, and so on.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .errors import ConfigError

ENV_PREFIX = "TETHER_"
# where the clients of the control plane (agent, CLI) find it when TETHER_URL is not set
DEFAULT_URL = "http://127.0.0.1:3000"


class TagLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """At most ``limit`` runs in progress at once whose tag ``key`` has ``value`` (with no
    ``value``: each value of the tag counted on its own)."""

    key: str
    limit: Annotated[int, msgspec.Meta(ge=0)]
    value: str | None = None


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    # where the embedded defaults live: SQLite database, dev credentials, broker data
    data_dir: str = ".tether"
    # control plane: database and listening address
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 3000
    # a workspace.toml whose code locations the control plane deploys at start-up
    workspace: str = ""
    # how long a claimed work item stays leased to an agent before any agent may claim it
    lease_seconds: float = 60.0
    # the run queue: runs in progress at once (0: no limit), and limits by tag, e.g.
    # TETHER_TAG_CONCURRENCY_LIMITS='[{"key": "database", "value": "warehouse", "limit": 2}]'
    max_concurrent_runs: Annotated[int, msgspec.Meta(ge=0)] = 0
    tag_concurrency_limits: list[TagLimit] = msgspec.field(default_factory=list)
    # op concurrency pools: steps of each pool executing at once across all runs,
    # e.g. TETHER_POOL_LIMITS='{"warehouse": 2}' (a pool not named here is unlimited)
    pool_limits: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = msgspec.field(
        default_factory=dict)
    # run monitoring: a run claimed but not started within this long is failed
    run_start_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 180.0
    # schedules: of the ticks missed while no scheduler ran, evaluate the latest only (the
    # others are recorded as skipped) or all of them
    schedule_catch_up: Literal["latest", "all"] = "latest"
    # how often the daemons (run queue, run monitor, scheduler) take a turn
    daemon_interval_seconds: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # the runs of a backfill the backfill daemon creates in one transaction
    backfill_batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    # alerts: a TOML file of [[alert]] policies loaded at the control plane's start (they
    # replace the ones the file held before); the URL links in alerts start with (empty:
    # http://host:port); the first retry of a failed delivery waits this long, each next one
    # twice as long, and a delivery is given up after this many attempts
    alerts_file: str = ""
    public_url: str = ""
    alert_retry_base_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    alert_max_attempts: Annotated[int, msgspec.Meta(ge=1)] = 12
    # API limits (README, "API limits"): request bodies in bytes, answered 413 before they
    # are read; the agent API's uploads are batches of thousands of events, so larger
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1 << 20
    max_agent_request_bytes: Annotated[int, msgspec.Meta(ge=1)] = 32 << 20
    # how deeply JSON (and msgpack) values may nest: run config, tags, GraphQL variables and
    # literals, the free-form parts of agent uploads
    max_input_depth: Annotated[int, msgspec.Meta(ge=1)] = 64
    # a GraphQL document: lexical tokens, field nesting, aliases, and its cost (about the
    # number of objects it asks for: a list field counts as its `limit`)
    graphql_max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 5_000
    graphql_max_depth: Annotated[int, msgspec.Meta(ge=1)] = 15
    graphql_max_aliases: Annotated[int, msgspec.Meta(ge=0)] = 50
    graphql_max_cost: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    # GraphQL mutations per user token: a burst of this many, refilled at this rate per
    # minute (0: no limit); and sign-in attempts per client address likewise
    mutation_burst: Annotated[int, msgspec.Meta(ge=0)] = 120
    mutations_per_minute: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    signin_burst: Annotated[int, msgspec.Meta(ge=0)] = 10
    signins_per_minute: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    # once a run has ended, its attempt's compute logs (and, for a run the control plane
    # ended, its events) are accepted this long after, then refused like a superseded
    # attempt's: the uploaders' streams race, and a run's last output may trail its end
    ended_run_grace_seconds: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    # the control plane serves HTTPS itself with this certificate (PEM, the chain after the
    # server's own) and key; both or neither (plain HTTP, e.g. behind a proxy serving TLS)
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # set by `tether dev` for its control plane: the file holding the user token, which the
    # sign-in page names
    dev_credentials_file: str = ""
    # clients of the control plane (agent, CLI): its URL (empty: control_plane_url decides)
    # and their tokens
    url: str = ""
    token: str = ""
    # the deployment the CLI's commands work in (`tether --deployment`, TETHER_DEPLOYMENT)
    deployment: str = "prod"
    # the CA certificate(s) (PEM) the agent and the CLI trust for the control plane's HTTPS,
    # instead of the system's, e.g. a private CA's
    ca_file: str = ""
    agent_token: str = ""
    # the agent token in a file only the agent's OS user can read (mode 0600), read once at
    # start-up; better than TETHER_AGENT_TOKEN, which stays in the process's initial environment
    agent_token_file: str = ""
    # an agent serving several deployments has a token for each: more tokens, and files of
    # tokens (comma-separated in the environment), besides agent_token/agent_token_file
    agent_tokens: list[str] = msgspec.field(default_factory=list)
    agent_token_files: list[str] = msgspec.field(default_factory=list)
    # agent side
    redis_url: str = ""
    agent_id: str = ""
    queues: list[str] = msgspec.field(default_factory=lambda: ["default"])
    # the broker's ACL user that run workers connect as, which the launcher creates: it can
    # append their events, logs and spans and read nothing ("-db<n>" is appended for database
    # n); "" hands run workers the agent's own broker URL instead (user code can then read
    # the work streams and write anything)
    broker_run_worker_user: str = "tether-run-worker"
    # how the launcher starts run workers: "process" (a fresh interpreter per run), "warm"
    # (forked from a per-location zygote that has imported the code already) or "rq" (RQ jobs
    # on the queue tether.runs.<queue>, executed by `tether agent rq-worker` or `rq worker`)
    run_launcher: Literal["process", "warm", "rq"] = "process"
    # where the agent runs code servers and runs: "process" (its own processes, as
    # run_launcher says), "docker" (a container per code server and per run attempt, from
    # the location's image) or "kubernetes" (a Deployment and Service per code location, a
    # Job per run attempt); a location's spec may ask for another kind (its agent_kind)
    agent_kind: Literal["process", "docker", "kubernetes"] = "process"
    # the Docker Engine the docker agent talks to (empty: DOCKER_HOST, else the local socket)
    docker_host: str = ""
    # the kubernetes kind: the API server ("" : the in-cluster service account's, else the
    # kubeconfig's), the namespace of the agent's objects ("": the agent pod's own), the
    # Deployment that owns them (deleting it deletes them; "": none), how long a finished
    # run's Job is kept, and the image of locations whose spec names none
    kubernetes_api_url: str = ""
    kubernetes_namespace: str = ""
    kubernetes_owner: str = ""
    kubernetes_job_ttl_seconds: Annotated[int, msgspec.Meta(ge=0)] = 3600
    kubernetes_default_image: str = ""
    # where run workers store step outputs and asset values (the default IO manager's pickle
    # files); empty: <data_dir>/storage. Run workers on other hosts (rq) need it shared, and
    # the run user must be able to write it
    storage_dir: str = ""
    # the OS user that run workers, warm zygotes and code servers run as (the launcher and
    # supervisor need root, or CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_CHOWN); empty: their own
    run_user: str = ""
    # terminate the runs a launcher started when the launcher stops (tether dev sets this)
    stop_runs_on_exit: bool = False
    # a canceled run's worker gets SIGTERM, then SIGKILL after this many seconds
    terminate_grace_seconds: float = 10.0
    # upload stdout/stderr of runs to the control plane; off keeps every byte in the agent
    upload_compute_logs: bool = True
    upload_batch_size: Annotated[int, msgspec.Meta(ge=1)] = 1000
    # run events per upload: small (a log line is ~200 bytes), and a run that logs in a loop
    # is stored fastest in few large batches (each is a transaction, a lock and a round trip)
    upload_event_batch_size: Annotated[int, msgspec.Meta(ge=1)] = 5000
    # batches of one stream an uploader has on their way at once
    upload_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 2
    # a code server that does not answer this long after its start is reported as failed
    # (with the end of its output) and retried with backoff
    code_server_start_timeout: float = 30.0
    # stop the code servers when the supervisor stops; false keeps them running through a
    # supervisor restart, and the next supervisor adopts them (after a crash it always does)
    stop_code_servers_on_exit: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per log line, with trace and span ids
    log_format: Literal["text", "json"] = "text"

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'tether.db'}"

    @property
    def resolved_storage_dir(self) -> str:
        """The absolute storage folder of run workers: ``storage_dir`` or the data folder's
        ``storage``."""
        return str(Path(self.storage_dir or Path(self.data_dir) / "storage").resolve())

    @property
    def resolved_public_url(self) -> str:
        """Where people open the control plane's pages: ``public_url`` or its own address."""
        return self.public_url or f"{'https' if self.tls_cert_file else 'http'}://" \
            f"{self.host}:{self.port}"

    @property
    def control_plane_url(self) -> str:
        """Where the agent and the CLI reach the control plane: ``TETHER_URL`` or the default
        local address."""
        return self.url or DEFAULT_URL

    @property
    def all_agent_tokens(self) -> list[str]:
        """The agent's tokens, one per deployment it serves: ``agent_token`` first (its
        deployment is the one entries written before there were several are reported to),
        then ``agent_tokens``, without repeats."""
        return list(dict.fromkeys(
            token for token in (self.agent_token, *self.agent_tokens) if token))

    def require_agent_tokens(self) -> list[str]:
        """``all_agent_tokens``, which an agent worker that calls the control plane cannot do
        without."""
        tokens = self.all_agent_tokens
        if not tokens:
            raise ConfigError(
                f"no agent token: set {ENV_PREFIX}AGENT_TOKEN_FILE (or {ENV_PREFIX}AGENT_TOKEN), "
                f"or for several deployments {ENV_PREFIX}AGENT_TOKEN_FILES (or "
                f"{ENV_PREFIX}AGENT_TOKENS), comma-separated")
        return tokens

    def require(self, name: str) -> str:
        """The value of a string setting that this process cannot do without."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} is not set; set it in the environment or in the "
                f"TOML file named by {ENV_PREFIX}CONFIG"
            )
        return str(value)


def load_settings(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the settings from ``environ`` (default: the process environment), the TOML file
    it names in ``TETHER_CONFIG``, and keyword ``overrides`` (which win)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        try:
            values.update(tomllib.loads(Path(config_file).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {ENV_PREFIX}CONFIG={config_file}: {exc}") from exc
    fields = set(Settings.__struct_fields__)
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG":
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in fields:
            values[name] = _parse_env_value(name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {_name_setting(str(exc))}") from exc


# settings given as JSON in the environment, and the shape their error message asks for
_JSON_SETTINGS = {
    "pool_limits": 'a JSON object of pool limits, e.g. {"warehouse": 2}',
    "tag_concurrency_limits": 'a JSON list of {"key": ..., "value": ..., "limit": ...}',
}


def _parse_env_value(name: str, raw: str) -> Any:
    if name in ("queues", "agent_tokens", "agent_token_files"):
        return [q.strip() for q in raw.split(",") if q.strip()]
    shape = _JSON_SETTINGS.get(name)
    if shape is not None:
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be {shape}: {exc}") from exc
    return raw


def _name_setting(message: str) -> str:
    # msgspec says "... - at `$.port`"; users know the variable, not the path
    head, sep, path = message.rpartition(" - at `$.")
    if not sep:
        return message
    field = path.rstrip("`").split(".")[0].split("[")[0]
    return f"{ENV_PREFIX}{field.upper()}: {head}"
