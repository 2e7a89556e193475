"""The tags that say who or what launched a run and where it came from, which Tether sets
itself. (Tags that change how a run is handled live with their code: ``tether/priority`` in
``_queue``, ``tether/max_retries`` in ``_retries``.)"""

from __future__ import annotations

# the user whose token launched the run
LAUNCHED_BY_TAG = "tether/user"
# the schedule or sensor whose tick asked for the run
SCHEDULE_TAG = "tether/schedule"
SENSOR_TAG = "tether/sensor"
TICK_TAGS = {"schedule": SCHEDULE_TAG, "sensor": SENSOR_TAG}
# the run a re-execution repeats, and the first run of that chain of re-executions
PARENT_TAG = "tether/parent_run_id"
ROOT_TAG = "tether/root_run_id"
# the backfill that created the run (one run per partition of it)
BACKFILL_TAG = "tether/backfill"

# a re-execution gets its own; every other tag carries over (a re-executed run of a backfill
# is not one of its runs: the backfill has one run per partition)
ORIGIN_TAGS = frozenset({LAUNCHED_BY_TAG, SCHEDULE_TAG, SENSOR_TAG, PARENT_TAG, ROOT_TAG,
                         BACKFILL_TAG})
