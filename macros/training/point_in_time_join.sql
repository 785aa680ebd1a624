{#
  A training set as a dbt model: every row of `spine` with the features valid
  at its timestamp, exactly as FeatureStore.get_historical_features returns
  them (tests/test_retrieval.py compares the two).

  Args:
    spine: a relation (ref/source) or CTE name with the views' join keys and
      a timestamp column; every column passes through.
    features: ['view:feature', 'view:*', ...]; views are feature view models.
    timestamp: the spine's timestamp column (naive UTC). Default event_timestamp.
    full_feature_names: name columns view__feature instead of feature.

  >>> -- models/training/churn_training_set.sql
  >>> {{ feature_layer.point_in_time_join(ref('churn_labels'),
  >>>      ['user_activity:daily_transactions', 'user_profile:plan']) }}
#}
{% macro point_in_time_join(spine, features, timestamp='event_timestamp', full_feature_names=false) %}
  {{ return(adapter.dispatch('point_in_time_join', 'feature_layer')(spine, features, timestamp, full_feature_names)) }}
{% endmacro %}


{% macro default__point_in_time_join(spine, features, timestamp, full_feature_names) %}
  {%- if features is string or not features -%}
    {{ exceptions.raise_compiler_error("featurelayer: point_in_time_join needs a list of 'view:feature' references. Got: " ~ features) }}
  {%- endif -%}
  {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', timestamp) -%}
    {{ exceptions.raise_compiler_error("featurelayer: point_in_time_join timestamp must be a plain column name. Got: " ~ timestamp) }}
  {%- endif -%}
  {#- views in first-mention order, each with the features asked of it -#}
  {%- set views = {} -%}
  {%- set order = [] -%}
  {%- for reference in features -%}
    {%- set parts = reference.split(':') -%}
    {%- if parts | length != 2 -%}
      {{ exceptions.raise_compiler_error("featurelayer: feature reference '" ~ reference ~ "' is not of the form 'view:feature'.") }}
    {%- endif -%}
    {%- if parts[0] not in views -%}
      {%- do views.update({parts[0]: []}) -%}
      {%- do order.append(parts[0]) -%}
    {%- endif -%}
    {%- do views[parts[0]].append(parts[1]) -%}
  {%- endfor -%}

  {%- set relations = {} -%}
  {%- for name in order -%}
    {%- do relations.update({name: ref(name)}) -%}
  {%- endfor -%}
  {%- if not execute -%}
    {{ return('select 1 as parsing') }}
  {%- endif -%}

  {%- set joins = [] -%}
  {%- set outputs = [] -%}
  {%- for name in order -%}
    {%- set node = feature_layer._feature_view_node(name) -%}
    {%- set meta = node.config.meta.feature_layer -%}
    {%- set keys = feature_layer._entity_join_keys(meta.get('entities'), "model '" ~ name ~ "'") -%}
    {%- set alias = 'fl_v' ~ loop.index0 -%}
    {%- set reserved = keys + [meta.get('timestamp'), meta.get('created_timestamp'), 'valid_from', 'valid_to', '_fl_snapshot'] -%}
    {%- set available = [] -%}
    {%- for column in node.columns.values() -%}
      {%- if column.name not in reserved -%}{%- do available.append(column.name) -%}{%- endif -%}
    {%- endfor -%}
    {%- for feature in views[name] -%}
      {%- set chosen = available if feature == '*' else [feature] -%}
      {%- for column in chosen -%}
        {%- if column not in available -%}
          {{ exceptions.raise_compiler_error("featurelayer: feature view '" ~ name ~ "' has no feature '" ~ column ~ "'. Its features: " ~ available) }}
        {%- endif -%}
        {%- do outputs.append((alias, column, (name ~ '__' ~ column) if full_feature_names else column)) -%}
      {%- endfor -%}
    {%- endfor -%}
    {%- do joins.append((relations[name], alias, keys, feature_layer._parse_ttl(meta.get('ttl'), "model '" ~ name ~ "'"))) -%}
  {%- endfor -%}
  {%- set seen = [] -%}
  {%- for output in outputs -%}
    {%- if output[2] in seen -%}
      {{ exceptions.raise_compiler_error("featurelayer: two features would both be column '" ~ output[2] ~ "'; pass full_feature_names=true.") }}
    {%- endif -%}
    {%- do seen.append(output[2]) -%}
  {%- endfor %}

select
    fl_entity.*
    {%- for alias, column, output in outputs %},
    {{ alias }}.{{ column }} as {{ output }}
    {%- endfor %}
from {{ spine }} as fl_entity
{%- for relation, alias, keys, ttl_seconds in joins %}
left join {{ relation }} as {{ alias }}
    on {% for key in keys %}{{ alias }}.{{ key }} = fl_entity.{{ key }}
    and {% endfor %}{{ alias }}.valid_from <= fl_entity.{{ timestamp }}
    and fl_entity.{{ timestamp }} < {{ alias }}.valid_to
    {%- if ttl_seconds is not none %}
    {#- the ttl bound again, exactly: valid_to holds it to the microsecond, and a spine at a finer
        precision (DuckDB's TIMESTAMP_NS) could lie between event + ttl and valid_to #}
    and {{ alias }}.valid_from >= {{ dbt.dateadd('second', -ttl_seconds, 'fl_entity.' ~ timestamp) }}
    {%- endif %}
{%- endfor %}
{% endmacro %}


{% macro _feature_view_node(name) %}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type == 'model' and node.name == name and node.config.meta.get('feature_layer') is not none -%}
      {{ return(node) }}
    {%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("featurelayer: '" ~ name ~ "' is not a feature view (a model with config.meta.feature_layer).") }}
{% endmacro %}
