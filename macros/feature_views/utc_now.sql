{#
  The current instant as a time-zone-naive UTC timestamp, the type every
  feature table stores. Standard SQL `at time zone` works in DuckDB and
  PostgreSQL whatever the session time zone is.
#}
{% macro utc_now() %}
  {{ return(adapter.dispatch('utc_now', 'feature_layer')()) }}
{% endmacro %}

{% macro default__utc_now() -%}
  cast(current_timestamp at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}
