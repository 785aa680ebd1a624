{#
  The rows valid now: what the online store should hold. Materialize it as a
  view so "now" is the time of the query, not of the build; the sync job and
  analysts read the same definition.

  >>> -- models/features/current/user_activity_current.sql
  >>> {{ config(materialized='view') }}
  >>> select * from {{ feature_layer.current_rows(ref('user_activity')) }}
#}
{% macro current_rows(relation) %}
  {{ return(adapter.dispatch('current_rows', 'feature_layer')(relation)) }}
{% endmacro %}

{% macro default__current_rows(relation) -%}
  {{ feature_layer.as_of(relation, feature_layer.utc_now()) }}
{%- endmacro %}
