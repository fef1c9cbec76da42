# shellcheck shell=bash
# Shared helper of the peer suites' setup scripts: source it, then call
#
#   peer_venv NAME PIP_SPEC...
#
# which creates (or reuses) the Python venv $MLOPS_VENV_DIR/NAME (default
# $HOME/.cache/mlops/venvs/NAME, outside the repository) and installs the pinned specs in it.
# A venv is reused as is when `pip show` already reports every pinned version (`pkg==version`
# specs; other specs only have to be installed) and, when PEER_VENV_IMPORT names modules
# (space separated), when they import. Otherwise the specs are installed into it (a venv
# whose interpreter no longer runs is recreated). pip's output goes to stderr. The venv's
# path is printed on stdout.
#
# Environment: MLOPS_VENV_DIR (where venvs live), PEERS_PYTHON (the interpreter that creates
# them, default python3), PEER_VENV_IMPORT (modules that must import, optional).

PEERS_VENVS="${MLOPS_VENV_DIR:-$HOME/.cache/mlops/venvs}"

# peer_venv_ok DIR SPEC...: succeeds when DIR's venv has every spec at its pinned version.
peer_venv_ok() {
    local dir=$1 spec pkg want have
    shift
    "$dir/bin/python" -c 'import sys' 2>/dev/null || return 1
    for spec in "$@"; do
        pkg=${spec%%[=<>!~;@ ]*}
        pkg=${pkg%%\[*}
        have=$("$dir/bin/python" -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
        [ -n "$have" ] || return 1
        case $spec in
            *==*)
                want=${spec#*==}
                want=${want%%[;, ]*}
                [ "$have" = "$want" ] || return 1
                ;;
        esac
    done
    if [ -n "${PEER_VENV_IMPORT:-}" ]; then
        local module
        for module in $PEER_VENV_IMPORT; do
            "$dir/bin/python" -c "import $module" >/dev/null 2>&1 || return 1
        done
    fi
    return 0
}

peer_venv() {
    if [ $# -lt 2 ]; then
        echo "usage: peer_venv NAME PIP_SPEC..." >&2
        return 2
    fi
    local name=$1
    shift
    local dir="$PEERS_VENVS/$name"
    local python="${PEERS_PYTHON:-python3}"
    if [ -x "$dir/bin/python" ] && peer_venv_ok "$dir" "$@"; then
        echo "peer_venv: reusing $dir ($*)" >&2
        echo "$dir"
        return 0
    fi
    mkdir -p "$PEERS_VENVS" || return 1
    if ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "peer_venv: creating $dir with $("$python" --version 2>&1)" >&2
        if ! "$python" -m venv --clear "$dir" >&2; then
            echo "peer_venv: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi
    echo "peer_venv: installing $* into $dir (this takes minutes)" >&2
    "$dir/bin/python" -m pip install --disable-pip-version-check --upgrade pip >&2 || return 1
    "$dir/bin/python" -m pip install --disable-pip-version-check "$@" >&2 || return 1
    if ! peer_venv_ok "$dir" "$@"; then
        echo "peer_venv: $dir still lacks one of: $* (or PEER_VENV_IMPORT='${PEER_VENV_IMPORT:-}' fails)" >&2
        return 1
    fi
    echo "peer_venv: ready: $dir" >&2
    echo "$dir"
}
