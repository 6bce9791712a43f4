#!/usr/bin/env bash
# Builds the release console and `tollgate` command and packages them as a .deb, offline, with
# dpkg-deb: /usr/bin/tollgate-console and /usr/bin/tollgate, a desktop entry and the icons, and
# the team server as a systemd service (packaging/tollgate.service: its own `tollgate` user,
# /var/lib/tollgate, /etc/tollgate/tollgate.toml), enabled but not started until configured.
# (Tauri's own bundler refuses this repository's layout: tauri.conf.json at the root.)
#
#   bash scripts/package-deb.sh            -> target-dir/release/bundle/tollgate_VERSION_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

cargo build --release --locked -p tollgate-console -p tollgate-cli
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out="$CARGO_TARGET_DIR/release/bundle"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"

install -Dm755 --strip "$CARGO_TARGET_DIR/release/tollgate-console" "$root/usr/bin/tollgate-console"
install -Dm755 --strip "$CARGO_TARGET_DIR/release/tollgate" "$root/usr/bin/tollgate"
for size in 32x32 128x128; do
    install -Dm644 "icons/$size.png" "$root/usr/share/icons/hicolor/$size/apps/tollgate-console.png"
done
install -Dm644 icons/128x128@2x.png "$root/usr/share/icons/hicolor/256x256/apps/tollgate-console.png"
install -Dm644 icons/icon.png "$root/usr/share/icons/hicolor/512x512/apps/tollgate-console.png"
install -d "$root/usr/share/applications" "$root/usr/share/doc/tollgate" "$root/DEBIAN"
cat > "$root/usr/share/applications/tollgate-console.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Tollgate
Comment=Tenants, keys, playground and costs of a foundation-model gateway
Exec=tollgate-console
Icon=tollgate-console
Categories=Development;Network;
Terminal=false
DESKTOP
cp README.md "$root/usr/share/doc/tollgate/README.md"
install -Dm644 packaging/tollgate.service "$root/usr/lib/systemd/system/tollgate.service"
install -Dm640 packaging/tollgate.toml "$root/etc/tollgate/tollgate.toml"
echo /etc/tollgate/tollgate.toml > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
# The service's own user and data directory; the unit enabled, not started: it starts once
# /etc/tollgate/tollgate.toml is set up (listen, TLS, models) and `systemctl start tollgate`.
set -e
if [ "$1" = configure ]; then
    if ! getent passwd tollgate >/dev/null; then
        adduser --system --group --home /var/lib/tollgate --no-create-home --quiet tollgate
    fi
    install -d -o tollgate -g tollgate -m 0750 /var/lib/tollgate
    chgrp tollgate /etc/tollgate/tollgate.toml
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
    fi
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper enable tollgate.service >/dev/null || true
    fi
fi
POSTINST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop tollgate.service >/dev/null 2>&1 || true
fi
PRERM
cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge tollgate.service >/dev/null || true
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTRM
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
installed_kb=$(du -sk "$root/usr" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: tollgate
Version: $version
Architecture: $arch
Maintainer: Tollgate <team@tollgate.dev>
Installed-Size: $installed_kb
Depends: libwebkit2gtk-4.1-0, libgtk-3-0, adduser
Recommends: python3-pip
Section: devel
Priority: optional
Homepage: https://github.com/tollgate/tollgate
Description: Multi-tenant gateway to foundation models, with its desktop console
 Teams call models with their own API keys; every call is checked against the
 team's limits, metered and priced exactly. The console manages tenants and keys,
 tries prompts as a team, and charts and exports costs.
 "tollgate model install" fetches the built-in local model (needs pip).
CONTROL
mkdir -p "$out"
deb="$out/tollgate_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
