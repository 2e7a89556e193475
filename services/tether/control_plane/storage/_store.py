"""The metadata store: a small synchronous API over one SQLAlchemy engine.

Each public method is one transaction. Writers run in a write transaction (on SQLite,
BEGIN IMMEDIATE), so everything a method does commits together or not at all. The methods
block: the web app calls them from a worker thread.

A store works in one deployment (``prod`` unless built otherwise; :meth:`Store.scoped` gives
the same database seen from another): every row it inserts into a per-deployment table is
that deployment's, and the agent API's reads and writes (claims, events, logs, results) find
only that deployment's runs, work items, locations and ticks.

A method that makes a change someone asked for takes ``actor``: who asked, for the audit log.
Its entry is written in the change's own transaction, so the change is never done without it
(``actor=None``, for the control plane's own work and tests, records nothing).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import msgspec
from sqlalchemy.engine import Connection, Engine

from tether.partitions import key_positions, partition_keys
from tether.wire import (
    AgentHeartbeat,
    AgentResult,
    BatchReceipt,
    LaunchRun,
    LocationSpec,
    LogChunk,
    PartitionsSnapshot,
    RunEvent,
    RunLaunchFailed,
    RunWorkerExited,
    TickKind,
    WorkItem,
)

from ..alerts._policy import PolicySpec
from ..errors import BadInput, Forbidden, LocationNotFound, RunNotFound, TokenExpired
from . import (
    _agents,
    _alerts,
    _assets,
    _audit,
    _automation,
    _backfills,
    _browse,
    _cancel,
    _deployments,
    _launch,
    _leases,
    _locations,
    _monitor,
    _partition_status,
    _partitions,
    _pools,
    _queue,
    _results,
    _retries,
    _run_page,
    _runs,
    _sessions,
    _tokens,
    _work,
)
from ._agents import AgentRecord
from ._alerts import DeliveryRecord, PolicyRecord
from ._assets import AssetState
from ._automation import AutomationRecord, CatchUp, TickRecord
from ._backfills import BackfillRecord, BackfillSpec
from ._browse import EventCursor
from ._deployments import DeploymentRecord
from ._engine import SCOPE_OPTION, WRITE_OPTION, create_engine, translate_errors
from ._materialize import plan_materialization
from ._migrate import upgrade_to_head
from ._projection import RUN_STARTING, Fact, RunStatus
from ._queue import QueueLimits
from ._records import (
    Actor,
    AuditEntry,
    CheckEvaluation,
    CheckSummary,
    EventRecord,
    LaunchRequest,
    LocationRecord,
    LogRecord,
    Materialization,
    Role,
    RunRecord,
    SessionInfo,
    StepSpan,
    TokenInfo,
    TokenKind,
    TokenRecord,
)
from ._reexecution import ReexecutionStrategy
from ._run_page import RunFacts
from ._runs import RunCursor
from ._schema import PROD

# the default of TETHER_ENDED_RUN_GRACE_SECONDS (settings.py), for stores built without it
DEFAULT_ENDED_RUN_GRACE = 300.0

# how long a valid token is taken on trust without reading the tokens table again
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 1000


class Store:
    """Runs and their event logs, work items, code locations, tokens and the audit log.

    ``clock`` returns epoch seconds; tests pass a fake one to move leases forward.
    ``limits`` are the run queue's concurrency limits (none by default).
    ``ended_run_grace`` (seconds): how long after a run ended the agent API may still add
    its attempt's compute logs and results (``TETHER_ENDED_RUN_GRACE_SECONDS``; the fence
    is described in :mod:`._fence`).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time,
                 limits: QueueLimits | None = None,
                 ended_run_grace: float = DEFAULT_ENDED_RUN_GRACE,
                 deployment: str = PROD) -> None:
        self._engine = engine
        self._ended_run_grace = ended_run_grace
        self._bind(deployment)
        self._clock = clock
        self._limits = limits or QueueLimits()
        self._token_cache: dict[str, tuple[float, TokenInfo]] = {}
        # when this process last wrote each token's last use (see _note_use)
        self._use_noted: dict[int, float] = {}
        self._token_lock = threading.Lock()
        # when this process last wrote each deployment's last activity (see _note_activity);
        # shared by the scoped stores, like the token cache
        self._activity_noted: dict[str, float] = {}
        # SQLite has one writer at a time, and a transaction that finds the database locked
        # polls for it with growing sleeps (up to tens of milliseconds, each). This process's
        # writers queue on a lock instead, and the next one starts the moment the last one
        # commits; other processes' writers still meet SQLite's own wait.
        self._write_turn: AbstractContextManager[Any] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext())

    def _bind(self, deployment: str) -> None:
        self._deployment = deployment
        self._reader = self._engine.execution_options(**{SCOPE_OPTION: deployment})
        self._writer = self._engine.execution_options(
            **{WRITE_OPTION: True, SCOPE_OPTION: deployment})

    @property
    def deployment(self) -> str:
        """The deployment this store works in."""
        return self._deployment

    def scoped(self, deployment: str) -> Store:
        """This store working in ``deployment``: the same engine, clock, token cache and
        writer turn (one process, one SQLite writer at a time)."""
        if deployment == self._deployment:
            return self
        other = copy.copy(self)
        other._bind(deployment)
        return other

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time,
                 limits: QueueLimits | None = None,
                 ended_run_grace: float = DEFAULT_ENDED_RUN_GRACE) -> Store:
        """A store on ``url``: ``sqlite:///path`` or ``postgresql://...`` (psycopg 3)."""
        return cls(create_engine(url), clock=clock, limits=limits,
                   ended_run_grace=ended_run_grace)

    def now(self) -> float:
        """The store's clock: epoch seconds."""
        return self._clock()

    @property
    def engine(self) -> Engine:
        return self._engine

    def migrate(self) -> None:
        """Bring the database schema to the newest migration (alembic upgrade head)."""
        with translate_errors(self._engine):
            upgrade_to_head(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self._engine), self._reader.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_turn, translate_errors(self._engine), self._writer.begin() as conn:
            yield conn

    # -- deployments -----------------------------------------------------------------------

    def list_deployments(self) -> list[DeploymentRecord]:
        with self._read() as conn:
            return _deployments.list_all(conn)

    def get_deployment(self, name: str) -> DeploymentRecord | None:
        with self._read() as conn:
            return _deployments.get(conn, name)

    def create_deployment(self, name: str, *, branch: str | None = None,
                          commit: str | None = None, ttl_seconds: float | None = None,
                          copy_from: str | None = None, actor: Actor | None = None
                          ) -> tuple[DeploymentRecord, bool]:
        """Create branch deployment ``name`` (or bring its commit and TTL up to date: it is
        idempotent, what CI runs for every push); the record, and whether it is new. With
        ``copy_from``, it gets that deployment's code locations (their specs: the agent
        serving it deploys them), not yet in it."""
        with self._write() as conn:
            now = self._clock()
            if copy_from is not None:
                _deployments.require(conn, copy_from)
            created = _deployments.create(conn, name, now, branch=branch, commit=commit,
                                          ttl_seconds=ttl_seconds)
            self._audit(conn, actor, "deployment.create" if created else "deployment.update",
                        name, now, f"branch {branch!r}, commit {commit!r}")
            record = _deployments.get(conn, name)
        assert record is not None
        if copy_from is not None:
            source = self.scoped(copy_from)
            target = self.scoped(name)
            have = {location.name for location in target.list_locations()}
            for location in source.list_locations():
                if location.name not in have:
                    target.deploy_location(location.spec, actor=actor)
        return record, created

    def delete_deployment(self, name: str, *, actor: Actor | None = None) -> dict[str, int]:
        """Remove branch deployment ``name`` and all its rows; how many of each table went.
        Raises DeploymentNotFound, or BadInput for prod."""
        scoped = self.scoped(name)
        with self._token_lock:
            self._token_cache.clear()
        with scoped._write() as conn:
            now = self._clock()
            removed = _deployments.delete(conn, name, now)
            self._audit(conn, actor, "deployment.delete", name, now,
                        ", ".join(f"{count} {table}" for table, count in removed.items()
                                  if count))
        return removed

    def expired_deployments(self) -> list[str]:
        """The branch deployments whose TTL after their last activity has passed."""
        with self._read() as conn:
            return _deployments.expired(conn, self._clock())

    # -- tokens ----------------------------------------------------------------------------

    def create_token(self, kind: TokenKind, role: Role = "admin", name: str = "", *,
                     expires_in: float | None = None, roles: Mapping[str, Role] | None = None,
                     actor: Actor | None = None) -> str:
        """Create a token and return it; only its SHA-256 digest is stored. An agent token
        serves this store's deployment."""
        return self.issue_token(kind, role, name, expires_in=expires_in, roles=roles,
                                actor=actor)[0]

    def issue_token(self, kind: TokenKind, role: Role = "admin", name: str = "", *,
                    expires_in: float | None = None, roles: Mapping[str, Role] | None = None,
                    actor: Actor | None = None) -> tuple[str, TokenRecord]:
        """Create a token that expires ``expires_in`` seconds from now (None: never); the
        token, shown only now, and its record. An agent token serves this store's deployment
        (and claims, and writes, nothing else). A user token has ``role`` in every deployment,
        or, given ``roles`` (viewer in prod, launcher in staging, ...), those roles in those
        deployments and no access to any other. ``actor`` is recorded in the audit log."""
        with self._write() as conn:
            now = self._clock()
            expires_at = None if expires_in is None else now + expires_in
            deployment = self._deployment if kind == "agent" else None
            token, token_id = _tokens.create(conn, kind, role, name, now, expires_at,
                                             deployment)
            if roles:
                if kind != "user":
                    raise BadInput("only a user token has roles per deployment; an agent "
                                   "token serves one deployment")
                _tokens.set_roles(conn, token_id, roles)
            expiry = "" if expires_at is None else f", expires {_utc(expires_at)}"
            serves = "" if deployment is None else f", deployment {deployment}"
            serves += "".join(f", {role_there} in {where}"
                              for where, role_there in sorted((roles or {}).items()))
            self._audit(conn, actor, "token.create", str(token_id), now,
                        f"{kind} token {name!r}, role {role}{serves}{expiry}")
            record = _tokens.get(conn, token_id)
        assert record is not None
        return token, record

    def authenticate(self, token: str) -> TokenInfo | None:
        """The token's identity, or None for an unknown or revoked token; raises
        TokenExpired for one whose expiry has passed.

        A valid token is remembered for ``TOKEN_CACHE_SECONDS``: an agent sends a request
        per upload batch, and each one reading the tokens table cost a transaction. A token
        revoked through this store is forgotten at once; one revoked through another
        control-plane process stops working here within that time. A check only: a request
        the token is accepted for is a use, see :meth:`note_use`."""
        now = self._clock()
        with self._token_lock:
            cached = self._token_cache.get(token)
        if cached is not None and cached[0] > now:
            info = cached[1]
        else:
            with self._read() as conn:
                found = _tokens.authenticate(conn, token)
            if found is None:
                return None
            info = found[0]
            with self._token_lock:
                if len(self._token_cache) >= TOKEN_CACHE_SIZE:
                    self._token_cache.clear()
                self._token_cache[token] = (now + TOKEN_CACHE_SECONDS, info)
        if info.expires_at is not None and info.expires_at <= now:
            raise TokenExpired(info, info.expires_at)
        return info

    def note_use(self, info: TokenInfo, *, via: str, client: str = "") -> None:
        """Note that a request came in with the token through ``via`` (graphql, ui,
        agent-api) from ``client``: its last use, written at most once a minute per token
        and process (so the agent's hot path, a request per upload batch, stays in memory),
        and its first use ever, recorded in the audit log."""
        now = self._clock()
        with self._token_lock:
            noted = self._use_noted.get(info.id)
            if noted is not None and now - noted < _tokens.LAST_USED_RESOLUTION:
                return
            if len(self._use_noted) >= TOKEN_CACHE_SIZE:
                self._use_noted.clear()
            self._use_noted[info.id] = now
        with self._write() as conn:
            if _tokens.mark_used(conn, info.id, now):
                _audit.record(conn, Actor.of_token(info, via=via, client=client),
                              "token.first_use", str(info.id), now)

    def revoke_token(self, token_id: int, *, actor: Actor | None = None,
                     user_tokens: bool = True) -> bool:
        """Revoke the token (its sessions end with it); False if no unrevoked token has
        that id among those this deployment's admins manage: its agent tokens, and the user
        tokens unless ``user_tokens`` is False (see :meth:`manages_user_tokens`)."""
        with self._token_lock:
            self._token_cache.clear()
        with self._write() as conn:
            now = self._clock()
            revoked = _tokens.revoke(conn, token_id, now, self._deployment,
                                     user_tokens=user_tokens)
            if revoked:
                record = _tokens.get(conn, token_id)
                name = "" if record is None else record.name
                self._audit(conn, actor, "token.revoke", str(token_id), now,
                            f"token {name!r}")
            return revoked

    def access(self, token: TokenInfo, deployment: str) -> tuple[Store, TokenInfo]:
        """The store of ``deployment`` and the token with its role there, for a request that
        names the deployment (raises DeploymentNotFound). An agent token works only in its
        own deployment, a user token given roles per deployment only in those: asking for
        another is Forbidden."""
        if token.kind == "agent" and (token.deployment or PROD) != deployment:
            raise Forbidden(f"this agent token serves deployment {token.deployment!r}, not "
                            f"{deployment!r}")
        with self._read() as conn:
            _deployments.require(conn, deployment)
            role = _tokens.role_in(conn, token, deployment)
        if role is None:
            raise Forbidden(f"this token has no role in deployment {deployment!r}; its roles "
                            "are per deployment (tether control-plane list-tokens)")
        scoped = self.scoped(deployment)
        return scoped, token if role == token.role else dataclasses.replace(token, role=role)

    def token_roles(self, token_id: int) -> dict[str, Role]:
        """A user token's roles by deployment (empty: its own role in every one)."""
        with self._read() as conn:
            return _tokens.roles_of(conn, token_id)

    def get_token(self, token_id: int) -> TokenRecord | None:
        with self._read() as conn:
            return _tokens.get(conn, token_id)

    def list_tokens(self, *, user_tokens: bool = True) -> list[TokenRecord]:
        """This deployment's agent tokens and (unless ``user_tokens`` is False) the user
        tokens, newest first, revoked ones included (never the tokens themselves)."""
        with self._read() as conn:
            return _tokens.list_all(conn, self._deployment, user_tokens=user_tokens)

    def manages_user_tokens(self, token: TokenInfo) -> bool:
        """Whether ``token`` may list, create and revoke user tokens: admin in prod (a
        branch deployment's admin manages that deployment's agent tokens only)."""
        with self._read() as conn:
            return _tokens.manages_user_tokens(conn, token)

    # -- the audit log ---------------------------------------------------------------------

    def _audit(self, conn: Connection, actor: Actor | None, action: str, target: str,
               now: float, detail: str = "") -> None:
        """Record a change in its own transaction (``conn``), when someone asked for it: a
        mutation in the deployment, which is activity there (see :meth:`_note_activity`)."""
        if actor is not None:
            _audit.record(conn, actor, action, target, now, detail=detail)
            self._note_activity(conn, now)

    def _note_activity(self, conn: Connection, now: float) -> None:
        """Note activity in this store's deployment (a run launched, a location deployed, a
        mutation), in the caller's transaction: a branch deployment's TTL runs from its last
        activity. At most one write a minute per deployment from this process (and none when
        another process noted it within the minute)."""
        with self._token_lock:
            if now - self._activity_noted.get(self._deployment, -math.inf) < (
                    _deployments.ACTIVITY_RESOLUTION):
                return
            self._activity_noted[self._deployment] = now
        _deployments.note_activity(conn, self._deployment, now)

    def record_refusal(self, actor: Actor, action: str, target: str, reason: str) -> None:
        """Record an action that was refused (nothing changed, so it has its own
        transaction)."""
        with self._write() as conn:
            _audit.record(conn, actor, action, target, self._clock(), outcome="refused",
                          detail=reason)

    def audit_log(self, limit: int = 50, *, before: int | None = None,
                  action: str | None = None, actor: str | None = None) -> list[AuditEntry]:
        """The newest entries first; ``before`` is the id of the previous page's last entry,
        ``actor`` an actor's name."""
        with self._read() as conn:
            return _audit.page(conn, self._deployment, limit=limit, before=before,
                               action=action, actor=actor)

    def audit_actions(self) -> list[str]:
        with self._read() as conn:
            return _audit.actions(conn)

    # -- web UI sessions -------------------------------------------------------------------

    def create_session(self, token_id: int, lifetime: float, *,
                       actor: Actor | None = None) -> tuple[str, str]:
        """A web session of the token for ``lifetime`` seconds: (session id, CSRF token)."""
        with self._write() as conn:
            now = self._clock()
            created = _sessions.create(conn, token_id, now, lifetime)
            self._audit(conn, actor, "session.sign_in", str(token_id), now)
            return created

    def get_session(self, session_id: str) -> SessionInfo | None:
        """The session if it has not expired and its token is not revoked, else None."""
        with self._read() as conn:
            return _sessions.get(conn, session_id, self._clock())

    def end_session(self, session_id: str, *, actor: Actor | None = None) -> None:
        with self._write() as conn:
            _sessions.delete(conn, session_id)
            if actor is not None:
                self._audit(conn, actor, "session.sign_out", str(actor.token_id), self._clock())

    # -- code locations --------------------------------------------------------------------

    def deploy_location(self, spec: LocationSpec, *, traceparent: str = "",
                        actor: Actor | None = None) -> LocationRecord:
        """Record the location as LOADING (a new generation) and ask an agent to load it, in
        one transaction; while an identical load is still open, nothing new is enqueued."""
        with self._write() as conn:
            now = self._clock()
            _locations.deploy(conn, spec, traceparent=traceparent, now=now)
            record = _locations.get(conn, spec.name)
            self._audit(conn, actor, "location.deploy", spec.name, now,
                        f"queue {spec.queue!r}, {spec.module or spec.python_file}")
            self._note_activity(conn, now)
        assert record is not None
        return record

    def redeploy_location(self, name: str, *, traceparent: str = "",
                          actor: Actor | None = None) -> LocationRecord:
        """Load the location's current spec again (new code behind the same spec)."""
        with self._write() as conn:
            now = self._clock()
            current = _locations.get(conn, name, for_update=True)
            if current is None:
                raise LocationNotFound(name, [known.name for known in _locations.list_all(conn)])
            _locations.deploy(conn, current.spec, traceparent=traceparent, now=now)
            record = _locations.get(conn, name)
            self._audit(conn, actor, "location.redeploy", name, now)
        assert record is not None
        return record

    def remove_location(self, name: str, *, traceparent: str = "",
                        actor: Actor | None = None) -> LocationRecord:
        """Forget the location and ask its agent to stop serving it; returns what it was.
        Raises LocationNotFound."""
        with self._write() as conn:
            now = self._clock()
            removed = _locations.remove(conn, name, traceparent=traceparent, now=now)
            self._audit(conn, actor, "location.remove", name, now)
            return removed

    def list_locations(self) -> list[LocationRecord]:
        with self._read() as conn:
            return _locations.list_all(conn)

    def get_location(self, name: str) -> LocationRecord | None:
        with self._read() as conn:
            return _locations.get(conn, name)

    # -- runs ------------------------------------------------------------------------------

    def launch_run(
        self,
        job_name: str,
        *,
        location: str | None = None,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        traceparent: str = "",
        actor: Actor | None = None,
        partition: str | None = None,
    ) -> str:
        """Queue a run of a job of a loaded location and the work item that launches it, in
        one transaction; returns the run id. Raises JobNotFoundError (the message lists the
        known jobs), AmbiguousJobError, LocationNotFound, LocationNotLoaded, or BadInput for a
        run config that does not fit the job's Config types (naming the path), or a
        ``partition`` that is not one of the job's (or given for an unpartitioned job, or
        missing for a partitioned one)."""
        run_config = {} if run_config is None else run_config
        tags = {} if tags is None else tags
        if not isinstance(run_config, dict):
            raise BadInput(f"runConfig must be an object, got {type(run_config).__name__}")
        if not isinstance(tags, dict):
            raise BadInput(f"tags must be an object, got {type(tags).__name__}")
        with self._write() as conn:
            now = self._clock()
            run_id = _launch.launch(conn, LaunchRequest(
                job_name=job_name, location=location, run_config=run_config, tags=tags,
                traceparent=traceparent, partition=partition), now=now, limits=self._limits)
            what = f"job {job_name!r}" + (f" partition {partition!r}" if partition else "")
            self._audit(conn, actor, "run.launch", run_id, now, what)
            # by anyone: a schedule's or sensor's run is activity too
            self._note_activity(conn, now)
            return run_id

    def materialize_assets(self, location: str, asset_keys: Sequence[str], *,
                           tags: dict[str, Any] | None = None, traceparent: str = "",
                           actor: Actor | None = None) -> str:
        """Queue one run materializing exactly ``asset_keys`` of ``location``: a step
        selection of the smallest asset job that has them all (see ``_materialize``); its
        id. Raises LocationNotFound, or BadInput naming unknown or external keys, a
        multi-asset split that it cannot be, or keys no one job materializes."""
        tags = {} if tags is None else tags
        if not isinstance(tags, dict):
            raise BadInput(f"tags must be an object, got {type(tags).__name__}")
        with self._write() as conn:
            now = self._clock()
            record = _locations.get(conn, location)
            if record is None:
                raise LocationNotFound(location,
                                       [known.name for known in _locations.list_all(conn)])
            job, steps = plan_materialization(record, asset_keys)
            run_id = _launch.launch(conn, LaunchRequest(
                job_name=job.name, location=location, tags=tags, traceparent=traceparent,
                step_selection=steps), now=now, limits=self._limits)
            self._audit(conn, actor, "run.launch", run_id, now,
                        f"job {job.name!r}, assets {', '.join(dict.fromkeys(asset_keys))}")
            return run_id

    def reexecute_run(
        self,
        run_id: str,
        *,
        strategy: ReexecutionStrategy = ReexecutionStrategy.ALL_STEPS,
        tags: dict[str, Any] | None = None,
        traceparent: str = "",
        actor: Actor | None = None,
    ) -> str:
        """Queue a new run of an ended run's job, location and config, tagged with the run it
        repeats (``tether/parent_run_id``, ``tether/root_run_id``) and ``tags``; returns its
        id. FROM_FAILURE runs only the steps that did not succeed (loading the stored
        outputs of the steps upstream of them that did). Raises RunNotFound, BadInput (the
        run has not ended; from failure: it succeeded, or its job no longer has a step it did
        not complete), and launch_run's errors."""
        with self._write() as conn:
            now = self._clock()
            new_run_id = _launch.reexecute(conn, run_id, strategy=strategy, tags=tags or {},
                                           traceparent=traceparent, now=now,
                                           limits=self._limits)
            self._audit(conn, actor, "run.reexecute", new_run_id, now,
                        f"re-executes run {run_id} ({strategy.value.lower()})")
            return new_run_id

    # -- partitions -----------------------------------------------------------------------

    def dynamic_partitions(self, name: str) -> list[str]:
        """The keys of dynamic partitions ``name``, in the order they were added."""
        with self._read() as conn:
            return _partitions.dynamic_keys(conn, [name])[name]

    def add_dynamic_partitions(self, name: str, keys: Sequence[str], *,
                               actor: Actor | None = None) -> list[str]:
        """Add ``keys`` to dynamic partitions ``name``; the keys that were new. Raises
        BadInput for a key that cannot be one."""
        with self._write() as conn:
            now = self._clock()
            added = _partitions.add_dynamic(conn, name, keys, now)
            self._audit(conn, actor, "partitions.add", name, now,
                        f"added {len(added)} of {len(keys)} key(s)")
            return added

    def delete_dynamic_partitions(self, name: str, keys: Sequence[str], *,
                                  actor: Actor | None = None) -> int:
        with self._write() as conn:
            now = self._clock()
            deleted = _partitions.delete_dynamic(conn, name, keys)
            self._audit(conn, actor, "partitions.delete", name, now,
                        f"deleted {deleted} key(s)")
            return deleted

    def dynamic_keys_for(self, definition: PartitionsSnapshot) -> dict[str, list[str]]:
        """The keys of the dynamic partitions ``definition`` takes keys from, by name."""
        with self._read() as conn:
            return _partitions.keys_for(conn, definition)

    def partition_keys(self, definition: PartitionsSnapshot) -> list[str]:
        """The keys of ``definition`` now (a dynamic one's from this database)."""
        with self._read() as conn:
            return partition_keys(definition, now=self._clock(),
                                  dynamic=_partitions.keys_for(conn, definition))

    def asset_partition_status(self, asset_key: str, definition: PartitionsSnapshot
                               ) -> _partition_status.AssetPartitionStatus:
        """Which partitions of the asset are materialized, failed, in progress or missing."""
        with self._read() as conn:
            now, dynamic = self._clock(), _partitions.keys_for(conn, definition)
            by_state = _partition_status.statuses(conn, asset_key)
        return _partition_status.AssetPartitionStatus.of(
            partition_keys(definition, now=now, dynamic=dynamic),
            key_positions(definition, now=now, dynamic=dynamic), by_state)

    def rebuild_partition_status(self) -> int:
        """Recompute every asset partition's status from the event log; the rows written."""
        with self._write() as conn:
            return _partition_status.rebuild(conn, self._clock())

    # -- backfills -------------------------------------------------------------------------

    def launch_backfill(self, spec: BackfillSpec, *, actor: Actor | None = None) -> str:
        """Store a backfill for the backfill daemon to create the runs of; its id. Raises
        BadInput (no target or two, an unpartitioned target, a partition that is not one, a
        range outside the partitions or backwards) and the errors of finding its job."""
        if not isinstance(spec.tags, dict):
            raise BadInput(f"tags must be an object, got {type(spec.tags).__name__}")
        with self._write() as conn:
            now = self._clock()
            backfill_id = _backfills.request(conn, spec, launched_by=_who(actor), now=now)
            backfill = _backfills.get(conn, backfill_id)
            assert backfill is not None
            self._audit(conn, actor, "backfill.launch", backfill_id, now,
                        f"{backfill.target}, {backfill.partition_count} partition(s)")
            return backfill_id

    def get_backfill(self, backfill_id: str) -> BackfillRecord | None:
        with self._read() as conn:
            return _backfills.get(conn, backfill_id)

    def list_backfills(self, limit: int = 50) -> list[BackfillRecord]:
        with self._read() as conn:
            return _backfills.list_backfills(conn, limit)

    def cancel_backfill(self, backfill_id: str, *, actor: Actor | None = None
                        ) -> BackfillRecord:
        """Stop creating the backfill's runs and cancel its runs that have not ended. Raises
        BadInput for an unknown or ended backfill."""
        with self._write() as conn:
            now = self._clock()
            canceled = _backfills.cancel(conn, backfill_id, now=now)
            self._audit(conn, actor, "backfill.cancel", backfill_id, now,
                        f"canceled {canceled} run(s)")
            backfill = _backfills.get(conn, backfill_id)
        assert backfill is not None
        return backfill

    def rerun_failed_backfill(self, backfill_id: str, *, actor: Actor | None = None) -> str:
        """A new backfill of an ended backfill's failed partitions, linked to it; its id.
        Raises BadInput for an unknown backfill, one not ended, or one without failures."""
        with self._write() as conn:
            now = self._clock()
            new_id = _backfills.rerun_failed(conn, backfill_id, launched_by=_who(actor),
                                             now=now)
            self._audit(conn, actor, "backfill.rerun_failed", new_id, now,
                        f"re-runs the failed partitions of backfill {backfill_id}")
            return new_id

    def create_backfill_runs(self, *, budget_seconds: float = 2.0,
                             batch_size: int = _backfills.BATCH_SIZE) -> int:
        """The backfill daemon's turn: create the runs of the backfills' next partitions, a
        batch per transaction, for up to ``budget_seconds`` (a batch at least); how many
        partitions it handled."""
        deadline = time.monotonic() + budget_seconds
        handled = 0
        with self._read() as conn:
            pending = _backfills.creating(conn)
        while pending:
            # one batch of each backfill in turn, so that a large one does not hold up others
            for backfill_id in list(pending):
                with self._write() as conn:
                    done = _backfills.create_batch(conn, backfill_id, now=self._clock(),
                                                   limits=self._limits, size=batch_size)
                if done == 0:
                    pending.remove(backfill_id)
                handled += done
            if time.monotonic() >= deadline:
                break
        return handled

    def settle_backfills(self) -> list[BackfillRecord]:
        """End the backfills whose runs have all ended; those ended."""
        with self._read() as conn:
            if not _backfills.any_active(conn):
                return []
        with self._write() as conn:
            return _backfills.settle(conn, self._clock())

    # -- the daemons -----------------------------------------------------------------------

    def admit_queued_runs(self) -> list[str]:
        """Hand the waiting runs that now fit the run queue's limits to the agents; the ids
        admitted."""
        if self._limits.unlimited:
            return []
        with self._write() as conn:
            return _queue.admit_waiting(conn, self._limits, self._clock())

    def grant_pool_slots(self) -> list[_pools.Grant]:
        """Grant the waiting steps the pool slots that are free, those of runs that ended
        however they ended among them (``_pools``); the grants made."""
        if not self._limits.pool_limits:
            return []
        with self._write() as conn:
            return _pools.grant_free_slots(conn, self._limits.pool_limits, self._clock())

    def fail_stuck_runs(self, *, start_timeout: float) -> list[str]:
        """Fail runs that will never report (see ``_monitor``); the ids failed."""
        # looked for in a read transaction first: most turns find nothing to write
        with self._read() as conn:
            if not _monitor.stuck_runs(conn, start_timeout=start_timeout, now=self._clock()):
                return []
        with self._write() as conn:
            return _monitor.fail_stuck_runs(conn, start_timeout=start_timeout,
                                            now=self._clock())

    def retry_failed_runs(self) -> list[str]:
        """Start a new attempt of each recently failed run whose ``tether/max_retries`` tag
        allows one; the ids retried."""
        with self._read() as conn:
            if not _retries.retryable(conn, self._clock()):
                return []
        with self._write() as conn:
            return _retries.retry_failed(conn, self._clock())

    def next_tick_time(self) -> float | None:
        """When a schedule or sensor tick is next due (now or earlier: one is due now); None
        while none runs. A read: most of the scheduler's turns find nothing due, and then
        write nothing."""
        with self._read() as conn:
            return _automation.next_tick_time(conn, self._clock())

    def start_due_ticks(self, catch_up: CatchUp = "latest", *,
                        traceparent: str = "") -> list[int]:
        """Ask the agents to evaluate every schedule and sensor tick that is due; the ids of
        the ticks started. The ticks' work items carry ``traceparent``."""
        with self._write() as conn:
            return _automation.start_due_ticks(conn, self._clock(), catch_up, traceparent)

    # -- schedules and sensors -------------------------------------------------------------

    def list_automations(self) -> list[AutomationRecord]:
        """Every schedule and sensor of the loaded locations, with its state."""
        with self._read() as conn:
            return _automation.list_automations(conn, self._clock())

    def set_automation_running(self, kind: TickKind, name: str, *, running: bool,
                               location: str | None = None,
                               actor: Actor | None = None) -> AutomationRecord:
        """Start or stop a schedule or sensor; BadInput names the known ones."""
        with self._write() as conn:
            now = self._clock()
            record = _automation.set_running(conn, kind, name, location, running, now)
            self._audit(conn, actor, f"{kind}.{'start' if running else 'stop'}",
                        f"{record.location}/{record.name}", now)
            return record

    def tick_automation(self, kind: TickKind, name: str, *, location: str | None = None,
                        scheduled_time: float | None = None, traceparent: str = "",
                        actor: Actor | None = None) -> TickRecord:
        """Ask for one tick of a schedule or sensor now, started or stopped: the tick, being
        evaluated. BadInput names the known ones."""
        with self._write() as conn:
            now = self._clock()
            tick = _automation.tick_now(conn, kind, name, location, scheduled_time, now,
                                        traceparent)
            self._audit(conn, actor, f"{kind}.tick", f"{tick.location}/{tick.name}", now)
            return tick

    def list_ticks(self, kind: TickKind, location: str, name: str,
                   limit: int = 50) -> list[TickRecord]:
        """A schedule's or sensor's newest ticks first."""
        with self._read() as conn:
            return _automation.list_ticks(conn, kind, location, name, limit)

    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the leader lease of daemon ``name``; False while another holds it."""
        with self._write() as conn:
            return _leases.acquire(conn, name, holder, seconds, self._clock())

    def release_lease(self, name: str, holder: str) -> None:
        with self._write() as conn:
            _leases.release(conn, name, holder)

    def terminate_run(self, run_id: str, *, traceparent: str = "",
                      actor: Actor | None = None) -> RunRecord:
        """Cancel a run. One not yet claimed by an agent is CANCELED at once; one that an
        agent has is CANCELING until its run worker ends, and the agent that claimed it is
        asked to stop it. Raises RunNotFound, or BadInput for a run that has ended."""
        with self._write() as conn:
            now = self._clock()
            run = _runs.lock_run(conn, run_id)
            if run is None:
                raise RunNotFound(run_id)
            status = run.projection.status
            if run.projection.is_terminal:
                raise BadInput(f"run {run_id} has already ended ({status}); nothing to cancel")
            _cancel.cancel_run(conn, run, now=now, traceparent=traceparent)
            self._audit(conn, actor, "run.cancel", run_id, now, f"was {status}")
            record = _runs.get_run(conn, run_id)
        assert record is not None
        return record

    def waiting_reason(self, run_id: str) -> str | None:
        """Why a QUEUED run has not started yet, or None for a run that is not waiting."""
        with self._read() as conn:
            run = _runs.get_run(conn, run_id)
            if run is None or run.status != RunStatus.QUEUED:
                return None
            if not self._limits.unlimited:
                reason = _queue.waiting_reason(conn, run_id, run.tags, self._limits,
                                               self._clock())
                if reason is not None:
                    return reason
            queue = self._queue_of(conn, run_id)
            now = self._clock()
            if queue not in _agents.live_queues(conn, now - _agents.LIVENESS_SECONDS):
                return (f"no live agent serves queue {queue!r}: start one with "
                        f"TETHER_QUEUES={queue} (agents heartbeat every few seconds)")
            return f"waiting for an agent serving queue {queue!r} to claim it"

    # -- alerts ----------------------------------------------------------------------------

    def list_alert_policies(self) -> list[PolicyRecord]:
        with self._read() as conn:
            return _alerts.list_policies(conn)

    def create_alert_policy(self, spec: PolicySpec, *,
                            actor: Actor | None = None) -> PolicyRecord:
        """Add an alert policy; BadInput if one has its name."""
        with self._write() as conn:
            now = self._clock()
            record = _alerts.create_policy(conn, spec, now)
            self._audit(conn, actor, "alert.create", spec.name, now,
                        f"{', '.join(spec.triggers)} -> {spec.channel.__struct_config__.tag}")
            return record

    def delete_alert_policy(self, name: str, *, actor: Actor | None = None) -> PolicyRecord:
        with self._write() as conn:
            now = self._clock()
            record = _alerts.delete_policy(conn, name)
            self._audit(conn, actor, "alert.delete", name, now)
            return record

    def load_alert_policies(self, specs: Sequence[PolicySpec], *,
                            actor: Actor | None = None) -> None:
        """Make the file-sourced policies those of ``TETHER_ALERTS_FILE``."""
        with self._write() as conn:
            now = self._clock()
            _alerts.load_file_policies(conn, specs, now)
            self._audit(conn, actor, "alert.load", "file",
                        now, ", ".join(spec.name for spec in specs))

    def test_alert(self, name: str, *, actor: Actor | None = None) -> DeliveryRecord:
        """Queue a sample alert through the policy's channel (the alert daemon sends it)."""
        with self._write() as conn:
            now = self._clock()
            policy = _alerts.require_policy(conn, name)
            record = _alerts.add_test_delivery(conn, policy, now)
            self._audit(conn, actor, "alert.test", name, now)
            return record

    def alert_deliveries(self, limit: int = 50, *, policy: str | None = None,
                         status: str | None = None) -> list[DeliveryRecord]:
        """The newest deliveries first, with how sending them went."""
        with self._read() as conn:
            return _alerts.list_deliveries(conn, limit=limit, policy=policy, status=status)

    def get_alert_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        with self._read() as conn:
            return _alerts.get_delivery(conn, delivery_id)

    def raise_overdue_alerts(self) -> int:
        """Alert on runs going on too long and agents gone silent (the alert daemon)."""
        with self._read() as conn:
            if not any(trigger in ("RUN_LONG", "AGENT_LOST")
                       for policy in _alerts.list_policies(conn) if policy.enabled
                       for trigger in policy.triggers):
                return 0
        with self._write() as conn:
            return _alerts.raise_overdue(conn, self._clock())

    def due_alert_deliveries(self, limit: int) -> list[tuple[DeliveryRecord, PolicyRecord]]:
        with self._read() as conn:
            return _alerts.due_deliveries(conn, self._clock(), limit)

    def record_alert_attempts(self, results: Sequence[tuple[int, str | None, float | None]]
                              ) -> None:
        """How sending went, per delivery: (id, error or None, when to retry or None)."""
        with self._write() as conn:
            now = self._clock()
            for delivery_id, error, retry_at in results:
                _alerts.record_attempt(conn, delivery_id, now, error=error, retry_at=retry_at)

    # -- agents ----------------------------------------------------------------------------

    def record_heartbeat(self, heartbeat: AgentHeartbeat) -> None:
        with self._write() as conn:
            _agents.record_heartbeat(conn, heartbeat, self._clock())

    def list_agents(self) -> list[AgentRecord]:
        with self._read() as conn:
            return _agents.list_agents(conn)

    @staticmethod
    def _queue_of(conn: Connection, run_id: str) -> str:
        return _locations.queue_of_run(conn, run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            return _runs.get_run(conn, run_id)

    def list_runs(
        self, limit: int = 50, *, status: str | None = None, job_name: str | None = None,
        tag: tuple[str, str] | None = None, before: RunCursor | None = None,
        partition: str | None = None,
    ) -> list[RunRecord]:
        """The newest runs first; ``before`` is the (created_at, run_id) of the last run of the
        previous page, ``tag`` a (key, value) the runs must carry, ``partition`` the
        partition they are of."""
        with self._read() as conn:
            return _runs.list_runs(conn, limit=limit, status=status, job_name=job_name,
                                   tag=tag, before=before, partition=partition)

    def run_events(
        self, run_id: str, *, after_id: int | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """The run's events by (timestamp, id); ``after_id`` tails the log by storage id."""
        with self._read() as conn:
            return _runs.run_events(conn, run_id, after_id=after_id, limit=limit)

    def run_logs(
        self, run_id: str, *, stream: str | None = None, after_id: int | None = None,
        step_key: str | None = None,
    ) -> list[LogRecord]:
        with self._read() as conn:
            return _runs.run_logs(conn, run_id, stream=stream, after_id=after_id,
                                  step_key=step_key)

    def events_page(
        self, run_id: str, *, limit: int, levels: Sequence[str] = (),
        step_key: str | None = None, after: EventCursor | None = None,
        after_id: int | None = None, text: str | None = None,
    ) -> tuple[list[EventRecord], int, int]:
        """A page of the run's event log by (timestamp, id), filtered by level, step and a
        text its messages contain, from a (timestamp, id) cursor or after a stored event id
        (a live tail); with the number of events the run has in all and the id of its newest
        one."""
        with self._read() as conn:
            page = _browse.events_page(conn, run_id, limit=limit, levels=levels,
                                       step_key=step_key, after=after, after_id=after_id,
                                       text=text)
            return page, *_browse.event_tally(conn, run_id)

    def compute_output(
        self, run_id: str, *, stream: str, step_key: str | None = None,
        text: str | None = None, limit: int = 1000,
    ) -> list[LogRecord]:
        """The newest ``limit`` chunks of a stream of the run's compute output, of a step,
        containing a text; oldest first."""
        with self._read() as conn:
            return _run_page.compute_output(conn, run_id, stream=stream, step_key=step_key,
                                            text=text, limit=limit)

    def run_facts(self, run_id: str, attempt: int, *, first_error: bool = True) -> RunFacts:
        """The run page's header and timeline facts of the run's ``attempt``."""
        with self._read() as conn:
            return _run_page.run_facts(conn, run_id, attempt, first_error=first_error)

    def step_spans(self, run_id: str) -> list[StepSpan]:
        with self._read() as conn:
            return _browse.step_spans(conn, run_id)

    def latest_materializations(self, asset_keys: Sequence[str]) -> dict[str, Materialization]:
        with self._read() as conn:
            return _assets.latest_materializations(conn, asset_keys)

    def check_evaluations(self, asset_key: str, limit: int = 20,
                          check_name: str | None = None) -> list[CheckEvaluation]:
        """The newest results of the asset's checks (or of its check ``check_name``), newest
        first, with their metadata."""
        with self._read() as conn:
            return _browse.check_evaluations(conn, asset_key, check_name=check_name,
                                             limit=limit)

    def check_summaries(self, checks: Mapping[str, Sequence[str]]) -> dict[str, CheckSummary]:
        """Each asset's checks (``checks``: their names by asset key) by the newest result
        of each: how many passed, which failed, how many were never evaluated."""
        with self._read() as conn:
            return _browse.check_summaries(conn, checks)

    def run_check_evaluations(self, run_id: str) -> list[CheckEvaluation]:
        """The results of the asset checks a run evaluated, in order."""
        with self._read() as conn:
            return _browse.run_check_evaluations(conn, run_id)

    def materializations(self, asset_key: str, limit: int = 20) -> list[Materialization]:
        """The asset's newest materializations, newest first, with their metadata."""
        with self._read() as conn:
            return _assets.materializations(conn, asset_key, limit=limit)

    def asset_states(self, steps_of: Mapping[str, Iterable[str]]) -> dict[str, AssetState]:
        """Each asset's latest status; ``steps_of`` maps its key to the steps besides its own
        whose outcome is its (a multi-asset's)."""
        with self._read() as conn:
            return _assets.asset_states(conn, steps_of)

    def rebuild_run(self, run_id: str) -> RunRecord:
        """Recompute the run's row from its event log alone, store it and return it."""
        with self._write() as conn:
            _runs.rebuild_run(conn, run_id, self._clock())
            record = _runs.get_run(conn, run_id)
        if record is None:
            raise RunNotFound(run_id)
        return record

    # -- agent traffic ---------------------------------------------------------------------

    def claim_work(
        self, agent_id: str, queues: Sequence[str], max_items: int, lease_seconds: float
    ) -> list[WorkItem]:
        """Lease up to ``max_items`` open items of ``queues`` to ``agent_id``, oldest first.
        A claimed LaunchRun moves its run to STARTING in the same transaction."""
        with self._write() as conn:
            now = self._clock()
            items = _work.claim(
                conn,
                agent_id=agent_id,
                queues=queues,
                max_items=max_items,
                lease_seconds=lease_seconds,
                now=now,
            )
            items = _start_runs(conn, items, agent_id, now)
        if not self._limits.pool_limits:
            return items
        # the limits as they are when the run starts: its run worker asks for a slot only
        # for a step of a limited pool
        limits = dict(self._limits.pool_limits)
        return [msgspec.structs.replace(item, payload=msgspec.structs.replace(
                    item.payload, pool_limits=limits))
                if isinstance(item.payload, LaunchRun) else item for item in items]

    def has_pending_work(self, queues: Sequence[str], agent_id: str | None = None) -> bool:
        """Whether any item of ``queues`` is claimable now by ``agent_id`` (one indexed read)."""
        with self._read() as conn:
            return _work.has_pending(conn, queues, self._clock(), agent_id)

    def store_events(self, events: Sequence[RunEvent]) -> BatchReceipt:
        """Store a batch of run events once each and fold them into their runs; with pool
        limits, take the slot requests and step ends among them into account (``_pools``)."""
        with self._write() as conn:
            now = self._clock()
            if not self._limits.pool_limits:
                return _runs.store_events(conn, events, now, self._ended_run_grace)
            stored: list[RunEvent] = []
            receipt = _runs.store_events(conn, events, now, self._ended_run_grace,
                                         stored=stored)
            if _pools.note_events(conn, stored, now):
                _pools.grant_free_slots(conn, self._limits.pool_limits, now)
            return receipt

    def store_logs(self, chunks: Sequence[LogChunk]) -> BatchReceipt:
        with self._write() as conn:
            return _runs.store_logs(conn, chunks, self._clock(), self._ended_run_grace)

    def store_results(self, results: Sequence[AgentResult]) -> BatchReceipt:
        with self._write() as conn:
            now = self._clock()
            receipt = _results.store_results(conn, results, now, self._limits,
                                             self._ended_run_grace)
            if self._limits.pool_limits and any(
                    isinstance(result, RunWorkerExited | RunLaunchFailed)
                    for result in results):
                # a run worker that died, or never started, frees its slots
                _pools.grant_free_slots(conn, self._limits.pool_limits, now)
            return receipt


def _start_runs(conn: Connection, items: list[WorkItem], agent_id: str,
                now: float) -> list[WorkItem]:
    """Record the claims of launches (their runs move to STARTING); the items to hand over.
    An item whose run no longer needs it (canceled, or started already by an earlier claim
    whose result never arrived) is retired instead."""
    launches = [item.payload for item in items if isinstance(item.payload, LaunchRun)]
    if not launches:
        return items
    locked = _runs.lock_runs(conn, {launch.run_id for launch in launches})
    kept: list[WorkItem] = []
    retired: list[str] = []
    starting: list[tuple[_runs.LockedRun, Fact, str]] = []
    for item in items:
        payload = item.payload
        if not isinstance(payload, LaunchRun):
            kept.append(item)
            continue
        run = locked.get(payload.run_id)
        if run is None or run.attempt != payload.attempt or run.projection.status not in (
                RunStatus.QUEUED, RunStatus.STARTING):
            retired.append(item.work_id)
            continue
        kept.append(item)
        starting.append((run, Fact(type=RUN_STARTING, timestamp=now),
                         f"Claimed by agent {agent_id} (claim {item.epoch})"))
    _work.complete_many(conn, retired, now)
    _runs.record_control_events(conn, starting, now)
    return kept


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _who(actor: Actor | None) -> str:
    """Who launched a backfill, as its page says."""
    return "" if actor is None else f"{actor.name} ({actor.via})"
