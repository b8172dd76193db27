#!/usr/bin/env bash
# Download the wheels the lent GPU machine lacks (it has torch, transformers, peft, pyarrow,
# pillow and jinja2, but no network) into wheels/ (gitignored), to carry with the check.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --only-binary :all: --no-deps --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 -d wheels orjson bitsandbytes
ls -la wheels
