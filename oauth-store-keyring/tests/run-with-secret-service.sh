#!/bin/sh
# Runs this crate's tests against a real Secret Service that is not the user's: a
# private D-Bus session (dbus-run-session) with gnome-keyring, its login keyring created
# and unlocked with a test password, under a temporary HOME and XDG directories.
#
#   oauth-store-keyring/tests/run-with-secret-service.sh [cargo test arguments...]
#   oauth-store-keyring/tests/run-with-secret-service.sh --exec COMMAND [ARGS...]
#
# The tests see OAUTH_STORE_TEST_KEYRING_SESSION=1; without it, the ones that need a
# Secret Service print a skip line. Needs: apt-get install -y gnome-keyring dbus
# (dbus-send comes with dbus; secret-tool from libsecret-tools is used when present).
set -eu

for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run-with-secret-service.sh: $tool is missing; install: apt-get install -y gnome-keyring dbus" >&2
        exit 2
    fi
done

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/oauth-store-keyring-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -m 700 "$tmp/home" "$tmp/run"

# The new HOME would move cargo's and rustup's homes: pin them where they are.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$tmp/home"
export XDG_RUNTIME_DIR="$tmp/run"
export XDG_CONFIG_HOME="$tmp/home/.config"
export XDG_DATA_HOME="$tmp/home/.local/share"
export XDG_CACHE_HOME="$tmp/home/.cache"
export OAUTH_STORE_TEST_KEYRING_SESSION=1
unset DBUS_SESSION_BUS_ADDRESS

if [ "${1:-}" = "--exec" ]; then
    shift
else
    set -- cargo test -p oauth-store-keyring "$@"
fi

cd "$root"
# Inside the session: create and unlock the login keyring (the password comes on
# stdin; an empty one would prompt, which fails headless), wait until the daemon owns
# its bus name (it returns before that, and a call in between would activate a second
# daemon), then run the command.
status=0
dbus-run-session -- sh -c '
    printf %s oauth-store-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
    i=0
    until dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q "boolean true"; do
        i=$((i + 1))
        if [ "$i" -gt 200 ]; then
            echo "run-with-secret-service.sh: gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2
            exit 2
        fi
        sleep 0.05
    done
    exec "$@"
' sh "$@" || status=$?
exit "$status"
