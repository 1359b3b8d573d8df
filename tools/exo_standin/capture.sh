#!/usr/bin/env bash
# Record the raw answers (status line, headers, body bytes as curl -N gets them)
# of every API EXO serves, from a running EXO API (start.sh), into DIR.
#
#   tools/exo_standin/capture.sh [URL] [DIR]
#
# One file per exchange, named API-CASE.http; each cancel case also writes the
# cancel call's answer as API-cancel.cancel.http.
set -euo pipefail

url="${1:-http://127.0.0.1:52415}"
out="${2:-exo-captures}"
model="${EXO_MODEL:-mlx-community/Llama-3.2-1B-Instruct-4bit}"
fail="EXO RUNNER MUST FAIL"  # EXO's own trigger for a runner error
mkdir -p "$out"

post() { # name path body
  curl -sS -N -i --max-time 60 -X POST "$url$2" -H 'Content-Type: application/json' \
    --data-binary "$3" -o "$out/$1.http" || true
}
user() { printf '[{"role":"user","content":"%s"}]' "$1"; }
weather='{"type":"function","function":{"name":"get_weather","description":"The current weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}'
weather_r='{"type":"function","name":"get_weather","description":"The current weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}'
weather_a='{"name":"get_weather","description":"The current weather in a city.","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}'
hi="$(user 'Say hello in one short sentence.')"
long="$(user 'Write a long story about a lighthouse keeper, in plain words.')"
paris="$(user 'What is the weather in Paris? Call get_weather.')"
broken="$(user "$fail")"

# Chat completions
c=/v1/chat/completions
post chat-stream $c "{\"model\":\"$model\",\"messages\":$hi,\"stream\":true,\"max_tokens\":48}"
post chat-stream-usage $c "{\"model\":\"$model\",\"messages\":$long,\"stream\":true,\"max_tokens\":5,\"stream_options\":{\"include_usage\":true}}"
post chat-nonstream $c "{\"model\":\"$model\",\"messages\":$hi,\"max_tokens\":48}"
post chat-tools $c "{\"model\":\"$model\",\"messages\":$paris,\"stream\":true,\"tools\":[$weather]}"
post chat-stop $c "{\"model\":\"$model\",\"messages\":$hi,\"stream\":true,\"stop\":[\"a\"]}"
post chat-runner-error $c "{\"model\":\"$model\",\"messages\":$broken,\"stream\":true}"
post chat-runner-error-nonstream $c "{\"model\":\"$model\",\"messages\":$broken}"
post chat-invalid-json $c '{"model": '
post chat-missing-messages $c "{\"model\":\"$model\"}"
post chat-empty-messages $c "{\"model\":\"$model\",\"messages\":[],\"max_tokens\":3}"
post chat-unknown-model $c "{\"model\":\"no-such-model\",\"messages\":$hi,\"stream\":true}"

# OpenAI Responses
r=/v1/responses
post responses-stream $r "{\"model\":\"$model\",\"input\":\"Say hello in one short sentence.\",\"stream\":true}"
post responses-stream-limit $r "{\"model\":\"$model\",\"input\":\"Write a long story, long.\",\"stream\":true,\"max_output_tokens\":5}"
post responses-nonstream $r "{\"model\":\"$model\",\"input\":\"Say hello in one short sentence.\"}"
post responses-tools $r "{\"model\":\"$model\",\"input\":\"What is the weather in Paris? Call get_weather.\",\"stream\":true,\"tools\":[$weather_r]}"
post responses-runner-error $r "{\"model\":\"$model\",\"input\":\"$fail\",\"stream\":true}"
post responses-missing-input $r "{\"model\":\"$model\",\"stream\":true}"
post responses-unknown-model $r '{"model":"no-such-model","input":"hi","stream":true}'
post responses-invalid-json $r '{"model": '

# Anthropic Messages
m=/v1/messages
post messages-stream $m "{\"model\":\"$model\",\"max_tokens\":48,\"messages\":$hi,\"stream\":true}"
post messages-stream-limit $m "{\"model\":\"$model\",\"max_tokens\":5,\"messages\":$long,\"stream\":true}"
post messages-nonstream $m "{\"model\":\"$model\",\"max_tokens\":48,\"messages\":$hi}"
post messages-tools $m "{\"model\":\"$model\",\"max_tokens\":96,\"messages\":$paris,\"stream\":true,\"tools\":[$weather_a]}"
post messages-runner-error $m "{\"model\":\"$model\",\"max_tokens\":48,\"messages\":$broken,\"stream\":true}"
post messages-missing-max-tokens $m "{\"model\":\"$model\",\"messages\":$hi,\"stream\":true}"
post messages-unknown-model $m "{\"model\":\"no-such-model\",\"max_tokens\":8,\"messages\":$hi,\"stream\":true}"
post messages-invalid-json $m '{"model": '

# Ollama (EXO mounts it under /ollama)
o=/ollama/api/chat
post ollama-stream $o "{\"model\":\"$model\",\"messages\":$hi}"
post ollama-stream-limit $o "{\"model\":\"$model\",\"messages\":$long,\"options\":{\"num_predict\":5}}"
post ollama-nonstream $o "{\"model\":\"$model\",\"messages\":$hi,\"stream\":false}"
post ollama-tools $o "{\"model\":\"$model\",\"messages\":$paris,\"tools\":[$weather]}"
post ollama-runner-error $o "{\"model\":\"$model\",\"messages\":$broken}"
post ollama-invalid-json $o '{"model": '
post ollama-unknown-model $o "{\"model\":\"no-such-model\",\"messages\":$hi}"
post ollama-root-path /api/chat "{\"model\":\"$model\",\"messages\":$hi}"

# Cancel: start a long stream, read its id from the first event, cancel it.
cancel() { # name path body id-regex
  local file="$out/$1.http"
  curl -sS -N -i --max-time 60 -X POST "$url$2" -H 'Content-Type: application/json' \
    --data-binary "$3" -o "$file" &
  local pid=$! id="" tries=0
  while [ -z "$id" ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
    id="$(grep -aoE "$4" "$file" 2>/dev/null | head -1 || true)"
  done
  sleep 0.3
  curl -sS -i --max-time 10 -X POST "$url/v1/cancel/$id" -o "$out/$1.cancel.http" || true
  wait $pid || true
}
uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
cancel chat-cancel $c "{\"model\":\"$model\",\"messages\":$long,\"stream\":true}" "$uuid"
cancel responses-cancel $r "{\"model\":\"$model\",\"input\":\"Write a long story, long.\",\"stream\":true}" "$uuid"
cancel messages-cancel $m "{\"model\":\"$model\",\"max_tokens\":1000,\"messages\":$long,\"stream\":true}" "$uuid"
curl -sS -i --max-time 10 -X POST "$url/v1/cancel/00000000-0000-4000-8000-000000000000" \
  -o "$out/cancel-unknown.http" || true
echo "captured $(ls "$out" | wc -l) exchanges in $out"
