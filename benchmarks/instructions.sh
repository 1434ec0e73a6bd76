#!/usr/bin/env bash
# CPU instructions per small execution (throughput.py's LLM -> router -> tool workload),
# counted by valgrind's callgrind: the same figure whatever else the machine is doing,
# so two checkouts can be compared on a busy machine.
# Usage: bash benchmarks/instructions.sh [CHECKOUT]   (default: this one; needs valgrind)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "${1:-$here}" && pwd)"
python="$here/.venv/bin/python"
count() {
  cd "$root" && PYTHONPATH="$root" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$python" -c "
import sys
sys.path.insert(0, '$root/benchmarks')
import throughput
one = throughput.make_runner()[1]
for i in range($1):
    one(i)
" 2>&1 | awk '/Collected/ {print $4}'
}
small=$(count 100)
large=$(count 400)
echo "$root: $(( (large - small) / 300 )) instructions per execution (callgrind, executions 101-400)"
