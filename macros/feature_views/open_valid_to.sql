{#
  The valid_to of a row that is still current: 9999-12-31, not NULL.
  A non-null bound keeps the point-in-time join a plain range join that
  DuckDB runs as an IEJoin and other warehouses as an interval join; NULL
  would force `coalesce(valid_to, ...)` into every query and defeat both.
#}
{% macro open_valid_to() %}
  {{ return(adapter.dispatch('open_valid_to', 'feature_layer')()) }}
{% endmacro %}

{% macro default__open_valid_to() -%}
  cast('9999-12-31 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}
