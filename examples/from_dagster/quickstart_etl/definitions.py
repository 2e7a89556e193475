import tether.dagster as dg

from .defs.assets import most_frequent_words, topstories, topstory_ids

daily_refresh_schedule = dg.ScheduleDefinition(
    job=dg.define_asset_job(name="all_assets_job"), cron_schedule="0 0 * * *"
)


@dg.op
def foo_op():
    return 5


@dg.graph_asset
def my_asset():
    return foo_op()


# Dagster's example passes these through with_source_code_references and
# link_code_references_to_git, which Tether does not have (see docs/dagster.md)
my_assets = [
    my_asset,
    topstory_ids,
    topstories,
    most_frequent_words,
]

defs = dg.Definitions(
    assets=my_assets,
    schedules=[daily_refresh_schedule],
)
