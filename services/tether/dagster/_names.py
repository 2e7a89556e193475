"""Which Dagster name is what in Tether: pure data, read by ``tether.dagster``'s module
``__getattr__`` and by the test that keeps ``docs/dagster.md`` true.

``SUPPORTED`` maps a Dagster name to where Tether's counterpart lives (``module:attribute``)
and, when it does not behave exactly as Dagster's, how it differs. ``UNSUPPORTED`` maps every
other public Dagster name to what to use instead.
"""

from __future__ import annotations

_SDK = "tether.sdk"
_ADAPT = "tether.dagster."

# name -> (module:attribute, how it differs from Dagster's; "" when it does not)
SUPPORTED: dict[str, tuple[str, str]] = {
    # the definitions
    "asset": (_ADAPT + "_assets:asset",
              "automation_condition=, freshness_policy=, resource_defs=, "
              "hooks=, op_tags=, dagster_type= raise; compute_kind= is a kind; metadata= is "
              "the asset's definition metadata (values typed as MetadataValue's)"),
    "multi_asset": (_ADAPT + "_assets:multi_asset",
                    "retry_policy=, internal_asset_deps=, config_schema= raise"),
    "op": (_ADAPT + "_ops:op",
           "config_schema= takes field names to Python types or Field(...); version=, "
           "code_version= raise"),
    "job": (_ADAPT + "_ops:job",
            "config=, resource_defs=, executor_def=, logger_defs=, op_retry_policy= raise"),
    "graph": (_ADAPT + "_ops:graph", "one output; ins=, out=, config=, tags= raise"),
    "graph_asset": (_ADAPT + "_assets:graph_asset",
                    "config=, hooks=, check_specs=, backfill_policy=, "
                    "automation_condition=, resource_defs= raise"),
    "asset_check": (_ADAPT + "_assets:asset_check",
                    "additional_ins=, config_schema=, resource_defs=, metadata=, "
                    "partitions_def=, retry_policy= raise"),
    "AssetIn": (_ADAPT + "_assets:AssetIn", "metadata=, input_manager_key=, "
                                                 "dagster_type= raise"),
    "AssetOut": (_ADAPT + "_assets:AssetOut", "io_manager_key=, is_required=False raise"),
    "In": (_ADAPT + "_ops:In", "default_value=, metadata=, asset_key=, "
                                       "input_manager_key= raise"),
    "Out": (_ADAPT + "_ops:Out", "metadata=, code_version= raise"),
    "DynamicOut": (_ADAPT + "_ops:DynamicOut", "metadata=, code_version= raise"),
    "DynamicOutput": (_SDK + ":DynamicOutput", ""),
    "Output": (_ADAPT + "_ops:Output", "data_version=, tags= raise"),
    "MaterializeResult": (_ADAPT + "_ops:MaterializeResult",
                          "asset_key=, data_version=, tags=, value= raise"),
    "Nothing": (_SDK + ":Nothing", ""),
    "Definitions": (_ADAPT + "_definitions:Definitions",
                    "executor=, loggers=, metadata=, component_tree= raise"),
    "define_asset_job": (_ADAPT + "_ops:define_asset_job",
                         "config=, tags=, run_tags=, executor_def=, hooks= raise"),
    "AssetKey": (_ADAPT + "_assets:AssetKey",
                 "to_string() gives 'a/b' (Dagster's to_user_string() form, not its JSON "
                 "list), and a string with '/' is a key of several parts (Dagster: one part)"),
    "AssetSpec": (_ADAPT + "_assets:AssetSpec",
                  "skippable=, partitions_def=, automation_condition=, "
                  "freshness_policy= raise"),
    "AssetSelection": (_ADAPT + "_assets:AssetSelection",
                       "all(), keys(), assets(), groups(), upstream(), downstream(), | & -; "
                       "tag(), kind(), owner(), key_prefixes(), checks(), from_string() and "
                       "the other constructors raise"),
    "AssetsDefinition": (_SDK + ":AssetDefinition", "Tether's AssetDefinition (one asset); "
                                                    "a @multi_asset is a MultiAssetDefinition"),
    "AssetCheckResult": (_SDK + ":AssetCheckResult", ""),
    "AssetCheckSeverity": (_SDK + ":AssetCheckSeverity", ""),
    "AssetCheckSpec": (_ADAPT + "_assets:AssetCheckSpec",
                       "metadata=, automation_condition=, partitions_def= raise"),
    "AssetChecksDefinition": (_SDK + ":AssetCheckDefinition", "Tether's AssetCheckDefinition "
                                                              "(one check)"),
    "OpDefinition": (_SDK + ":OpDefinition", "Tether's OpDefinition"),
    "JobDefinition": (_SDK + ":JobDefinition", "Tether's JobDefinition"),
    "GraphDefinition": (_SDK + ":GraphDefinition", "Tether's GraphDefinition"),
    "load_assets_from_modules": (_ADAPT + "_assets:load_assets_from_modules",
                                 "AssetSpecs are always included; automation_condition=, "
                                 "source_key_prefix= raise"),
    "load_assets_from_package_module": (_ADAPT + "_assets:load_assets_from_package_module",
                                        "AssetSpecs are always included; "
                                        "automation_condition=, source_key_prefix= raise"),
    # contexts
    "AssetExecutionContext": (_SDK + ":OpContext",
                              "Tether's OpContext: log, resources, op_config, run_id, "
                              "job_name, asset_key (a string 'a/b'), partition_key, "
                              "partition_time_window, add_output_metadata, "
                              "selected_asset_keys; no instance, run_tags, asset_partition_*"),
    "OpExecutionContext": (_SDK + ":OpContext", "Tether's OpContext (see "
                                                "AssetExecutionContext)"),
    "InitResourceContext": (_SDK + ":InitResourceContext", "run_id, job_name, log, resources; "
                                                           "no resource_config"),
    "HookContext": (_SDK + ":HookContext", "Tether's HookContext"),
    "HookDefinition": (_SDK + ":HookDefinition", "Tether's HookDefinition"),
    "InputContext": (_SDK + ":InputContext", "asset_key is the key's string ('a/b'); no "
                                             "metadata, config"),
    "OutputContext": (_SDK + ":OutputContext", "asset_key is the key's string ('a/b'); no "
                                               "metadata, config"),
    "build_op_context": (_ADAPT + "_testing:build_op_context",
                         "partition_key=, resources_config=, instance= raise"),
    "build_asset_context": (_ADAPT + "_testing:build_asset_context",
                            "partition_key=, resources_config=, instance= raise"),
    "materialize": (_ADAPT + "_testing:materialize",
                    "values stay in memory unless resources= gives an io_manager; instance=, "
                    "tags= raise"),
    "materialize_to_memory": (_ADAPT + "_testing:materialize_to_memory", ""),
    "ExecuteInProcessResult": (_SDK + ":ExecuteInProcessResult",
                               "success, events, output_for_node(), asset_value(), "
                               "get_asset_check_evaluations()"),
    # config and resources
    "Config": (_ADAPT + "_config:Config", "a msgspec Struct: fields with Python types; "
                                          "pydantic validators are not run"),
    "Field": (_ADAPT + "_config:Field", "also takes pydantic's default=, description= for "
                                        "Config classes (pydantic.Field is read too); "
                                        "default_factory= raises"),
    "ConfigurableResource": (_ADAPT + "_config:ConfigurableResource",
                             "a msgspec Struct; setup_for_execution/teardown_after_execution; "
                             "no yield_for_execution"),
    "ConfigurableIOManager": (_ADAPT + "_config:ConfigurableIOManager", "as "
                                                                        "ConfigurableResource"),
    "EnvVar": (_ADAPT + "_config:EnvVar", "a resource field value, read when a step first "
                                          "needs the resource; get_value() and env_var_name "
                                          "as Dagster's; not a str subclass"),
    "IOManager": (_SDK + ":IOManager", ""),
    "resource": (_ADAPT + "_ops:resource",
                 "config_schema=, required_resource_keys=, version= raise"),
    "ResourceDefinition": (_SDK + ":ResourceDefinition", "Tether's ResourceDefinition"),
    "MetadataValue": (_ADAPT + "_metadata:MetadataValue",
                      "text, int, float, url, path, json, md, bool, null; table, timestamp, "
                      "asset, job and the others raise"),
    # retries and hooks
    "RetryPolicy": (_SDK + ":RetryPolicy", ""),
    "Backoff": (_SDK + ":Backoff", ""),
    "Jitter": (_SDK + ":Jitter", ""),
    "RetryRequested": (_SDK + ":RetryRequested", ""),
    "success_hook": (_ADAPT + "_ops:success_hook", "required_resource_keys= raises"),
    "failure_hook": (_ADAPT + "_ops:failure_hook", "required_resource_keys= raises"),
    # partitions
    "PartitionsDefinition": (_SDK + ":PartitionsDefinition", ""),
    "TimeWindowPartitionsDefinition": (_SDK + ":TimeWindowPartitionsDefinition",
                                       "keyword-only unit=, start=, fmt=; use the daily, "
                                       "hourly, weekly or monthly definitions"),
    "HourlyPartitionsDefinition": (_ADAPT + "_partitions:HourlyPartitionsDefinition",
                                   "end_date=, exclusions= raise"),
    "DailyPartitionsDefinition": (_ADAPT + "_partitions:DailyPartitionsDefinition",
                                  "end_date=, exclusions= raise"),
    "WeeklyPartitionsDefinition": (_ADAPT + "_partitions:WeeklyPartitionsDefinition",
                                   "end_date=, exclusions= raise"),
    "MonthlyPartitionsDefinition": (_ADAPT + "_partitions:MonthlyPartitionsDefinition",
                                    "end_date=, exclusions= raise"),
    "StaticPartitionsDefinition": (_SDK + ":StaticPartitionsDefinition", ""),
    "MultiPartitionsDefinition": (_SDK + ":MultiPartitionsDefinition",
                                  "keys are 'a|b' strings (no MultiPartitionKey)"),
    "DynamicPartitionsDefinition": (_ADAPT + "_partitions:DynamicPartitionsDefinition",
                                    "partition_fn= raises; give name="),
    "AddDynamicPartitionsRequest": (_SDK + ":AddDynamicPartitionsRequest", ""),
    "DeleteDynamicPartitionsRequest": (_SDK + ":DeleteDynamicPartitionsRequest", ""),
    "PartitionKeyRange": (_SDK + ":PartitionKeyRange", ""),
    "BackfillPolicy": (_SDK + ":BackfillPolicy",
                       "a backfill chunks only when every asset it runs has one policy"),
    "PartitionMapping": (_SDK + ":PartitionMapping", ""),
    "IdentityPartitionMapping": (_SDK + ":IdentityPartitionMapping", ""),
    "AllPartitionMapping": (_SDK + ":AllPartitionMapping", ""),
    "TimeWindowPartitionMapping": (_ADAPT + "_partitions:TimeWindowPartitionMapping",
                                   "allow_nonexistent_upstream_partitions= raises"),
    "TimeWindow": (_SDK + ":TimeWindow", ""),
    # schedules and sensors
    "ScheduleDefinition": (_ADAPT + "_schedules:ScheduleDefinition",
                           "one cron string; tags_fn=, should_execute=, metadata= raise; "
                           "execution_timezone reads UTC when not given (Dagster's: None); "
                           "no evaluate_tick() (call a @schedule with a context)"),
    "schedule": (_ADAPT + "_schedules:schedule",
                 "one cron string; tags_fn=, should_execute=, metadata= raise"),
    "sensor": (_ADAPT + "_sensors:sensor",
               "jobs=, required_resource_keys=, tags=, metadata= raise"),
    "SensorDefinition": (_ADAPT + "_sensors:SensorDefinition",
                         "build it with @sensor (keyword-only arguments)"),
    "DefaultScheduleStatus": (_ADAPT + "_automation:DefaultScheduleStatus", ""),
    "DefaultSensorStatus": (_ADAPT + "_automation:DefaultSensorStatus", ""),
    "RunRequest": (_ADAPT + "_automation:RunRequest",
                   "asset_selection=, stale_assets_only=, asset_check_keys= raise"),
    "SkipReason": (_ADAPT + "_automation:SkipReason", ""),
    "SensorResult": (_ADAPT + "_automation:SensorResult", "asset_events= raises"),
    "ScheduleEvaluationContext": (_ADAPT + "_automation:ScheduleEvaluationContext",
                                  "scheduled_execution_time only (no instance, resources)"),
    "SensorEvaluationContext": (_ADAPT + "_automation:SensorEvaluationContext",
                                "cursor, update_cursor(), last_tick_completion_time only "
                                "(no instance, resources)"),
    "build_schedule_context": (_ADAPT + "_automation:build_schedule_context",
                               "instance=, resources= raise"),
    "build_sensor_context": (_ADAPT + "_automation:build_sensor_context",
                             "instance=, resources= raise"),
    "build_schedule_from_partitioned_job": (
        _ADAPT + "_schedules:build_schedule_from_partitioned_job",
        "the schedule follows the partitions' offsets: minute_of_hour=, hour_of_day=, "
        "cron_schedule=, tags= raise"),
    "DagsterRunStatus": (_ADAPT + "_sensors:DagsterRunStatus",
                         "STARTED, SUCCESS, FAILURE, CANCELED only"),
    "run_status_sensor": (_ADAPT + "_sensors:run_status_sensor",
                          "request_job= is required; job_selection=, request_jobs= raise"),
    "RunStatusSensorContext": (_SDK + ":RunStatusSensorContext", "Tether's: run_id, "
                                                                 "job_name, status, error"),
    "RunFailureSensorContext": (_SDK + ":RunStatusSensorContext", "Tether's "
                                                                  "RunStatusSensorContext"),
    "run_failure_sensor": (_ADAPT + "_sensors:run_failure_sensor",
                           "request_job= is required (to be told of failures, create an "
                           "alert)"),
    "asset_sensor": (_ADAPT + "_sensors:asset_sensor",
                     "the event is Tether's materialization record; jobs= raises"),
    "multi_asset_sensor": (_ADAPT + "_sensors:multi_asset_sensor",
                           "its context is Tether's MultiAssetSensorContext; jobs=, "
                           "required_resource_keys=, tags=, metadata= raise"),
    "MultiAssetSensorEvaluationContext": (_SDK + ":MultiAssetSensorContext",
                                          "Tether's MultiAssetSensorContext"),
}

_CONFIG = ("declare config as a Config class (fields with Python types and defaults) or "
           "op(config_schema={'name': int}); give the run config as a dict")
_TYPES = ("annotate with Python types; check values in the function or with an "
          "@asset_check")
_RECORDS = "read runs, events and assets through Tether's GraphQL API or the `tether` CLI"
_EXECUTOR = ("give @tether.job(executor=tether.sdk.Executor(...)) or the run config's "
             "execution section")
_LOGGING = "log with context.log (each call is an event of the run); stdout and stderr are kept"
_IO = ("Tether's default io_manager already pickles each output under the agent's storage "
       "folder; for your own storage subclass ConfigurableIOManager")
_METADATA = ("build metadata values with MetadataValue.text/int/float/url/path/json/md/bool, "
             "or give plain values")
_CODE_REFS = "drop the call: link the source in the asset's description"
_COMPONENTS = "declare Definitions in Python: a code location is a Python file or module"
_PIPES = ("run the external process from an @asset or @op with subprocess; its stdout and "
          "stderr are captured")
_AUTOMATION = ("materialize on a schedule or from a sensor; check freshness with an "
               "@asset_check")
_ERRORS = "catch tether.errors.TetherError or one of its subclasses (DefinitionError, ...)"
_LAUNCH = ("choose where runs execute with the agent's launch target (process, warm, rq, "
           "docker, kubernetes)")
_REPOSITORY = "define one Definitions per code location (tether location deploy)"
_RESOURCES = ("give resources to Definitions(resources={...}); a step takes one by a "
              "parameter annotated with its class, or reads context.resources.<name>")
_WIRING = "wire ops by calling them in a @job or @graph body"
_PARTITIONS = ("use IdentityPartitionMapping, TimeWindowPartitionMapping or "
               "AllPartitionMapping; multi-partition keys are 'a|b' strings")
_CHECKS = "declare each check with @asset_check or an asset's check_specs="
_EVENTS = ("return MaterializeResult(metadata=...) or Output(value, metadata=...), or an "
           "AssetCheckResult")
_SENSORS = "define it with @sensor, @asset_sensor, @run_status_sensor or @multi_asset_sensor"
_WARNINGS = "Tether has no beta or preview APIs to warn about"

_GROUPS: dict[str, tuple[str, ...]] = {
    _CONFIG: (
        "Array", "Bool", "BoolSource", "ConfigMapping", "ConfigSchema", "ConfigArgumentWarning",
        "Dict", "Enum", "EnumValue", "Float", "Int", "IntSource", "List", "Map", "Noneable",
        "Optional", "PartitionedConfig", "Permissive", "PermissiveConfig", "RunConfig",
        "ScalarUnion", "Selector", "Set", "Shape", "String", "StringSource", "Tuple",
        "config_from_files", "config_from_pkg_resources", "config_from_yaml_strings",
        "config_mapping", "configured", "daily_partitioned_config",
        "dynamic_partitioned_config", "hourly_partitioned_config",
        "monthly_partitioned_config", "partitioned_config", "static_partitioned_config",
        "validate_run_config", "weekly_partitioned_config"),
    _TYPES: (
        "DagsterType", "DagsterTypeLoader", "DagsterTypeLoaderContext",
        "PythonObjectDagsterType", "TypeCheck", "TypeCheckContext", "check_dagster_type",
        "dagster_type_loader", "make_python_type_usable_as_dagster_type",
        "usable_as_dagster_type"),
    _RECORDS: (
        "AssetPartitionStatus", "AssetRecordsFilter", "AssetValueLoader", "DagsterEvent",
        "DagsterEventType", "DagsterInstance", "DagsterRun", "DefaultRunLauncher",
        "EventLogEntry", "EventLogRecord", "EventRecordsFilter", "EventRecordsResult",
        "MigrateIOStorageResult", "PaginatedResults", "QueuedRunCoordinator", "RunRecord",
        "RunShardedEventsCursor", "RunStatusChangeRecordsFilter", "RunsFilter",
        "SubmitRunContext", "UPathDefsStateStorage", "instance_for_test",
        "migrate_io_storage", "MAX_RUNTIME_SECONDS_TAG"),
    _LAUNCH: (
        "StepLauncher", "StepRunRef", "StepExecutionContext", "external_instance_from_step_run_ref",
        "run_step_from_ref", "step_context_to_step_run_ref", "step_run_ref_to_step_context",
        "reconstructable", "build_reconstructable_job"),
    _EXECUTOR: (
        "Executor", "ExecutorDefinition", "ExecutorRequirement", "InitExecutorContext",
        "executor", "in_process_executor", "multi_or_in_process_executor",
        "multiple_process_executor_requirements", "multiprocess_executor"),
    _LOGGING: (
        "DagsterLogManager", "InitLoggerContext", "JsonLogFormatter", "LoggerDefinition",
        "build_init_logger_context", "colored_console_logger", "default_loggers",
        "default_system_loggers", "get_dagster_logger", "json_console_logger", "logger"),
    _IO: (
        "ConfigurableIOManagerFactory", "ConfigurableLegacyIOManagerAdapter", "FileHandle",
        "FilesystemIOManager", "IOManagerDefinition", "InMemoryIOManager", "InputManager",
        "InputManagerDefinition", "LocalFileHandle", "UPathIOManager",
        "custom_path_fs_io_manager", "fs_io_manager", "input_manager", "io_manager",
        "local_file_manager", "mem_io_manager", "build_input_context", "build_output_context"),
    _METADATA: (
        "BoolMetadataValue", "CodeReferencesMetadataValue", "DagsterAssetMetadataValue",
        "DagsterJobMetadataValue", "DagsterRunMetadataValue", "FloatMetadataValue",
        "IntMetadataValue", "JsonMetadataValue", "MarkdownMetadataValue", "MetadataEntry",
        "NotebookMetadataValue", "NullMetadataValue", "PathMetadataValue",
        "PoolMetadataValue", "PythonArtifactMetadataValue", "TableColumn",
        "TableColumnConstraints", "TableColumnDep", "TableColumnLineage",
        "TableColumnLineageMetadataValue", "TableConstraints", "TableMetadataValue",
        "TableRecord", "TableSchema", "TableSchemaMetadataValue", "TextMetadataValue",
        "TimestampMetadataValue", "UrlMetadataValue"),
    _CODE_REFS: (
        "AnchorBasedFilePathMapping", "FilePathMapping", "LocalFileCodeReference",
        "UrlCodeReference", "link_code_references_to_git", "with_source_code_references"),
    _COMPONENTS: (
        "AssetAttributesModel", "Component", "ComponentFormConfig", "ComponentLoadContext",
        "ComponentTree", "ComponentTypeSpec", "DefinitionsComponent", "DefsFolderComponent",
        "FunctionComponent", "Model", "PythonScriptComponent", "Resolvable",
        "ResolutionContext", "ResolvedAssetCheckSpec", "ResolvedAssetKey", "ResolvedAssetSpec",
        "Resolver", "ScaffoldRequest", "Scaffolder", "SqlComponent", "StateBackedComponent",
        "TemplatedSqlComponent", "UvRunComponent", "build_component_defs",
        "build_defs_for_component", "component_defs", "component_instance", "definitions",
        "get_all_components_defs_within_project", "get_component_defs_within_project",
        "load_defs", "load_from_defs_folder", "scaffold_component", "scaffold_with",
        "template_var"),
    _PIPES: (
        "PipesBlobStoreMessageReader", "PipesClient", "PipesClientCompletedInvocation",
        "PipesCompositeMessageReader", "PipesContextInjector", "PipesEnvContextInjector",
        "PipesExecutionResult", "PipesFileContextInjector", "PipesFileMessageReader",
        "PipesLaunchedData", "PipesLogReader", "PipesMessageHandler", "PipesMessageReader",
        "PipesSession", "PipesSubprocessClient", "PipesTempFileContextInjector",
        "PipesTempFileMessageReader", "open_pipes_session"),
    _AUTOMATION: (
        "AutoMaterializeAssetPartitionsFilter", "AutoMaterializePolicy", "AutoMaterializeRule",
        "AutomationCondition", "AutomationConditionSensorDefinition", "AutomationContext",
        "AutomationResult", "EvaluateAutomationConditionsResult",
        "FreshnessPolicy", "LegacyFreshnessPolicy", "apply_freshness_policy",
        "build_last_update_freshness_checks", "build_sensor_for_freshness_checks",
        "build_time_partition_freshness_checks", "evaluate_automation_conditions"),
    _ERRORS: (
        "DagsterConfigMappingFunctionError", "DagsterError", "DagsterEventLogInvalidForRun",
        "DagsterExecutionInterruptedError", "DagsterExecutionStepExecutionError",
        "DagsterExecutionStepNotFoundError", "DagsterInvalidConfigDefinitionError",
        "DagsterInvalidConfigError", "DagsterInvalidDefinitionError",
        "DagsterInvalidInvocationError", "DagsterInvalidSubsetError",
        "DagsterInvariantViolationError", "DagsterResourceFunctionError",
        "DagsterRunNotFoundError", "DagsterStepOutputNotFoundError", "DagsterSubprocessError",
        "DagsterTypeCheckDidNotPass", "DagsterTypeCheckError", "DagsterUnknownPartitionError",
        "DagsterUnknownResourceError", "DagsterUnmetExecutorRequirementsError",
        "DagsterUserCodeExecutionError", "raise_execution_interrupts"),
    _REPOSITORY: (
        "BindResourcesToJobs", "CodeLocationSelector", "JobSelector", "RepositoryData",
        "RepositoryDefinition", "RepositorySelector", "create_repository_using_definitions_args",
        "load_asset_checks_from_current_module", "load_asset_checks_from_modules",
        "load_asset_checks_from_package_module", "load_asset_checks_from_package_name",
        "load_assets_from_current_module", "load_assets_from_package_name",
        "load_definitions_from_current_module", "load_definitions_from_module",
        "load_definitions_from_modules", "load_definitions_from_package_module",
        "load_definitions_from_package_name", "repository", "DagsterLibraryRegistry",
        "AssetJobKey"),
    _RESOURCES: (
        "IAttachDifferentObjectToOpContext", "Injected", "ResourceDependency", "ResourceParam",
        "build_init_resource_context", "build_resources", "make_values_resource", "resources",
        "with_resources"),
    _WIRING: (
        "DependencyDefinition", "GraphIn", "GraphOut", "InputMapping", "MultiDependencyDefinition",
        "NodeInvocation", "OutputMapping", "PendingNodeInvocation", "graph_multi_asset"),
    _PARTITIONS: (
        "DimensionPartitionMapping", "LastPartitionMapping", "MultiPartitionKey",
        "MultiPartitionMapping", "MultiToSingleDimensionPartitionMapping", "Partition",
        "SpecificPartitionsPartitionMapping", "StaticPartitionMapping",
        "partition_loading_context"),
    _CHECKS: (
        "AssetCheckExecutionContext", "AssetCheckKey", "AssetOrCheckKey",
        "build_asset_check_context", "build_column_schema_change_checks",
        "build_metadata_bounds_checks", "multi_asset_check"),
    _EVENTS: (
        "AssetCheckEvaluation", "AssetMaterialization", "AssetObservation",
        "ExpectationResult", "ObserveResult", "Failure"),
    _SENSORS: (
        "AssetSensorDefinition", "MultiAssetSensorDefinition", "RunStatusSensorDefinition",
        "SensorReturnTypesUnion", "build_multi_asset_sensor_context",
        "build_run_status_sensor_context"),
    _WARNINGS: ("BetaWarning", "PreviewWarning", "SupersessionWarning", "deprecation_warning"),
}

UNSUPPORTED: dict[str, str] = {name: instead for instead, names in _GROUPS.items()
                               for name in names}
UNSUPPORTED.update({
    "AssetDep": "give deps=[key or asset, ...]; a partition mapping goes in "
                "partition_mappings= of the @asset",
    "SourceAsset": "declare it as AssetSpec(key) in Definitions(assets=[...]): produced "
                   "outside Tether",
    "observable_source_asset": "declare it as AssetSpec(key); observe it from a sensor",
    "multi_observable_source_asset": "declare each as AssetSpec(key); observe them from a "
                                     "sensor",
    "DataVersion": "give code_version= on assets",
    "DataVersionsByPartition": "give code_version= on assets",
    "DataProvenance": "give code_version= on assets",
    "JobExecutionResult": "use ExecuteInProcessResult (job.execute_in_process(...))",
    "ReexecutionOptions": "re-execute from the run page or the GraphQL reexecuteRun "
                          "mutation",
    "execute_job": "launch with `tether run launch` or GraphQL, or call "
                   "job.execute_in_process(...) in a test",
    "HookExecutionResult": "call the hook's function directly in a test",
    "build_hook_context": "call the hook's function directly in a test",
    "make_email_on_run_failure_sensor": "create an alert: `tether alert create`",
    "map_asset_specs": "build the AssetSpec objects with a list comprehension",
    "serialize_value": "use msgspec or json",
    "deserialize_value": "use msgspec or json",
    "file_relative_path": "use os.path.join(os.path.dirname(__file__), path)",
})
