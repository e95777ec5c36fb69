#!/usr/bin/env bash
# Run the selection of Lightning's own tests (tools/conformance/select.txt) against fastlit, or against
# pytorch_lightning to check that every selected test passes there (issue #14; results in docs/conformance.md).
#
# usage: tools/conformance/run.sh LIGHTNING_GIT_DIR [fastlit|pytorch_lightning]
#   LIGHTNING_GIT_DIR  a (bare) git dir of github.com/Lightning-AI/pytorch-lightning; the tests are extracted from it
#                      into a temp dir at run time (nothing of Lightning is stored in this repository), e.g.
#                      git clone --bare https://github.com/Lightning-AI/pytorch-lightning /tmp/pl.git
#   second argument    the implementation the rewritten imports point at (default fastlit)
# environment:
#   LIGHTNING_REF      commit or tag to extract (default 2.6.5, the selection's reference; fastlit targets 2.6.6)
#   PYTHON             interpreter with torch, pytest, tensorboard, packaging and the implementation (default python)
#   CONFORMANCE_SELECT another node-id list (default tools/conformance/select.txt)
#   PEER_*             passed through to lightning_tests.sh (PEER_FILTER=regex, PEER_TEST_TIMEOUT=45, PEER_KEEP=1, ...)
# Under fastlit, importing pytorch_lightning/lightning is blocked, so fastlit cannot lean on an installed Lightning.
# Output: one line per failing test, passed/total per test file, and last `N passed, M failed`.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 1 ] || { sed -n '2,16p' "${BASH_SOURCE[0]}" >&2; exit 2; }
MIRROR=$1
IMPL=${2:-fastlit}
export PEER_COMMIT=${LIGHTNING_REF:-2.6.5}
export PEER_SELECT=${CONFORMANCE_SELECT:-$HERE/select.txt}
export PEER_TEST_TIMEOUT=${PEER_TEST_TIMEOUT:-45}
if [ "$IMPL" != pytorch_lightning ]; then
    export PEER_BLOCK_LIGHTNING=${PEER_BLOCK_LIGHTNING:-1}
fi
exec bash "$HERE/lightning_tests.sh" "$MIRROR" "${PYTHON:-python}" "$IMPL"
