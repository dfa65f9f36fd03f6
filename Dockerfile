# syntax=docker/dockerfile:1
# The gitops-operator image: the Python package, git and ssh for Git sources, and the
# pinned helm and kustomize for rendering.
#
#   docker build -t gitops-operator:0.1.0 .
#
# The helm and kustomize versions below must equal hack/versions.env (hack/chart-check.sh
# fails when they differ); like hack/build-binaries.sh, they are built from the Go module
# proxy rather than downloaded as release archives.
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm
ARG GOLANG_IMAGE=golang:1.26.8-bookworm

# --- helm and kustomize ----------------------------------------------------------------
FROM ${GOLANG_IMAGE} AS tools
ARG HELM_VERSION=v3.21.4
ARG KUSTOMIZE_VERSION=v5.8.1
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=/out GOFLAGS=-mod=mod
RUN go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
 && go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}" \
 && /out/helm version --short \
 && /out/kustomize version

# --- the wheel, and the wheels of its dependencies -------------------------------------
FROM ${PYTHON_IMAGE} AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --wheel-dir /wheels .

# --- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="gitops-operator" \
      org.opencontainers.image.description="A Kubernetes GitOps operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# git for fetching, openssh-client for ssh:// sources; nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/*

# The same numeric user the chart runs as (runAsUser 65532), with a home of its own.
RUN groupadd --system --gid 65532 gitops \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/gitops --create-home \
      --shell /usr/sbin/nologin gitops \
 && install -d -o 65532 -g 65532 /var/cache/gitops-operator

COPY --from=tools /out/helm /out/kustomize /usr/local/bin/

# Install from the wheels only: nothing is resolved or downloaded in this stage.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels /wheels/gitops_operator-*.whl

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GITOPS_HELM_BINARY=/usr/local/bin/helm \
    GITOPS_KUSTOMIZE_BINARY=/usr/local/bin/kustomize \
    GITOPS_CACHE_DIR=/var/cache/gitops-operator/artifacts

# metrics, webhook receiver, liveness (gitops-operator run --liveness-port 8081)
EXPOSE 8080 9292 8081
USER 65532
WORKDIR /home/gitops
ENTRYPOINT ["gitops-operator"]
CMD ["run"]
