# Sourced by the scripts: one cargo target directory kept outside the clone, so
# rebuilding after a fresh clone is incremental (a cold build takes ~15 minutes).
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d /work ] && [ -w /work ]; then
    export CARGO_TARGET_DIR=/work/target
  else
    export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/shoal/target"
  fi
fi
