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

  Output: every column of `source`, plus `valid_from` (= the event timestamp)
  and `valid_to` (exclusive). A row that is current has
  valid_to = feature_layer.open_valid_to(), a far-future sentinel rather than
  NULL: range joins (DuckDB's IEJoin, most warehouses' interval joins) need a
  non-null bound, and analysts can write the range test without coalesce.
  With a ttl, valid_to is at most event_timestamp + ttl + 1 microsecond,
  because the ttl bound is inclusive and valid_to is exclusive (timestamps
  have microsecond precision in every supported warehouse).

  Rows that lose a tie get an empty interval and are dropped, so exact
  duplicates disappear without a DISTINCT over every column.

  >>> -- models/features/user_activity.sql
  >>> with daily as (...)
  >>> {{ feature_layer.valid_intervals('daily') }}
#}
{% macro valid_intervals(source, entity_keys=none, timestamp=none, created_timestamp=none, ttl=none) %}
  {{ return(adapter.dispatch('valid_intervals', 'feature_layer')(source, entity_keys, timestamp, created_timestamp, ttl)) }}
{% endmacro %}


{% macro default__valid_intervals(source, entity_keys, timestamp, created_timestamp, ttl) %}
  {%- set fv = feature_layer._feature_view_config(entity_keys, timestamp, created_timestamp, ttl) -%}
  {%- set order_by = ['fl_source.' ~ fv.timestamp] -%}
  {%- if fv.created_timestamp -%}
    {%- do order_by.append('fl_source.' ~ fv.created_timestamp ~ ' nulls first') -%}
  {%- endif -%}
  {%- set next_event -%}
    coalesce(
        lead(fl_source.{{ fv.timestamp }}) over (
            partition by {% for key in fv.entity_keys %}fl_source.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            order by {{ order_by | join(', ') }}
        ),
        {{ feature_layer.open_valid_to() }}
    )
  {%- endset %}

select *
from (
    select
        fl_source.*,
        fl_source.{{ fv.timestamp }} as valid_from,
        {%- if fv.ttl_seconds is not none %}
        least(
            {{ next_event | indent(8) }},
            {{ dbt.dateadd('second', fv.ttl_seconds, dbt.dateadd('microsecond', 1, 'fl_source.' ~ fv.timestamp)) }}
        ) as valid_to
        {%- else %}
        {{ next_event }} as valid_to
        {%- endif %}
    from {{ source }} as fl_source
    where fl_source.{{ fv.timestamp }} is not null
) as fl_intervals
where valid_from < valid_to
{% endmacro %}
