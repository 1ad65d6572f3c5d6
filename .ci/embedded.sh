# Sourced by the scripts that need a running Cutroom with the embedded
# default (SQLite, local storage, the worker in process, the web app):
# `start_embedded` builds and starts one on a free port in a temporary
# data folder, exports CUTROOM_URL, and stops and removes it on exit.

start_embedded() {
  local profile=${1:-debug}
  local flag=""
  [ "$profile" = release ] && flag="--release"
  cargo build -q --locked $flag -p cutroom
  embedded_data=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export CUTROOM_URL="http://127.0.0.1:$port"
  # The browser tests sign in far more often, all from 127.0.0.1, than
  # the sign-in limits allow one person.
  # `serve` migrates in the embedded default; with
  # CUTROOM_IN_PROCESS_WORKER=false (the web benchmarks) it expects
  # `cutroom migrate` first, as in a fleet.
  CUTROOM_DATA_DIR="$embedded_data" "$CARGO_TARGET_DIR/$profile/cutroom" migrate \
    >"$embedded_data/migrate.log" 2>&1 || { cat "$embedded_data/migrate.log" >&2; return 1; }
  CUTROOM_DATA_DIR="$embedded_data" CUTROOM_LISTEN="127.0.0.1:$port" CUTROOM_WEB_DIR="$PWD/frontend/dist" \
    CUTROOM_AUTH_LIMIT_PER_MINUTE=0 CUTROOM_LOGIN_LIMIT_PER_MINUTE=0 \
    "$CARGO_TARGET_DIR/$profile/cutroom" serve >"$embedded_data/serve.log" 2>&1 &
  embedded_pid=$!
  trap stop_embedded EXIT
  for _ in $(seq 150); do
    curl -fs "$CUTROOM_URL/readyz" >/dev/null && return 0
    kill -0 $embedded_pid 2>/dev/null || break
    sleep 0.2
  done
  echo "Cutroom did not start; its log:" >&2
  cat "$embedded_data/serve.log" >&2
  return 1
}

stop_embedded() {
  kill "$embedded_pid" 2>/dev/null || true
  wait "$embedded_pid" 2>/dev/null || true
  rm -rf "$embedded_data"
}

# The end of the server's log, after a failure.
embedded_log() {
  echo "--- the server's log (last 80 lines) ---" >&2
  tail -n 80 "$embedded_data/serve.log" >&2
}
