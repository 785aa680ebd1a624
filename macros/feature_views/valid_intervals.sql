{#
  Turns feature rows into slowly-changing-dimension rows with validity
  intervals, so that a point-in-time lookup is the plain range join

      t >= valid_from and t < valid_to

  with Feast's semantics: per entity, the row with the greatest
  event timestamp <= t wins; among rows with the same event timestamp the
  greatest created timestamp wins (a missing created timestamp loses to any
  present one); with a ttl a row is used only while event_timestamp >= t - ttl.

  Args:
    source: a relation (ref/source) or the name of a CTE in the calling model.
    entity_keys, timestamp, created_timestamp, ttl: override the model's
      `config.meta.feature_layer`; normally left out.

  Output: every column of `source`, plus `valid_from` (= the event timestamp),
  `valid_to` (exclusive) and `_fl_snapshot`, the build's version (see below). A row that is current has
  valid_to = feature_layer.open_valid_to(), a far-future sentinel rather than
  NULL: range joins (DuckDB's IEJoin, most warehouses' interval joins) need a
  non-null bound, and analysts can write the range test without coalesce.
  With a ttl, valid_to is at most event_timestamp + ttl + 1 microsecond,
  because the ttl bound is inclusive and valid_to is exclusive (timestamps
  have microsecond precision in every supported warehouse).

  A row superseded by a later-created row with the same event timestamp (a
  correction) is kept with an empty interval, valid_from = valid_to: it never
  matches a lookup, but "what was known at t" queries
  (get_historical_features(as_known_at_time=True)) can still find it. Rows
  that tie on every ordering column (exact duplicates) are dropped, so
  duplicates disappear without a DISTINCT over every column.

  `_fl_snapshot` stamps every row with the instant of the build that wrote
  it (µs since the epoch, a bigint), kept increasing across builds of the
  model as greatest(now, previous max + 1) even when clocks step back. A sync
  reads max(_fl_snapshot) in the same transaction as its rows: that is the
  version of what it read, and the online store orders writes by it, so a
  rebuild that removed or corrected rows (a rollback) replaces what an earlier
  build's sync wrote, and a slow sync of an older build never overwrites a
  newer one's (docs/online-store.md). Restoring an older copy of the table
  without a rebuild moves the version back: rebuild instead.

  >>> -- models/features/user_activity.sql
  >>> with daily as (...)
  >>> {{ feature_layer.valid_intervals('daily') }}
#}
{% macro valid_intervals(source, entity_keys=none, timestamp=none, created_timestamp=none, ttl=none) %}
  {{ return(adapter.dispatch('valid_intervals', 'feature_layer')(source, entity_keys, timestamp, created_timestamp, ttl)) }}
{% endmacro %}


{% macro default__valid_intervals(source, entity_keys, timestamp, created_timestamp, ttl) %}
  {%- set fv = feature_layer._feature_view_config(entity_keys, timestamp, created_timestamp, ttl) -%}
  {%- set ts = 'fl_source.' ~ fv.timestamp -%}
  {%- set created = ('fl_source.' ~ fv.created_timestamp) if fv.created_timestamp else none -%}
  {%- set window -%}
    over (
            partition by {% for key in fv.entity_keys %}fl_source.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            order by {{ ts }}{% if created %}, {{ created }} nulls first{% endif %}
        )
  {%- endset -%}
  {%- set next_event = 'lead(' ~ ts ~ ') ' ~ window -%}
  {%- set next_valid_to -%}
    coalesce({{ next_event }}, {{ feature_layer.open_valid_to() }})
  {%- endset %}

select *
from (
    select
        fl_source.*,
        {{ ts }} as valid_from,
        case
            -- the next row ties on every ordering column: an exact duplicate, or
            -- an ambiguous tie; the last one of the run is kept, this one dropped
            when {{ next_event }} = {{ ts }}
                {%- if created %}
                and lead({{ created }}) {{ window }} is not distinct from {{ created }}
                {%- endif %}
                then null
            {%- if fv.ttl_seconds is not none %}
            else least(
                {{ next_valid_to }},
                {{ dbt.dateadd('second', fv.ttl_seconds, dbt.dateadd('microsecond', 1, ts)) }}
            )
            {%- else %}
            else {{ next_valid_to }}
            {%- endif %}
        end as valid_to,
        {{ feature_layer._snapshot_version() }} as _fl_snapshot
    from {{ source }} as fl_source
    where {{ ts }} is not null
) as fl_intervals
where valid_to is not null
{% endmacro %}


{#
  The build's version for `_fl_snapshot`: now in µs, and above every version
  the model's table already holds, so versions only grow from build to build.
  A unit test (no table of its own) gets the plain instant.
#}
{% macro _snapshot_version() %}
  {%- set previous = none -%}
  {#- only a table keeps its rows between builds; a view (or ephemeral model) would read itself -#}
  {%- set kept = config.get('materialized') in ('table', 'incremental') if execute else false -%}
  {%- if kept and this is defined and model is defined and model.tested_node_unique_id is not defined -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if existing is not none -%}
      {%- set names = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
      {%- if '_fl_snapshot' in names -%}{%- set previous = existing -%}{%- endif -%}
    {%- endif -%}
  {%- endif -%}
  {%- if previous is none -%}
    {{ return(feature_layer._now_micros()) }}
  {%- else -%}
    {{ return('greatest(' ~ feature_layer._now_micros() ~ ', (select coalesce(max(_fl_snapshot), 0) + 1 from ' ~ previous ~ '))') }}
  {%- endif -%}
{% endmacro %}


{#
  The current transaction's start in µs since the epoch, as a bigint: one value
  for every row of a build (current_timestamp is fixed per transaction in
  DuckDB and PostgreSQL).
#}
{% macro _now_micros() %}
  {{ return(adapter.dispatch('_now_micros', 'feature_layer')()) }}
{% endmacro %}

{% macro default___now_micros() -%}
  cast(extract(epoch from current_timestamp) * 1000000 as bigint)
{%- endmacro %}

{# DuckDB has an exact integer function; extract(epoch) is a double there. #}
{% macro duckdb___now_micros() -%}
  epoch_us(current_timestamp)
{%- endmacro %}

{# Spark and BigQuery spell it unix_micros; neither has extract(epoch). #}
{% macro spark___now_micros() -%}
  unix_micros(current_timestamp())
{%- endmacro %}

{% macro bigquery___now_micros() -%}
  unix_micros(current_timestamp())
{%- endmacro %}

{% macro snowflake___now_micros() -%}
  date_part(epoch_microsecond, current_timestamp())
{%- endmacro %}

{% macro trino___now_micros() -%}
  cast(to_unixtime(current_timestamp) * 1000000 as bigint)
{%- endmacro %}
