#!/usr/bin/env bash
# labctl {{script.id}}: {{script.summary}}
# Seed section {{script.seed}}. Lab {{lab.name}}, profile {{profile.name}}{{#target}}, runs on {{target}}{{/target}}.
# Rendered by labctl; idempotent: every step checks before it changes anything.
set -euo pipefail
