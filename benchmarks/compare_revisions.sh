#!/usr/bin/env bash
# The benchmarks of another revision of dl against this working tree, alternated in one run
# (how #12's restructure was checked to change no figure). Each ratio is dl against PyTorch
# measured interleaved in its own process, so the two trees are compared ratio to ratio.
#
#   benchmarks/compare_revisions.sh REV [ROUNDS]      e.g. benchmarks/compare_revisions.sh 2db62d6 2
#
# REV is checked out into a temporary worktree and its kernels built there; run from an
# environment where this tree is installed (pip install -e ".[test]").
set -euo pipefail
rev=${1:?usage: benchmarks/compare_revisions.sh REV [ROUNDS]}
rounds=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
other=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$other" >/dev/null 2>&1 || rm -rf "$other"' EXIT
git -C "$here" worktree add --detach "$other" "$rev" >/dev/null
(cd "$other" && python setup.py build_ext --inplace -j 2 >/dev/null)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export DL_LOAD_PLUGINS=""  # the benchmarks need no plugin, and an installed one may not fit REV
for round in $(seq "$rounds"); do
  for tree in "$rev" working; do
    if [ "$tree" = working ]; then dir=$here; unset PYTHONPATH; else dir=$other; export PYTHONPATH=$other; fi
    echo "== round $round: $tree"
    (cd "$dir" && python "$here/benchmarks/bench_mlp.py" --rounds 11 \
      && python "$here/benchmarks/bench_cnn.py" --rounds 9 --only b64_vs_channels_last \
      && python "$here/benchmarks/bench_rnn.py" --rounds 9)
  done
done
