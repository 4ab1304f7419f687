#!/usr/bin/env bash
# Build the Databricks CLI from its Go module at a pinned version into .cache/bin/databricks.
# Idempotent: does nothing when the binary already reports the pinned version.
# Only `databricks bundle schema` and `databricks bundle validate` are used by the tests; neither needs Terraform.
set -euo pipefail

# 1.10.0: the newest release whose whole dependency graph the Go module proxy serves here (1.11.0 needs a
# databricks-sdk-go release it does not have). It needs Go >= 1.26 (its go.mod); the CLI's schema is what the
# tests validate against, so bump this deliberately and rerun tests/bundle.
DATABRICKS_CLI_VERSION="${DATABRICKS_CLI_VERSION:-1.10.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/.cache/bin"
CLI="${BIN_DIR}/databricks"

export DATABRICKS_CLI_DO_NOT_TRACK=true
export DO_NOT_TRACK=1

installed_version() {
    "${CLI}" version 2>/dev/null | sed -n 's/.*v\{0,1\}\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n1
}

if [[ -x "${CLI}" && "$(installed_version)" == "${DATABRICKS_CLI_VERSION}" ]]; then
    echo "databricks CLI ${DATABRICKS_CLI_VERSION} already at ${CLI}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "error: Go is needed to build the Databricks CLI (install it from https://go.dev/dl or apt-get install golang)" >&2
    exit 1
fi

mkdir -p "${BIN_DIR}"
echo "building databricks CLI v${DATABRICKS_CLI_VERSION} with $(go version) (takes a few minutes) ..."
# `go install module@version` would also fetch the module's version list (for its deprecation check), which the
# proxy may refuse; so: download the pinned module source (checksummed against sum.golang.org) and build it in its
# own directory with its own go.mod/go.sum, which pins every dependency exactly as the release does.
# GOTOOLCHAIN=local (unless set): never download a Go toolchain; the installed Go must satisfy the `go` line.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
SRC_DIR="$(go mod download -json "github.com/databricks/cli@v${DATABRICKS_CLI_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "${SRC_DIR}" || ! -f "${SRC_DIR}/go.mod" ]]; then
    echo "error: could not download github.com/databricks/cli@v${DATABRICKS_CLI_VERSION} from the Go module proxy" >&2
    exit 1
fi
IFS=. read -r major minor patch <<<"${DATABRICKS_CLI_VERSION}"
pkg=github.com/databricks/cli/internal/build
# The same version ldflags as the CLI's release build (.goreleaser.yaml), so `databricks version` reports it.
ldflags="-s -w -X ${pkg}.buildVersion=${DATABRICKS_CLI_VERSION} -X ${pkg}.buildTag=v${DATABRICKS_CLI_VERSION}"
ldflags+=" -X ${pkg}.buildMajor=${major} -X ${pkg}.buildMinor=${minor} -X ${pkg}.buildPatch=${patch}"
(cd "${SRC_DIR}" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -ldflags "${ldflags}" -o "${CLI}.tmp" .)
mv -f "${CLI}.tmp" "${CLI}"

got="$(installed_version)"
if [[ "${got}" != "${DATABRICKS_CLI_VERSION}" ]]; then
    echo "error: built ${CLI} reports version '${got}', expected ${DATABRICKS_CLI_VERSION}" >&2
    exit 1
fi
echo "databricks CLI ${got} installed at ${CLI}"
