#!/bin/sh
# Index the sample documents (a no-op when they are already in), then run the given command,
# by default the web app on all interfaces of the container.
set -e
python -m ingest sample_docs/documents
if [ "$#" -eq 0 ]; then
    exec python -m app --server.address 0.0.0.0 --server.port 8501
fi
exec "$@"
