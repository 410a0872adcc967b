# Shared set-up for launch/train, launch/test and launch/bench (sourced, not run): installs the
# Debian packages the build links against, and the script's extra_packages, when they are
# missing, and defines build_release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(pkg-config zlib1g-dev libpng-dev libgif-dev libopenmpi-dev openmpi-bin ${extra_packages[@]+"${extra_packages[@]}"})
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Debian packages by name, as root or through sudo.
install_packages() {
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}
if ((${#missing[@]})); then
    echo "launch: installing ${missing[*]}" >&2
    install_packages "${missing[@]}"
fi

if ! command -v swift >/dev/null; then
    echo "launch: swift is not on PATH; install a Swift 6 toolchain (https://www.swift.org/install/)" >&2
    exit 1
fi

build_release() {
    swift build -c release --product vae "$@"
}
