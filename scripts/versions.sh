# The versions the scripts install, lock and test; sourced by bootstrap.sh, lock.sh, test.sh and drift.sh.
# To add an Airflow release or move the date: edit here, then `bash scripts/lock.sh` (or pass --date).

# The Airflow the demo installs and the whole suite runs on, and the Python it runs under by default.
AIRFLOW_MAIN=3.3.2
PYTHON_MAIN=3.11
# The other declared Pythons: the suite without a second Airflow process runs on AIRFLOW_MAIN under each.
PYTHON_OTHERS="3.12 3.13"
# The other supported Airflow releases: the same suite runs on each, under PYTHON_MAIN.
AIRFLOW_OTHERS="2.11.2 3.0.6 3.1.8 3.2.2"
# The lock files hold what PyPI served before this day (UTC): a later upstream release changes nothing.
LOCK_DATE=2026-12-01

# upstream_pins AIRFLOW: bounds that exist only because an upstream release broke that Airflow release;
# README.md ("Lock files") says why for each. Airflow's own constraints files carry the same for users.
upstream_pins() {
    case "$1" in
        2.11.* | 3.1.*) echo "cryptography<51" ;;
        3.0.*) printf '%s\n' "cryptography<51" "universal-pathlib<0.3" "cadwyn<6" "fastapi<0.118" ;;
        3.2.*) printf '%s\n' "fastapi<0.137" "svcs<26.2" ;;
    esac
}

airflow_needs() {  # airflow_needs AIRFLOW: what the tests need beside that Airflow release
    # Airflow 3.0 builds no provider's connection form without the FAB provider (3.1 mocks what it lacks).
    case "$1" in 3.0.*) echo "apache-airflow-providers-fab" ;; esac
}

lock_file() {  # lock_file AIRFLOW PYTHON: the lock file of one Airflow release on one Python
    echo "locks/airflow-$1-py$2.txt"
}

find_python() {  # find_python 3.12: an interpreter of that version, from PATH or pyenv; empty if none
    local candidate
    for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$1" ]; then
            command -v "$candidate"
            return
        fi
    done
}
