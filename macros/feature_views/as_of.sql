{#
  The rows of a feature table that were valid at one instant: one row per
  entity at most, exactly what a point-in-time join would pick at that time.

  Args:
    relation: a feature table built with valid_intervals (a ref or source).
    timestamp: a literal 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]' (UTC), or any SQL
      expression of timestamp type, e.g. a column or feature_layer.utc_now().

  >>> select * from {{ feature_layer.as_of(ref('user_profile'), '2024-03-01 12:00:00') }}
#}
{% macro as_of(relation, timestamp) %}
  {{ return(adapter.dispatch('as_of', 'feature_layer')(relation, timestamp)) }}
{% endmacro %}

{% macro default__as_of(relation, timestamp) -%}
  {%- if timestamp is none or timestamp == '' -%}
    {{ exceptions.raise_compiler_error("featurelayer: as_of() needs a timestamp, e.g. '2024-03-01 12:00:00'. Got: " ~ timestamp) }}
  {%- endif -%}
  {%- set literal = modules.re.match('^\\d{4}-\\d{2}-\\d{2}([ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?)?$', timestamp | string) -%}
  {%- set instant = "cast('" ~ timestamp ~ "' as " ~ dbt.type_timestamp() ~ ")" if literal else timestamp -%}
  (
    select *
    from {{ relation }}
    where valid_from <= {{ instant }}
      and valid_to > {{ instant }}
  )
{%- endmacro %}
