# Installs what jobwatch and its tests need when it is missing (Debian). Sourced by scripts/*.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_libpcap() {
    if ! dpkg -s libpcap-dev >/dev/null 2>&1; then
        echo "installing libpcap-dev" >&2
        apt_install libpcap-dev
    fi
}

# The real protocol peers of the live-capture tests and the tools the tests call.
ensure_test_tools() {
    local missing=()
    dpkg -s libpcap-dev >/dev/null 2>&1 || missing+=(libpcap-dev)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}" >&2
        apt_install "${missing[@]}"
    fi
    if ! python3 -c 'import pymodbus, opendnp3, snap7' >/dev/null 2>&1; then
        echo "installing pymodbus, yadnp3 and python-snap7" >&2
        python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages -r scripts/requirements-test.txt
    fi
}
