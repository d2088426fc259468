#!/usr/bin/env bash
# The long fuzz run: every target of test/fuzz for SECONDS (default 600)
# each; test/run_tests.sh runs them for 15 s.  bash bench/fuzz_long.sh [SECONDS]
exec bash "$(dirname "$0")/../test/fuzz/run.sh" "${1:-600}"
