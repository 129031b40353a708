# scale.lab.sh: the guest half of bench/scale.sh: the scale scenario with the settings bench/scale.sh leaves in build/bench/scale.env (N, the remote's liveness, baseline or not).
# Run by tests/lab/run --script (lib.sh sourced, as root in a fresh guest).
ENV_FILE=$LAB_SRC/build/bench/scale.env
# shellcheck disable=SC1090
[ -f "$ENV_FILE" ] && . "$ENV_FILE"
# shellcheck disable=SC1091
. "$LAB_SRC/tests/lab/scenarios/scale.sh"
