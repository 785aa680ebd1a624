{#
  A ttl is written the way people say it: "30d", "12h", "1d12h", "90m",
  "3600s", "2w", or a bare number of seconds. It becomes whole seconds, so
  every warehouse adds the same interval. The Python registry parses the same
  grammar (featurelayer/_ttl.py) and a test keeps the two in step.
#}
{% macro _parse_ttl(ttl, where='a feature view') %}
  {%- if ttl is none or ttl == '' -%}{{ return(none) }}{%- endif -%}
  {%- if ttl is number -%}
    {%- if ttl <= 0 -%}
      {{ exceptions.raise_compiler_error("featurelayer: " ~ where ~ " has ttl " ~ ttl ~ "; a ttl must be positive, or left out for none.") }}
    {%- endif -%}
    {{ return(ttl | int) }}
  {%- endif -%}
  {%- set text = (ttl | string) | trim | lower -%}
  {%- if modules.re.match('^\\d+$', text) -%}{%- set text = text ~ 's' -%}{%- endif -%}
  {%- set pattern = '^(?:(\\d+)w)?(?:(\\d+)d)?(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?$' -%}
  {%- set match = modules.re.match(pattern, text) -%}
  {%- if text == '' or match is none -%}
    {{ exceptions.raise_compiler_error(
         "featurelayer: " ~ where ~ " has a ttl that does not parse: '" ~ ttl ~ "'. Write it as a number of "
         ~ "seconds or with units w/d/h/m/s, largest first, e.g. '30d', '12h', '1d12h', '3600s'.") }}
  {%- endif -%}
  {%- set parts = match.groups() -%}
  {%- set seconds = ((parts[0] or 0) | int) * 604800 + ((parts[1] or 0) | int) * 86400
                  + ((parts[2] or 0) | int) * 3600 + ((parts[3] or 0) | int) * 60 + ((parts[4] or 0) | int) -%}
  {%- if seconds <= 0 -%}
    {{ exceptions.raise_compiler_error("featurelayer: " ~ where ~ " has ttl '" ~ ttl ~ "'; a ttl must be positive, or left out for none.") }}
  {%- endif -%}
  {{ return(seconds) }}
{% endmacro %}
