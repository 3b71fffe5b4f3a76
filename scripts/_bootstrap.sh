# Sourced by demo.sh and test.sh: say what is happening, find Python 3.11+, make private
# virtual environments, find (or install) uv. Assumes only Python 3.11+ and access to
# PyPI: it works whatever the PEP 668 ("externally managed") status of the system
# Python, because it never installs into that Python, only into venvs of its own.
# Installers write to stderr, so that stdout is the command's own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

say() { printf '==> %s\n' "$*" >&2; }

# PYTHON: the first python3 (or python3.1x) that is 3.11 or newer.
find_python() {
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$(command -v "$candidate")"
      return
    fi
  done
  say "cachekit needs Python 3.11 or newer; none found on PATH" && exit 1
}

# make_venv DIR: a virtual environment with pip in DIR. Debian and Ubuntu ship venv
# without ensurepip unless python3-venv is installed: then the venv is made without pip
# and pip is put into it, by the system's pip when there is one (pip --python), else by
# pip's own wheel downloaded from PyPI (a pip wheel can run itself: python pip.whl/pip).
make_venv() {
  local dir="$1"
  say "creating the virtual environment $dir ($PYTHON -m venv)"
  local failure
  if failure="$("$PYTHON" -m venv "$dir" 2>&1)"; then return; fi
  case "$failure" in
    *ensurepip*) ;;
    *) printf '%s\n' "$failure" >&2 && say "could not create $dir" && exit 1 ;;
  esac
  say "ensurepip is missing (Debian/Ubuntu without python3-venv): creating $dir without pip"
  rm -rf "$dir"
  "$PYTHON" -m venv --without-pip "$dir" >&2
  if "$PYTHON" -m pip --version >/dev/null 2>&1; then
    say "installing pip into $dir with the system's pip (pip --python $dir/bin/python)"
    "$PYTHON" -m pip --python "$dir/bin/python" install --disable-pip-version-check pip >&2
  else
    say "no pip anywhere: downloading pip's wheel from PyPI and installing pip with it"
    local wheel
    wheel="$("$dir/bin/python" - "$dir" <<'PY'
import json, os, sys, urllib.parse, urllib.request
api = "https://pypi.org/pypi/pip/json"
release = json.load(urllib.request.urlopen(api, timeout=60))
url = next(u["url"] for u in release["urls"] if u["packagetype"] == "bdist_wheel")
url = urllib.parse.urljoin(api, url)  # PyPI answers absolute URLs; some mirrors relative
path = os.path.join(sys.argv[1], url.rsplit("/", 1)[1])
urllib.request.urlretrieve(url, path)
print(path)
PY
)"
    "$dir/bin/python" "$wheel/pip" install --disable-pip-version-check "$wheel" >&2
    rm -f "$wheel"
  fi
}

# UV: the uv command, from PATH, from `python3 -m uv`, or installed with pip into a
# private venv (.bootstrap/uv; pip --user is refused under PEP 668 too). A link to it in
# .bootstrap/bin goes on PATH, so the tests (which build wheels with uv) find it.
find_uv() {
  find_python
  if command -v uv >/dev/null 2>&1; then
    UV=(uv)
  elif "$PYTHON" -m uv --version >/dev/null 2>&1; then
    UV=("$PYTHON" -m uv)
  else
    if [ ! -x "$ROOT/.bootstrap/uv/bin/uv" ]; then
      say "uv is not installed: installing it with pip into a private venv, .bootstrap/uv/"
      make_venv "$ROOT/.bootstrap/uv"
      "$ROOT/.bootstrap/uv/bin/python" -m pip install --disable-pip-version-check --progress-bar off uv >&2
    fi
    mkdir -p "$ROOT/.bootstrap/bin"
    ln -sf "$ROOT/.bootstrap/uv/bin/uv" "$ROOT/.bootstrap/bin/uv"
    export PATH="$ROOT/.bootstrap/bin:$PATH"
    UV=(uv)
  fi
  say "using uv: ${UV[*]} ($("${UV[@]}" --version))"
}

uv_sync() {
  "${UV[@]}" sync --all-packages --locked "$@"
}

# selects_tests ARGS...: do these pytest arguments select tests? A path or node id
# (tests/x.py::test_y) or the value of -k/-m does; options alone (-x, --tb short) do not.
selects_tests() {
  local previous="" arg
  for arg in "$@"; do
    if [ "$previous" = "-k" ] || [ "$previous" = "-m" ] || [ -e "${arg%%::*}" ]; then
      return 0
    fi
    previous="$arg"
  done
  return 1
}
