#!/bin/sh
# Index the sample documents (a no-op when they are already in), then run the given command,
# by default the product's main job. Until the web UI lands, that is answering a sample question.
set -e
python -m ingest sample_docs/documents
if [ "$#" -eq 0 ]; then
    exec python -m generation ask "Which module provides the itemgetter() and attrgetter() functions used for sorting?"
fi
exec "$@"
