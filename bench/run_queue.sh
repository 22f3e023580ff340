#!/usr/bin/env bash
# Runs the accuracy benchmarks one after another (they each want both cores), logging to bench/out/.
set -u
cd "$(dirname "$0")/.."
mkdir -p bench/out
for name in "$@"; do
  .venv/bin/python -m bench.accuracy "$name" > "bench/out/$name.log" 2>&1
done
