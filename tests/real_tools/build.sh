#!/usr/bin/env bash
# Builds the real tools the tests run, from Go modules at the versions pinned in versions.env, once:
#   bash tests/real_tools/build.sh pulumi|mmr|servers|kube|kubernetes-provider|all
# pulumi: the Pulumi CLI, the Python language host and the host's pulumi-language-python-exec script.
# mmr:    matrix-media-repo's programs (media_repo, import_synapse, import_dendrite and the rest of its cmd/...)
#         with libheif built from the C++ sources of the libheif module and linked in statically.
# servers: a virtualenv of the host's python3 with Synapse and moto's server from PyPI (not Go modules), which
#         tests/python_servers_image.py puts in an image; its directory is printed, not a bin directory.
# kube:   kube-apiserver, kube-controller-manager, kube-scheduler and etcd, from k8s.io/kubernetes and
#         go.etcd.io/etcd/server/v3 (wrapper kube-control-plane), and kwok from sigs.k8s.io/kwok (wrapper kwok).
# kubernetes-provider: the pulumi-kubernetes provider plugin, pulumi-resource-kubernetes (wrapper
#         pulumi-kubernetes).
# Each lands in ${XDG_CACHE_HOME:-$HOME/.cache}/mmr-pulumi-tools/<name>-<hash>/bin (mmr's with ../share: the
# module's config.sample.yaml and docker/run.sh, which MMR's image holds too; kube's with ../share/kwok-stages.yaml),
# the hash covering the pins it uses, its wrapper module, this script and the Go version. A directory there is
# complete: it is built under a temporary name and renamed when done, so a second run builds nothing and a killed
# one is never taken as done. Prints the bin directory on stdout (for all: pulumi's, mmr's, the servers'
# virtualenv, kube's, then kubernetes-provider's), progress on stderr.
# Needs Go (modules come through the Go module proxy, GOPROXY) and, for mmr, Debian's
# cmake make g++ pkg-config libde265-dev.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mmr-pulumi-tools
temporary=()
trap 'cleanup' EXIT

cleanup() {
    local dir
    for dir in "${temporary[@]}"; do
        # The module cache's copies are read-only: make them removable first.
        chmod -R u+w "$dir" 2>/dev/null || true
        rm -rf "$dir"
    done
}

say() { printf 'build.sh: %s\n' "$*" >&2; }
fail() {
    printf 'build.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    printf 'usage: bash %s pulumi|mmr|servers|kube|kubernetes-provider|all\n' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# shellcheck source-path=SCRIPTDIR source=versions.env disable=SC1091 # followed with shellcheck -x
. "$here/versions.env"
for key in PULUMI_VERSION PULUMI_LANGUAGE_PYTHON_VERSION PULUMI_LANGUAGE_PYTHON_EXEC_VERSION MMR_VERSION MMR_COMMIT \
    LIBHEIF_VERSION SYNAPSE_VERSION PSYCOPG2_BINARY_VERSION MOTO_VERSION KUBERNETES_VERSION KWOK_VERSION \
    PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION PULUMI_KUBERNETES_PROVIDER_RELEASE; do
    [[ -n "${!key:-}" ]] || fail "$key is not set in $here/versions.env"
done

# Fails naming every program or library missing, and the Debian packages that provide them.
require() {
    local missing=() packages=() program package
    command -v go >/dev/null ||
        fail "go is not installed: install Go 1.21 or newer (https://go.dev/dl/); it fetches the newer toolchain the" \
            "modules ask for through the module proxy unless GOTOOLCHAIN=local, then it must be Go 1.26.6 or newer"
    while (($#)); do
        program=$1 package=$2
        shift 2
        if [[ $program == lib:* ]]; then
            program=${program#lib:}
            pkg-config --exists "$program" 2>/dev/null && continue
            missing+=("$program (no $program.pc for pkg-config)")
        else
            command -v "$program" >/dev/null && continue
            missing+=("$program")
        fi
        packages+=("$package")
    done
    if ((${#missing[@]})); then
        fail "missing $(IFS=,; printf '%s' "${missing[*]}"): apt-get install -y ${packages[*]} (Debian)"
    fi
}

# The hash of what a build depends on: the pins named (KEY... --), the files named, this script and the Go version.
key_of() {
    {
        while [[ $1 != -- ]]; do
            printf '%s=%s\n' "$1" "${!1}"
            shift
        done
        shift
        go env GOVERSION GOOS GOARCH
        cat "$@" "${BASH_SOURCE[0]}"
    } | sha256sum | cut -c1-16
}

# The directory of module $1 at version $2 in the module cache, downloaded through the proxy if need be.
module_dir() {
    local json dir
    json=$(cd / && go mod download -json "$1@$2") || fail "go mod download $1@$2 failed: $json"
    dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$json")
    [[ -d "$dir" ]] || fail "go mod download $1@$2 gave no directory: $json"
    printf '%s\n' "$dir"
}

# Runs builder $3 into a temporary directory and renames it to $cache/$1-$2 unless that exists; sets $built to
# the latter. Not in a $(...): a failure there would neither stop the script nor remove the temporary directory.
built=
cached() {
    local name=$1 hash=$2 builder=$3 final work lock lock_fd stale started
    final="$cache/$name-$hash"
    if [[ -d "$final" ]]; then
        built=$final
        return
    fi
    mkdir -p "$cache"
    lock="$cache/.$name.lock"
    # One build of a name at a time: another run waits here, then finds the directory made.
    exec {lock_fd}>"$lock"
    if command -v flock >/dev/null; then flock "$lock_fd"; fi
    if [[ ! -d "$final" ]]; then
        # Under the lock, a temporary directory of this name is a build that was killed.
        # (A hash after the name: no other name's build, kube-... for kube, is taken for one of this name's.)
        for stale in "$cache/.$name-"[0-9a-f][0-9a-f][0-9a-f][0-9a-f]*; do
            [[ -e "$stale" ]] || continue
            say "removing the unfinished build $stale"
            chmod -R u+w "$stale" && rm -rf "$stale"
        done
        work=$(mktemp -d "$cache/.$name-$hash.XXXXXX")
        temporary+=("$work")
        say "building $name into $final"
        started=$SECONDS
        "$builder" "$work/out" "$work"
        mv -T "$work/out" "$final"
        say "built $name in $((SECONDS - started))s"
    fi
    exec {lock_fd}>&-
    built=$final
}

pulumi_hash() {
    key_of PULUMI_VERSION PULUMI_LANGUAGE_PYTHON_VERSION PULUMI_LANGUAGE_PYTHON_EXEC_VERSION -- \
        "$here"/pulumi-cli/{go.mod,go.sum,tools.go} "$here"/pulumi-language-python/{go.mod,go.sum,tools.go}
}

build_pulumi() {
    local out=$1 work=$2 sdk
    mkdir -p "$out/bin"
    # Without cgo, as Pulumi's releases: the programs need no library of the host's.
    say "go build pulumi $PULUMI_VERSION"
    (cd "$here/pulumi-cli" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
        -o "$out/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || fail "go build of the Pulumi CLI failed"
    say "go build pulumi-language-python $PULUMI_LANGUAGE_PYTHON_VERSION"
    (cd "$here/pulumi-language-python" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_LANGUAGE_PYTHON_VERSION" \
        -o "$out/bin/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python) ||
        fail "go build of the Python language host failed"
    sdk=$(module_dir github.com/pulumi/pulumi/sdk/v3 "$PULUMI_LANGUAGE_PYTHON_EXEC_VERSION")
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$out/bin/pulumi-language-python-exec"
    local version
    version=$(PULUMI_HOME="$work/pulumi-home" PULUMI_SKIP_UPDATE_CHECK=true "$out/bin/pulumi" version)
    [[ "$version" == "$PULUMI_VERSION" ]] || fail "the pulumi built says it is $version, not $PULUMI_VERSION"
}

# The wrapper modules are resolved for one version each; versions.env must say the same.
check_wrappers() {
    grep -q "^require github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION\$" "$here/pulumi-cli/go.mod" ||
        fail "pulumi-cli/go.mod does not require github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION" \
            "(PULUMI_VERSION in versions.env): see the comment at the top of that go.mod"
    grep -q "^require github.com/pulumi/pulumi/sdk/v3 $PULUMI_LANGUAGE_PYTHON_VERSION\$" \
        "$here/pulumi-language-python/go.mod" ||
        fail "pulumi-language-python/go.mod does not require github.com/pulumi/pulumi/sdk/v3" \
            "$PULUMI_LANGUAGE_PYTHON_VERSION (PULUMI_LANGUAGE_PYTHON_VERSION in versions.env)"
}

libheif_hash() { key_of LIBHEIF_VERSION --; }

# libheif with what MMR uses it for (decoding HEIF/HEIC images, through Debian's libde265), as a static library.
build_libheif() {
    local prefix=$1 work=$2 src generator=()
    src=$(module_dir github.com/strukturag/libheif "$LIBHEIF_VERSION")
    [[ -f "$src/CMakeLists.txt" && -f "$src/libheif/api/libheif/heif.h" ]] ||
        fail "$src has no libheif sources (CMakeLists.txt, libheif/api/libheif/heif.h)"
    command -v ninja >/dev/null && generator=(-G Ninja)
    say "cmake libheif $LIBHEIF_VERSION from $src"
    cmake -S "$src" -B "$work/libheif-build" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
        -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_TESTING=OFF \
        -DENABLE_PLUGIN_LOADING=OFF -DWITH_LIBDE265=ON -DWITH_LIBDE265_PLUGIN=OFF \
        -DWITH_X265=OFF -DWITH_KVAZAAR=OFF -DWITH_AOM_DECODER=OFF -DWITH_AOM_ENCODER=OFF -DWITH_DAV1D=OFF \
        -DWITH_RAV1E=OFF -DWITH_SvtEnc=OFF -DWITH_FFMPEG_DECODER=OFF -DWITH_JPEG_DECODER=OFF -DWITH_JPEG_ENCODER=OFF \
        -DWITH_OpenJPEG_DECODER=OFF -DWITH_OpenJPEG_ENCODER=OFF -DWITH_OPENJPH_ENCODER=OFF \
        -DWITH_OpenH264_DECODER=OFF -DWITH_UVG266=OFF -DWITH_VVDEC=OFF -DWITH_VVENC=OFF \
        -DWITH_UNCOMPRESSED_CODEC=OFF -DWITH_HEADER_COMPRESSION=OFF -DWITH_LIBSHARPYUV=OFF \
        -DWITH_EXAMPLES=OFF -DWITH_GDK_PIXBUF=OFF -DWITH_FUZZERS=OFF \
        -DCMAKE_DISABLE_FIND_PACKAGE_Doxygen=ON -DCMAKE_DISABLE_FIND_PACKAGE_TIFF=ON \
        -DCMAKE_DISABLE_FIND_PACKAGE_JPEG=ON -DCMAKE_DISABLE_FIND_PACKAGE_PNG=ON >&2 ||
        fail "cmake could not configure libheif"
    # libheif.pc requires (privately) each codec library cmake found and built in.
    grep -q '^Requires.private:.*libde265' "$work/libheif-build/libheif.pc" ||
        fail "cmake did not find libde265: apt-get install -y libde265-dev (Debian)"
    cmake --build "$work/libheif-build" --parallel "$(nproc)" >&2 || fail "libheif's build failed"
    cmake --install "$work/libheif-build" >&2 || fail "libheif's install failed"
    [[ -f "$prefix/lib/libheif.a" && -f "$prefix/lib/pkgconfig/libheif.pc" ]] ||
        fail "libheif installed no lib/libheif.a and lib/pkgconfig/libheif.pc under $prefix"
    # Installed under the temporary name, renamed after: libheif.pc finds its prefix from where it is.
    # shellcheck disable=SC2016 # pkg-config's variable, not the shell's
    sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$prefix/lib/pkgconfig/libheif.pc"
}

mmr_hash() { key_of MMR_VERSION MMR_COMMIT LIBHEIF_VERSION --; }

build_mmr() {
    local out=$1 work=$2 mod info src heif packages ldflags
    mod=$(module_dir github.com/t2bot/matrix-media-repo "$MMR_VERSION")
    # The release commit: the one the proxy recorded for the tag, and sources that have what that commit has
    # (federation's DisallowedNetworks/AllowedNetworks in common/config/models_main.go).
    info="$(go env GOMODCACHE)/cache/download/github.com/t2bot/matrix-media-repo/@v/$MMR_VERSION.info"
    if grep -q '"Hash"' "$info" 2>/dev/null; then
        grep -q "\"Hash\":\"$MMR_COMMIT\"" "$info" ||
            fail "$info names another commit than MMR_COMMIT=$MMR_COMMIT: $(cat "$info")"
    else
        say "warning: $info records no commit; checking the sources only"
    fi
    if ! grep -q 'DisallowedNetworks \[\]string' "$mod/common/config/models_main.go" ||
        ! grep -q 'AllowedNetworks \+\[\]string' "$mod/common/config/models_main.go"; then
        fail "$mod/common/config/models_main.go has no federation DisallowedNetworks/AllowedNetworks:" \
            "not the $MMR_VERSION release ($MMR_COMMIT)"
    fi
    cached libheif "$(libheif_hash)" build_libheif
    heif=$built

    # compile_assets writes common/assets/assets.bin.go into the sources (MMR's build.sh): a writable copy.
    src="$work/src"
    cp -R "$mod" "$src"
    chmod -R u+w "$src"
    say "compile_assets (MMR's build.sh, step 1)"
    (cd "$src" && go build -mod=readonly -buildvcs=false -o "$work/compile_assets" ./cmd/utilities/compile_assets &&
        "$work/compile_assets" >/dev/null) || fail "MMR's compile_assets failed"
    [[ -s "$src/common/assets/assets.bin.go" ]] || fail "compile_assets wrote no common/assets/assets.bin.go"

    # cgo asks pkg-config for libheif's flags; a static libheif needs its private libraries too (--static).
    printf '#!/bin/sh\nexec pkg-config --static "$@"\n' >"$work/pkg-config-static"
    chmod +x "$work/pkg-config-static"
    packages=$(cd "$src" && go list -mod=readonly -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./cmd/... |
        grep -v '/compile_assets$')
    mkdir -p "$out/bin"
    say "go build MMR $MMR_VERSION: $(tr '\n' ' ' <<<"$packages")"
    # As MMR's build.sh (and so its image): the version stamped, media_repo built with its PGO profile (here
    # applied to every program, in one build); the commit stamped too, which a git checkout's build would record.
    ldflags="-s -w -X github.com/t2bot/matrix-media-repo/common/version.Version=$MMR_VERSION"
    ldflags+=" -X github.com/t2bot/matrix-media-repo/common/version.GitCommit=$MMR_COMMIT"
    # Go's build cache keys a cgo package on CGO_CFLAGS and CGO_LDFLAGS but not on what pkg-config answers: the
    # libheif prefix in them too, or a build would reuse the heif package compiled against another prefix.
    # shellcheck disable=SC2086 # one package per word
    (cd "$src" && CGO_ENABLED=1 PKG_CONFIG="$work/pkg-config-static" PKG_CONFIG_PATH="$heif/lib/pkgconfig" \
        CGO_CFLAGS="-O2 -g -I$heif/include" CGO_LDFLAGS="-O2 -g -L$heif/lib" \
        go build -mod=readonly -buildvcs=false -trimpath -pgo=pgo_media_repo.pprof -ldflags "$ldflags" \
        -o "$out/bin/" $packages) || fail "go build of MMR failed"
    local program version libraries
    for program in media_repo import_synapse import_dendrite; do
        [[ -x "$out/bin/$program" ]] || fail "MMR's build made no $program"
    done
    version=$("$out/bin/media_repo" -version 2>&1) || fail "media_repo -version failed: $version"
    [[ $'\n'$version$'\n' == *$'\n'"Version: $MMR_VERSION"$'\n'* ]] ||
        fail "media_repo -version does not say $MMR_VERSION: $version"
    libraries=$(ldd "$out/bin/media_repo")
    [[ $libraries != *libheif* ]] || fail "media_repo links a shared libheif, not $heif/lib/libheif.a: $libraries"
    # The module's other files MMR's Dockerfile copies into its image, at their paths in the module.
    install -D -m 0644 "$mod/config.sample.yaml" "$out/share/config.sample.yaml"
    install -D -m 0755 "$mod/docker/run.sh" "$out/share/docker/run.sh"
}

servers_hash() {
    key_of SYNAPSE_VERSION PSYCOPG2_BINARY_VERSION MOTO_VERSION -- "$here/../../requirements-dev.txt"
}

# The host's python3 (the image copies it, with its standard library, beside this virtualenv).
build_servers() {
    local out=$1 version
    grep -qx "moto\[server\]==$MOTO_VERSION" "$here/../../requirements-dev.txt" ||
        fail "requirements-dev.txt does not pin moto[server]==$MOTO_VERSION (MOTO_VERSION in versions.env)"
    python3 -m venv "$out/venv" || fail "python3 -m venv failed: apt-get install -y python3-venv (Debian)"
    say "pip install matrix-synapse==$SYNAPSE_VERSION moto[server]==$MOTO_VERSION"
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        "matrix-synapse==$SYNAPSE_VERSION" "psycopg2-binary==$PSYCOPG2_BINARY_VERSION" "moto[server]==$MOTO_VERSION" >&2 ||
        fail "pip could not install Synapse and moto from PyPI"
    version=$("$out/venv/bin/python" -c 'import synapse; print(synapse.__version__)')
    [[ $version == "$SYNAPSE_VERSION" ]] || fail "the virtualenv's Synapse says it is $version, not $SYNAPSE_VERSION"
}

kube_hash() {
    key_of KUBERNETES_VERSION KWOK_VERSION -- "$here"/kube-control-plane/{go.mod,go.sum,tools.go,cmd/etcd/main.go} \
        "$here"/kwok/{go.mod,go.sum,tools.go}
}

# Without cgo, as Kubernetes' own release builds of its control plane.
build_kube() {
    local out=$1 version program
    grep -q "^	k8s.io/kubernetes $KUBERNETES_VERSION\$" "$here/kube-control-plane/go.mod" ||
        fail "kube-control-plane/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION (KUBERNETES_VERSION)"
    grep -q "^require sigs.k8s.io/kwok $KWOK_VERSION\$" "$here/kwok/go.mod" ||
        fail "kwok/go.mod does not require sigs.k8s.io/kwok $KWOK_VERSION (KWOK_VERSION)"
    mkdir -p "$out/bin"
    say "go build kube-apiserver, kube-controller-manager, kube-scheduler $KUBERNETES_VERSION and etcd"
    (cd "$here/kube-control-plane" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
        -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
        -o "$out/bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler ./cmd/etcd) ||
        fail "go build of the Kubernetes control plane and etcd failed"
    for program in kube-apiserver kube-controller-manager kube-scheduler; do
        version=$("$out/bin/$program" --version) || fail "$program --version failed: $version"
        [[ $version == "Kubernetes $KUBERNETES_VERSION" ]] || fail "$program says '$version', not $KUBERNETES_VERSION"
    done
    say "go build kwok $KWOK_VERSION"
    (cd "$here/kwok" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
        -ldflags "-s -w" -o "$out/bin/" sigs.k8s.io/kwok/cmd/kwok) ||
        fail "go build of kwok failed"
    # kwok's own stages, as its module ships them: a node ready at once and kept so, a pod running and ready once
    # scheduled, a Job's pod completed, a deleted pod removed.
    local stages document
    stages=$(module_dir sigs.k8s.io/kwok "$KWOK_VERSION")/kustomize/stage
    mkdir -p "$out/share"
    for document in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml \
        pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
        [[ -f "$stages/$document" ]] || fail "kwok $KWOK_VERSION has no stage $stages/$document"
        printf -- '---\n' >>"$out/share/kwok-stages.yaml"
        cat "$stages/$document" >>"$out/share/kwok-stages.yaml"
    done
}

kube_provider_hash() {
    key_of PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION PULUMI_KUBERNETES_PROVIDER_RELEASE -- \
        "$here"/pulumi-kubernetes/{go.mod,go.sum,main.go}
}

# Without cgo, as the provider's releases. Its main package embeds a schema and a Terraform mapping its Makefile
# generates (not in the module): made here, in a copy of the wrapper, by the module's own generate.go.
build_kube_provider() {
    local out=$1 work=$2 mod src version ldflags
    grep -q "^require github.com/pulumi/pulumi-kubernetes/provider/v4 $PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION\$" \
        "$here/pulumi-kubernetes/go.mod" ||
        fail "pulumi-kubernetes/go.mod does not require github.com/pulumi/pulumi-kubernetes/provider/v4" \
            "$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION (PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION in versions.env)"
    mod=$(module_dir github.com/pulumi/pulumi-kubernetes/provider/v4 "$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION")
    src="$work/src"
    mkdir -p "$src" "$out/bin"
    cp "$here"/pulumi-kubernetes/{go.mod,go.sum,main.go} "$src/"
    cp "$mod"/cmd/pulumi-resource-kubernetes/{generate.go,schema.json,terraform-mapping.json} "$src/"
    chmod u+w "$src"/*
    say "go generate the provider's schema ($PULUMI_KUBERNETES_PROVIDER_RELEASE), go build pulumi-resource-kubernetes"
    (cd "$src" && VERSION=$PULUMI_KUBERNETES_PROVIDER_RELEASE go run -mod=readonly ./generate.go && rm generate.go) ||
        fail "the provider's generate.go failed"
    ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_PROVIDER_RELEASE"
    (cd "$src" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" \
        -o "$out/bin/pulumi-resource-kubernetes" .) || fail "go build of pulumi-resource-kubernetes failed"
    version=$(grep -o '"version":"[^"]*"' "$src/schema-embed.json" | head -1)
    [[ $version == "\"version\":\"$PULUMI_KUBERNETES_PROVIDER_RELEASE\"" ]] ||
        fail "the provider's schema says $version, not $PULUMI_KUBERNETES_PROVIDER_RELEASE"
}

(($# == 1)) || usage
case $1 in
pulumi | all)
    require
    check_wrappers
    cached pulumi "$(pulumi_hash)" build_pulumi
    printf '%s/bin\n' "$built"
    ;;&
mmr | all)
    require cmake cmake make make g++ g++ pkg-config pkg-config lib:libde265 libde265-dev gcc gcc
    cached mmr "$(mmr_hash)" build_mmr
    printf '%s/bin\n' "$built"
    ;;&
servers | all)
    cached servers "$(servers_hash)" build_servers
    printf '%s/venv\n' "$built"
    ;;&
kube | all)
    require
    cached kube "$(kube_hash)" build_kube
    printf '%s/bin\n' "$built"
    ;;&
kubernetes-provider | all)
    require
    cached kubernetes-provider "$(kube_provider_hash)" build_kube_provider
    printf '%s/bin\n' "$built"
    ;;
pulumi | mmr | servers | kube) ;;
*) usage ;;
esac
