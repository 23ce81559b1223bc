#!/bin/sh
# The "frontend build": concatenates src/*.js into dist/app.js, as a bundler would.
set -e
mkdir -p dist
cat src/*.js > dist/app.js
echo "built dist/app.js ($(wc -c < dist/app.js) bytes)"
