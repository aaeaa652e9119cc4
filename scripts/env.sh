# Sourced by the scripts: one cargo target directory kept outside the clone, so a
# fresh clone rebuilds incrementally. CARGO_TARGET_DIR wins; otherwise the user's
# cache directory (XDG_CACHE_HOME, else ~/.cache).
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/shoal/target"
fi
# Both README commands build the release profile: RocksDB's C++ (most of a cold build)
# is compiled once, whichever command a newcomer runs first.
export SHOAL_PROFILE=release
