#!/bin/sh
# One-shot (compose service temporal-setup, image temporalio/admin-tools; also runs anywhere the `temporal` CLI
# is on PATH): waits for the Temporal frontend, creates the namespace if it is missing, and registers duka's
# search attributes (DUKA_SEARCH_ATTRIBUTES="Name=Type …", CONTRACT.md). Safe to re-run: registering an
# attribute that exists with the same type succeeds; one that exists with another type is an error.
set -eu
ADDRESS="${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS=host:port}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ATTRIBUTES="${DUKA_SEARCH_ATTRIBUTES:?set DUKA_SEARCH_ATTRIBUTES=\"Name=Type …\"}"
TRIES="${SETUP_TRIES:-60}"

tries=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge "$TRIES" ]; then
    echo "temporal-setup: no healthy Temporal frontend at $ADDRESS" >&2
    temporal operator cluster health --address "$ADDRESS" >&2 || true
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "temporal-setup: namespace $NAMESPACE exists"
else
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention 720h \
    || temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null
  echo "temporal-setup: namespace $NAMESPACE created"
fi

# A namespace just created is unknown to the frontend until its namespace cache refreshes (seconds): retry.
for spec in $ATTRIBUTES; do
  name="${spec%%=*}"
  type="${spec#*=}"
  tries=0
  until out="$(temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" --name "$name" --type "$type" 2>&1)"; do
    case "$out" in
      *"different type"*) echo "temporal-setup: $out" >&2; exit 1 ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge "$TRIES" ]; then
      echo "temporal-setup: could not register $name ($type): $out" >&2
      exit 1
    fi
    sleep 2
  done
  echo "temporal-setup: search attribute $name ($type)"
done
echo 'temporal-setup: done'
