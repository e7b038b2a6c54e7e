#!/bin/sh
# The image's entrypoint. Without arguments: bring the schema up to date, load the
# reference data (the county's townships, the patrol-policy defaults; never samples: the
# image runs with MEMORIAL_ENV=production), then serve. Both steps only add what is
# missing, so every start runs them. With arguments, run those instead, e.g.
#   docker run --rm -it -v memorial-data:/var/lib/memorial IMAGE memorial create-user ...
set -eu
if [ "$#" -eq 0 ]; then
    memorial migrate
    memorial seed --no-samples
    exec memorial serve --host 0.0.0.0 --port 8000 --workers "${MEMORIAL_WORKERS:-2}"
fi
exec "$@"
