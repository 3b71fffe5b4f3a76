# Sourced by the scripts in this folder: find (or install) uv, then sync the
# workspace into .venv from the lock file. Needs Python 3.11+ and network access
# to PyPI; nothing else is assumed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
  UV=(python3 -m uv)
else
  echo "==> installing uv (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check uv || python3 -m pip install --quiet --user uv
  UV=(python3 -m uv)
fi

uv_sync() {
  "${UV[@]}" sync --all-packages --locked --quiet "$@"
}
