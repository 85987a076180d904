#!/bin/sh
# One-shot: initialise both nodes' databases, then sign a directory naming both. Credentials
# printed by `accord init` land in /shared/credentials-*.json (read them once, then delete).
set -eu
cd /shared
[ -f master.key ] || python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))' > master.key
export ACCORD_MASTER_KEY_FILE=/shared/master.key
[ -f root.key ] || accord directory keygen --out root.key > root.jwk
ACCORD_DATABASE_URL="$NODE_A_DB" ACCORD_PUBLIC_URL="$NODE_A_URL" \
  accord init --agency unhcr=UNHCR --json > credentials-a.json
ACCORD_DATABASE_URL="$NODE_B_DB" ACCORD_PUBLIC_URL="$NODE_B_URL" \
  accord init --agency iom=IOM --agency ilo=ILO --json > credentials-b.json
python - <<'PY'
import json
members = []
for name in ("credentials-a.json", "credentials-b.json"):
    members += [row["member"] for row in json.load(open(name))["agencies"]]
json.dump({"federation": "accord-compose", "version": 1, "members": members},
          open("unsigned.json", "w"))
PY
accord directory sign unsigned.json --root-key root.key --out directory.json
chmod 0644 directory.json root.jwk
chown 10001 master.key && chmod 0600 master.key  # the nodes run as uid 10001
