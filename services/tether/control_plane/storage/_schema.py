"""The metadata database's tables: one MetaData for SQLite and PostgreSQL.

Alembic migrations (``migrations/versions``) create exactly these tables; a test compares the
migrated database with this metadata, so a change here needs a new migration.

Deployments. Every row belongs to one deployment (``deployments``; ``prod`` holds what existed
before there were several). The rule for which tables carry a ``deployment`` column:

- a table whose rows a client can name (by an id it may guess, a name, a queue, an asset
  key, a run key, a tag) or that is listed across parents has the column, and its keys and
  unique indexes start with it, so two deployments may hold the same name: ``runs``,
  ``run_tags``, ``events`` (asset pages read materializations across runs),
  ``compute_logs`` (asked for by run id: a run of another deployment must find none),
  ``work_items`` (claims), ``code_locations``, ``automation_states``, ``ticks``,
  ``dynamic_partitions``, ``asset_partitions``, ``pool_slots`` (a pool's limit holds per
  deployment), ``agents``, ``alert_policies``, ``alert_deliveries`` (listed across
  policies), ``backfills``. A child copies its parent's deployment; the store's scope fills it in;
- a table reached only through the id of a row that is itself global needs none:
  ``ui_sessions`` and ``token_roles`` (a token's); nor does one read only through its
  scoped parent: ``backfill_partitions`` (always by its backfill's id, which a scoped store
  finds only in its deployment; its run ids join to scoped ``runs``);
- ``audit_log`` has a plain ``deployment`` (the one a change was made in; NULL: none) that
  the scope does not filter on: the log pages choose what to show;
- ``tokens``: an agent token serves exactly one deployment (``deployment``); a user token has
  none, and a role per deployment (``role`` everywhere, unless ``token_roles`` says otherwise);
- ``daemon_leases`` is global: one leader per daemon works through every deployment.

A new table follows the same rule: add ``_deployment()`` (``_deployment(primary_key=True)``
first in a natural key), and its statements are scoped without further work (``_scope``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ._engine import SCOPE_OPTION

# the info key that marks a table's deployment column as the one scoped stores filter on
SCOPED = "scoped"

metadata = sa.MetaData()

# the name every row had before deployments existed, and the one a fresh database starts with
PROD = "prod"


def _scope_of(context: Any) -> str:
    """The deployment of the connection that inserts the row: a row a scoped store writes is
    its deployment's without the insert naming it (an unscoped connection is prod's)."""
    return str(context.execution_options.get(SCOPE_OPTION, PROD))


def _deployment(*, primary_key: bool = False) -> sa.Column[str]:
    """The deployment a row belongs to (see the module docstring for which tables have one):
    a scoped store's statements see only its deployment's rows (:mod:`._scope`)."""
    return sa.Column("deployment", sa.String(63), nullable=False, primary_key=primary_key,
                     default=_scope_of, server_default=PROD, info={SCOPED: True})

# Times are float epoch seconds, so both databases store them the same way and
# arithmetic on leases needs no timezone handling.

# the deployments: prod, and short-lived branch deployments (one per pull request); each has
# its own code locations, runs, schedules, sensors, agent tokens and so on
deployments = sa.Table(
    "deployments",
    metadata,
    # a slug: [a-z0-9][a-z0-9-]{0,62}
    sa.Column("name", sa.String(63), primary_key=True),
    # prod or branch
    sa.Column("kind", sa.String(16), nullable=False),
    # the branch and commit a branch deployment runs (NULL for prod)
    sa.Column("branch", sa.String(255), nullable=True),
    sa.Column("commit", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_activity_at", sa.Float, nullable=False),
    # seconds after the last activity when it is removed (NULL: never)
    sa.Column("ttl_seconds", sa.Float, nullable=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    _deployment(),
    sa.Column("job_name", sa.String(255), nullable=False),
    sa.Column("location", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("run_config", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float, nullable=True),
    sa.Column("end_time", sa.Float, nullable=True),
    # JSON of a wire ErrorInfo
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("steps_succeeded", sa.Integer, nullable=False),
    sa.Column("steps_failed", sa.Integer, nullable=False),
    # the launch's trace, for the LaunchRun the run queue enqueues later
    sa.Column("traceparent", sa.String(128), nullable=True),
    # what created the run ("schedule:<location>/<name>", "sensor:..."; NULL: a user), and
    # the run key that makes asking for the same run twice create it once
    sa.Column("origin", sa.String(255), nullable=True),
    sa.Column("run_key", sa.String(255), nullable=True),
    # JSON list of the steps the run executes (a re-execution from failure); NULL: every step
    sa.Column("step_selection", sa.Text, nullable=True),
    # JSON object: for each step the selection leaves out, the run whose stored output the
    # selected steps load; NULL: none
    sa.Column("input_runs", sa.Text, nullable=True),
    # the partition of its job the run is of; NULL: the job is not partitioned
    sa.Column("partition", sa.String(255), nullable=True),
    # the runs list pages by (created_at, run_id), newest first, optionally filtered by status
    # or job: each filter has an index that yields its rows in page order, within the
    # deployment the list is of (every statement is scoped to one: _scope)
    sa.Index("ix_runs_created_run", "deployment", "created_at", "run_id"),
    sa.Index("ix_runs_status_created_run", "deployment", "status", "created_at", "run_id"),
    sa.Index("ix_runs_job_created_run", "deployment", "job_name", "created_at", "run_id"),
    sa.Index("ix_runs_partition_created_run", "deployment", "partition", "created_at",
             "run_id"),
    # the runs that ended lately with some status (a failure to retry)
    sa.Index("ix_runs_status_end_time", "status", "end_time"),
    # a run key is unique within its deployment (a branch deployment's schedule has the
    # same origin as prod's)
    sa.Index("ix_runs_origin_run_key", "deployment", "origin", "run_key", unique=True),
)

# a copy of each run's tags, one row per tag, for filtering the runs list by tag; created_at
# is copied too, so the index yields one tag's runs in page order without a sort
run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    _deployment(),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_run_tags_key_value_created_run", "deployment", "key", "value", "created_at",
             "run_id"),
)

# the conditions of the partial indexes on events; a query must state them in these words (as
# literals, not parameters) for SQLite to use the index
MATERIALIZATIONS = "type = 'ASSET_MATERIALIZATION'"
CHECK_EVALUATIONS = "type = 'ASSET_CHECK_EVALUATION'"
STEP_EVENTS = ("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
               "'STEP_CANCELED', 'STEP_RETRY')")

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # looked up through the unique index below, which starts with run_id
    sa.Column("run_id", sa.String(64), nullable=False),
    # the run's, copied: the asset pages read materializations across runs
    _deployment(),
    sa.Column("attempt", sa.Integer, nullable=False),
    # NULL for events the control plane records itself (RUN_QUEUED, RUN_STARTING, ...);
    # NULLs never collide in the unique constraint, on either database
    sa.Column("seq", sa.Integer, nullable=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("step_key", sa.String(255), nullable=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    # msgpack of the wire RunEvent; for control-plane events, msgpack of an ErrorInfo or NULL
    sa.Column("body", sa.LargeBinary, nullable=True),
    # the key of an ASSET_MATERIALIZATION or ASSET_CHECK_EVALUATION event (NULL for others)
    sa.Column("asset_key", sa.String(1024), nullable=True),
    # the check of an ASSET_CHECK_EVALUATION event (NULL for the others)
    sa.Column("check_name", sa.String(128), nullable=True),
    sa.UniqueConstraint("run_id", "attempt", "seq", name="uq_events_run_attempt_seq"),
    # the assets page's latest materializations, and a run's step events for its timeline;
    # partial, so the log lines (most events) pay nothing for them
    sa.Index(
        "ix_events_materializations",
        "id",
        sqlite_where=sa.text(MATERIALIZATIONS),
        postgresql_where=sa.text(MATERIALIZATIONS),
    ),
    # the asset page's checks, and a run's check results
    sa.Index(
        "ix_events_check_evaluations",
        "id",
        sqlite_where=sa.text(CHECK_EVALUATIONS),
        postgresql_where=sa.text(CHECK_EVALUATIONS),
    ),
    # the newest result of each check of an asset (the assets page's check status)
    sa.Index(
        "ix_events_asset_checks",
        "deployment",
        "asset_key",
        "check_name",
        "id",
        sqlite_where=sa.text(CHECK_EVALUATIONS),
        postgresql_where=sa.text(CHECK_EVALUATIONS),
    ),
    sa.Index(
        "ix_events_run_checks",
        "run_id",
        "id",
        sqlite_where=sa.text(CHECK_EVALUATIONS),
        postgresql_where=sa.text(CHECK_EVALUATIONS),
    ),
    sa.Index(
        "ix_events_run_steps",
        "run_id",
        "timestamp",
        sqlite_where=sa.text(STEP_EVENTS),
        postgresql_where=sa.text(STEP_EVENTS),
    ),
    # an asset's materializations, newest first, and the outcomes of the step that
    # materializes it (the assets' pages and their latest status)
    sa.Index(
        "ix_events_asset_materializations",
        "deployment",
        "asset_key",
        "id",
        sqlite_where=sa.text(MATERIALIZATIONS),
        postgresql_where=sa.text(MATERIALIZATIONS),
    ),
    sa.Index(
        "ix_events_step_outcomes",
        "deployment",
        "step_key",
        "id",
        sqlite_where=sa.text(STEP_EVENTS),
        postgresql_where=sa.text(STEP_EVENTS),
    ),
)

compute_logs = sa.Table(
    "compute_logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    # the run's, copied: a run's logs are asked for by its id, which a client may guess
    _deployment(),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("stream", sa.String(16), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("step_key", sa.String(255), nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint(
        "run_id", "attempt", "stream", "seq", name="uq_compute_logs_run_attempt_stream_seq"
    ),
)

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column("work_id", sa.String(64), primary_key=True),
    _deployment(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("location", sa.String(255), nullable=True),
    # msgpack of the wire WorkPayload
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("claimed_by", sa.String(255), nullable=True),
    # only this agent may claim the item (None: any agent serving the queue)
    sa.Column("target_agent", sa.String(255), nullable=True),
    sa.Column("traceparent", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float, nullable=True),
    # the claim query: open items of some queues, oldest first
    sa.Index("ix_work_items_claim", "deployment", "status", "queue", "created_at"),
    sa.Index("ix_work_items_run_id", "run_id"),
)

# the keys of each dynamic partitions definition (DynamicPartitionsDefinition(name)), added
# and deleted by sensors, the API and the CLI; listed in the order they were added
dynamic_partitions = sa.Table(
    "dynamic_partitions",
    metadata,
    _deployment(primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# each asset partition's status, a projection of the event log (storage/_partition_status):
# MATERIALIZED, FAILED or IN_PROGRESS (no row: missing); written in the events' transaction
asset_partitions = sa.Table(
    "asset_partitions",
    metadata,
    _deployment(primary_key=True),
    sa.Column("asset_key", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    # the run that planned it last, and the run that materialized it last (NULL: none)
    sa.Column("last_run_id", sa.String(64), nullable=True),
    sa.Column("materialized_run_id", sa.String(64), nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    # a run's end settles the partitions it had in progress
    sa.Index("ix_asset_partitions_last_run", "last_run_id"),
    # an asset's keys by state, read from the index alone (the partition bar reads 100,000)
    sa.Index("ix_asset_partitions_state", "deployment", "asset_key", "status", "partition"),
)

# the steps that asked for a slot of a limited concurrency pool (``_pools``): waiting while
# granted_at is NULL, holding a slot once granted, until the step or its run attempt ends
pool_slots = sa.Table(
    "pool_slots",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("step_key", sa.String(255), primary_key=True),
    # a pool's limit holds in each deployment alone: a branch's runs take no slot of prod's
    _deployment(),
    sa.Column("pool", sa.String(255), nullable=False),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.Column("granted_at", sa.Float, nullable=True),
    # a pool's slots, waiting (oldest first) or held
    sa.Index("ix_pool_slots_pool", "pool", "granted_at", "requested_at"),
)

code_locations = sa.Table(
    "code_locations",
    metadata,
    _deployment(primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    # msgpack of the wire LocationSpec
    sa.Column("spec", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # msgpack of the wire LocationSnapshot
    sa.Column("snapshot", sa.LargeBinary, nullable=True),
    # sha256 of the snapshot's bytes: a reader that decoded them already need not read them
    sa.Column("snapshot_digest", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    # grows with every deploy (milliseconds of the deploy time, or one more than the last):
    # status and error describe this deploy; results of older ones are only history
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
    # after a failed load: when the agent loads it again (NULL: not planned)
    sa.Column("next_retry_at", sa.Float, nullable=True),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # an agent token's deployment: the only one whose work it claims and whose runs it writes
    # (NULL for a user token, whose roles per deployment are in token_roles)
    sa.Column("deployment", sa.String(63), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    # NULL: it never expires
    sa.Column("expires_at", sa.Float, nullable=True),
    # written at most once a minute per token (NULL: never used), not once per request
    sa.Column("last_used_at", sa.Float, nullable=True),
)

# a user token's role in one deployment, where it differs from the token's own role (which
# holds in every deployment not listed): viewer in prod, launcher in staging, ...
token_roles = sa.Table(
    "token_roles",
    metadata,
    sa.Column("token_id", sa.Integer, primary_key=True),
    sa.Column("deployment", sa.String(63), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    # an agent serving several deployments heartbeats once per deployment (token)
    _deployment(primary_key=True),
    sa.Column("agent_id", sa.String(255), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    # JSON list of the queues it serves
    sa.Column("queues", sa.Text, nullable=False),
    sa.Column("last_heartbeat", sa.Float, nullable=False),
    # msgpack of the wire AgentHeartbeat
    sa.Column("heartbeat", sa.LargeBinary, nullable=False),
)

# each daemon's leader: the one process that holds an unexpired lease on its name acts
daemon_leases = sa.Table(
    "daemon_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
)

# each schedule's and sensor's state: started or stopped (NULL: as its code says), a
# sensor's cursor, and the time of its last tick (a schedule's last scheduled time)
automation_states = sa.Table(
    "automation_states",
    metadata,
    _deployment(primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("location", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("running", sa.Boolean, nullable=True),
    sa.Column("cursor", sa.Text, nullable=True),
    sa.Column("last_tick_time", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# the tick history: one row per evaluation asked of a code server
ticks = sa.Table(
    "ticks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _deployment(),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("location", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    # a schedule's tick: the time it was due (one tick per due time, however many daemons)
    sa.Column("scheduled_time", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # JSON list of the runs it created
    sa.Column("run_ids", sa.Text, nullable=False),
    # JSON list of [run key, run id] of the runs it asked for whose key had a run already
    sa.Column("existing_runs", sa.Text, nullable=False, server_default="[]"),
    sa.Column("skip_reason", sa.Text, nullable=True),
    # JSON of a wire ErrorInfo
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Index("ix_ticks_due", "deployment", "kind", "location", "name", "scheduled_time",
             unique=True),
    sa.Index("ix_ticks_status", "status"),
)

# signed-in web UI sessions: the cookie holds a random id, the table only its SHA-256 digest;
# a session lives no longer than its token (revoking the token ends it)
ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.Integer, nullable=False),
    # the CSRF token every state-changing form of this session must send back
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# who did what, to what, when, from where, and whether it was allowed: one row per mutation,
# token change and deploy, written in the change's own transaction. Append-only: no code path
# updates or deletes a row, and no API offers to.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    # the deployment the change was made in (NULL: none in particular, e.g. a token's)
    sa.Column("deployment", sa.String(63), nullable=True, default=_scope_of),
    # user or agent (a token of that kind), cli (no token: the OS user) or system
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_name", sa.String(255), nullable=False),
    sa.Column("actor_token_id", sa.Integer, nullable=True),
    sa.Column("actor_role", sa.String(16), nullable=True),
    # the door it came through: graphql, ui, cli, startup
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("client", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    # ok or refused
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # the log pages newest first by id, optionally filtered by action or actor
    sa.Index("ix_audit_log_action_id", "action", "id"),
    sa.Index("ix_audit_log_actor_id", "actor_name", "id"),
)

# alert policies: which happenings (triggers) of which runs, locations, agents and ticks
# (filters) are sent where (one channel each); admin-managed, or loaded from a file at start
alert_policies = sa.Table(
    "alert_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    _deployment(),
    sa.Column("description", sa.Text, nullable=False),
    # JSON list of trigger names (RUN_FAILURE, RUN_SUCCESS, RUN_LONG, ...)
    sa.Column("triggers", sa.Text, nullable=False),
    # JSON object: jobs, locations, tags, asset_groups (empty: every one)
    sa.Column("filters", sa.Text, nullable=False),
    # JSON of the channel (its kind and settings: a URL, a secret, SMTP server, ...)
    sa.Column("channel", sa.Text, nullable=False),
    # RUN_LONG: a run in progress this many minutes
    sa.Column("long_run_minutes", sa.Float, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    # api (GraphQL, CLI, UI) or file (TETHER_ALERTS_FILE, replaced at each start)
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # a name is unique within its deployment only: another deployment's names stay unseen
    sa.Index("ix_alert_policies_deployment_name", "deployment", "name", unique=True),
)

# the outbox: one row per alert to send, written in the transaction of its cause (a run's
# end, a location's failed load, a failed tick); unique per policy and cause, so a cause seen
# twice (daemons restarted, a redelivered batch) is sent once. The alert daemon sends the
# PENDING ones and keeps how it went.
alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("policy_id", sa.Integer, nullable=False),
    # the policy's, copied: the deliveries are listed across policies
    _deployment(),
    sa.Column("policy_name", sa.String(255), nullable=False),
    # what happened, once per policy: "run:<run id>", "tick:<id>", "location:<name>:<gen>"
    sa.Column("dedup_key", sa.String(255), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    # JSON of the alert (title, text, link, facts): what every channel formats
    sa.Column("alert", sa.Text, nullable=False),
    # PENDING, SENT or FAILED (gave up after the last retry)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Index("ix_alert_deliveries_dedup", "policy_id", "dedup_key", unique=True),
    sa.Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
)

# a backfill: runs of many partitions of one job, or of one asset selection, created by the
# backfill daemon in batches. The partitions are kept compactly: a range of the stored
# partitions definition (``first``..``last``), or an explicit list (``partition_list``)
backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    _deployment(),
    sa.Column("location", sa.String(255), nullable=False),
    # the job it runs, or (asset_selection) the JSON list of asset keys it materializes
    sa.Column("job_name", sa.String(255), nullable=True),
    sa.Column("asset_selection", sa.Text, nullable=True),
    # msgpack of the wire PartitionsSnapshot the keys are of, as it was at launch
    sa.Column("partitions", sa.LargeBinary, nullable=False),
    sa.Column("range_first", sa.String(255), nullable=True),
    sa.Column("range_last", sa.String(255), nullable=True),
    # JSON list of the keys, when not a range
    sa.Column("partition_list", sa.Text, nullable=True),
    sa.Column("partition_count", sa.Integer, nullable=False),
    # how many of its partitions (in order) the daemon has created the runs of
    sa.Column("created_count", sa.Integer, nullable=False),
    # REQUESTED, RUNNING, CANCELING, CANCELED, COMPLETED or FAILED
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("launched_by", sa.String(255), nullable=False),
    # the backfill whose failed partitions this one runs again
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Index("ix_backfills_status", "status"),
    sa.Index("ix_backfills_created", "deployment", "created_at", "id"),
)

# the run of each partition of a backfill: unique per partition, written in the transaction
# that creates the run, so a partition's run is created once however often its batch is tried
backfill_partitions = sa.Table(
    "backfill_partitions",
    metadata,
    sa.Column("backfill_id", sa.String(64), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    # NULL: no run could be created for it (its launch was refused: ``error`` says why)
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_backfill_partitions_run", "run_id"),
)
