#!/bin/sh
# Container entrypoint: migrate the metastore (unless told not to), then run the given command.
set -eu

if [ "${WARMSTART_MIGRATE_ON_START:-1}" = "1" ]; then
    echo "entrypoint: migrating the metastore schema"
    warmstart db upgrade
fi

if [ "$#" -eq 0 ]; then
    set -- warmstart serve --host 0.0.0.0 --port "${WARMSTART_PORT:-8000}"
fi
exec "$@"
