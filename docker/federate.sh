#!/bin/sh
# One-shot: a master key per node, each node's database initialised under its own key, and a
# directory naming both, signed with a root key that only this service ever sees. Each node's
# first admin credentials land in its own secrets volume (read them once, then delete them).
set -eu
umask 077
new_key() {
  python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))'
}
[ -f /root-key/root.key ] || accord directory keygen --out /root-key/root.key > /directory/root.jwk
[ -f /node-a/master.key ] || new_key > /node-a/master.key
[ -f /node-b/master.key ] || new_key > /node-b/master.key
ACCORD_MASTER_KEY_FILE=/node-a/master.key ACCORD_DATABASE_URL="$NODE_A_DB" \
  ACCORD_PUBLIC_URL="$NODE_A_URL" accord init --agency unhcr=UNHCR --json > /node-a/credentials.json
ACCORD_MASTER_KEY_FILE=/node-b/master.key ACCORD_DATABASE_URL="$NODE_B_DB" \
  ACCORD_PUBLIC_URL="$NODE_B_URL" accord init --agency iom=IOM --agency ilo=ILO --json > /node-b/credentials.json
work=$(mktemp -d)
python - "$work/unsigned.json" <<'PY'
import json, sys
members = []
for name in ("/node-a/credentials.json", "/node-b/credentials.json"):
    members += [row["member"] for row in json.load(open(name))["agencies"]]
json.dump({"federation": "accord-compose", "version": 1, "members": members}, open(sys.argv[1], "w"))
PY
accord directory sign "$work/unsigned.json" --root-key /root-key/root.key --out /directory/directory.json
rm -rf "$work"
chmod 0644 /directory/directory.json /directory/root.jwk
# The nodes run as uid 10001, each reading only its own secrets volume.
chown 10001 /node-a/master.key /node-a/credentials.json /node-b/master.key /node-b/credentials.json
chmod 0400 /node-a/master.key /node-b/master.key
