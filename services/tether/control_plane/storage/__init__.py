"""The control plane's metadata store (SQLAlchemy Core 2 + Alembic; SQLite or PostgreSQL).

The event log of each run is the source of truth; the ``runs`` row is its projection
(:mod:`._projection`), written in the same transaction and rebuildable with
:meth:`Store.rebuild_run`.
"""

from ._agents import LIVENESS_SECONDS, AgentRecord
from ._alerts import DeliveryRecord, DeliveryStatus, PolicyRecord
from ._assets import AssetState, AssetStatus
from ._automation import AutomationRecord, KeyedRun, TickRecord, TickStatus
from ._backfills import BackfillRecord, BackfillSpec, BackfillStatus
from ._deployments import DeploymentRecord
from ._engine import normalize_url
from ._migrate import alembic_config
from ._partition_status import AssetPartitionStatus, PartitionState
from ._projection import TERMINAL_STATUSES, Fact, Projection, RunStatus, advance, fact_of, fold
from ._queue import PRIORITY_TAG, QueueLimits
from ._records import (
    Actor,
    AuditEntry,
    CheckEvaluation,
    CheckSummary,
    EventRecord,
    LocationRecord,
    LocationStatus,
    LogRecord,
    Materialization,
    Role,
    RunRecord,
    SessionInfo,
    StepSpan,
    TokenInfo,
    TokenKind,
    TokenRecord,
    WorkStatus,
)
from ._reexecution import FromFailure, ReexecutionStrategy, steps_from_failure
from ._retries import will_retry
from ._run_config import Scaffold, config_scaffold, run_config_errors
from ._run_page import RunFacts
from ._schema import PROD, metadata
from ._store import Store
from ._tags import BACKFILL_TAG, LAUNCHED_BY_TAG, PARENT_TAG, ROOT_TAG, SCHEDULE_TAG, SENSOR_TAG

__all__ = [
    "BACKFILL_TAG",
    "LAUNCHED_BY_TAG",
    "LIVENESS_SECONDS",
    "PARENT_TAG",
    "PRIORITY_TAG",
    "PROD",
    "ROOT_TAG",
    "SCHEDULE_TAG",
    "SENSOR_TAG",
    "TERMINAL_STATUSES",
    "Actor",
    "AgentRecord",
    "AssetPartitionStatus",
    "AssetState",
    "AssetStatus",
    "AuditEntry",
    "AutomationRecord",
    "BackfillRecord",
    "BackfillSpec",
    "BackfillStatus",
    "CheckEvaluation",
    "CheckSummary",
    "DeliveryRecord",
    "DeliveryStatus",
    "DeploymentRecord",
    "EventRecord",
    "Fact",
    "FromFailure",
    "KeyedRun",
    "LocationRecord",
    "LocationStatus",
    "LogRecord",
    "Materialization",
    "PartitionState",
    "PolicyRecord",
    "Projection",
    "QueueLimits",
    "ReexecutionStrategy",
    "Role",
    "RunFacts",
    "RunRecord",
    "RunStatus",
    "Scaffold",
    "SessionInfo",
    "StepSpan",
    "Store",
    "TickRecord",
    "TickStatus",
    "TokenInfo",
    "TokenKind",
    "TokenRecord",
    "WorkStatus",
    "advance",
    "alembic_config",
    "config_scaffold",
    "fact_of",
    "fold",
    "metadata",
    "normalize_url",
    "run_config_errors",
    "steps_from_failure",
    "will_retry",
]
