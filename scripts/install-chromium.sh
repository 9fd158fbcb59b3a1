#!/usr/bin/env bash
# Install Debian's chromium, which tests/test_audit.py uses (headless) to check that the audit's HTML
# report renders; without it that test is skipped with its reason. Needs root (or sudo) and apt.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: $(chromium --version)" >&2
