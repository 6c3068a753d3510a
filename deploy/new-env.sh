#!/bin/sh
# Writes a .env for a real deployment: .env.example with fresh random secrets in place of its
# placeholders (JWT_SECRET, MFA_ENCRYPTION_KEY, KEY_ENCRYPTION_KEY, and a generated password for the bootstrap admin,
# API_PASSWORD), readable by its owner only. The admin password is printed once, here; it is in .env
# and nowhere else, so keep it in your password manager.
#
#   sh deploy/new-env.sh            # writes ./.env (refuses to replace one that exists)
#   sh deploy/new-env.sh path/.env  # writes there
#   FORCE=1 sh deploy/new-env.sh    # replaces an existing file
#
# Randomness comes from the kernel (/dev/urandom, or `openssl rand` when present); nothing else is
# needed but a POSIX shell, sed, tr, head and base64.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
example="$here/.env.example"
out=${1:-.env}

[ -f "$example" ] || { echo "new-env: $example not found" >&2; exit 1; }
if [ -e "$out" ] && [ "${FORCE:-}" != 1 ]; then
    echo "new-env: $out exists; set FORCE=1 to replace it" >&2
    exit 1
fi

# n random bytes in standard base64, on one line.
random_base64() {
    if command -v openssl >/dev/null 2>&1; then
        openssl rand -base64 "$1" | tr -d '\n'
    else
        head -c "$1" /dev/urandom | base64 | tr -d '\n'
    fi
}

jwt_secret=$(random_base64 48)
mfa_key=$(random_base64 32)
key_encryption_key=$(random_base64 32)
# 18 bytes: 24 characters of the URL-safe alphabet (no quoting needed anywhere).
admin_password=$(random_base64 18 | tr '+/' '-_')

umask 077
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# `|` as the sed delimiter: base64 has no `|`.
sed -e "s|^JWT_SECRET=.*|JWT_SECRET=$jwt_secret|" \
    -e "s|^MFA_ENCRYPTION_KEY=.*|MFA_ENCRYPTION_KEY=$mfa_key|" \
    -e "s|^KEY_ENCRYPTION_KEY=.*|KEY_ENCRYPTION_KEY=$key_encryption_key|" \
    -e "s|^API_PASSWORD=.*|API_PASSWORD=$admin_password|" \
    "$example" > "$tmp"
for name in JWT_SECRET MFA_ENCRYPTION_KEY KEY_ENCRYPTION_KEY API_PASSWORD; do
    grep -q "^$name=." "$tmp" || { echo "new-env: $example has no $name= line" >&2; exit 1; }
done
mv "$tmp" "$out"
trap - EXIT

api_user=$(sed -n 's/^API_USER=//p' "$out")
echo "new-env: wrote $out with fresh secrets (mode 600)."
echo "new-env: the bootstrap admin is ${api_user:-api_user} with the password: $admin_password"
echo "new-env: (shown once; it is stored only in $out)"
