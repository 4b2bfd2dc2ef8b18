# Shared by scripts/test and scripts/demo; sourced, not run.

# The repository root, whatever the caller's working directory.
TT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# rustup installs cargo under ~/.cargo/bin, which a non-login shell may lack.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

tt_say() {
    printf '==> %s\n' "$*"
}

tt_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# tt_ensure_packages CMD:PACKAGE ...: installs PACKAGE with apt-get when CMD
# is not on the PATH. No service is started by the installation: a
# policy-rc.d that forbids it is in place while apt-get runs (machines
# without systemd would otherwise try to start gpsd from its init script).
tt_ensure_packages() {
    local missing=() pair command package
    for pair in "$@"; do
        command="${pair%%:*}"
        package="${pair#*:}"
        if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
            missing+=("$package")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            tt_die "need root or sudo to install: ${missing[*]}"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        tt_die "apt-get not found; install these packages by hand: ${missing[*]}"

    tt_say "installing ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        made_policy=1
    fi
    local status=0
    "${sudo[@]}" apt-get update -q || status=$?
    if [ "$status" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
    fi
    if [ "$made_policy" -eq 1 ]; then
        "${sudo[@]}" rm -f "$policy"
    fi
    [ "$status" -eq 0 ] || tt_die "apt-get failed (exit $status) installing: ${missing[*]}"
}
