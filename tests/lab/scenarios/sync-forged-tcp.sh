# sync-forged-tcp: the sync-forged attacks against the TCP fallback transport.
SYNC_TRANSPORT=tcp
. /lab/src/tests/lab/scenarios/sync-forged.sh
