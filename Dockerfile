# syntax=docker/dockerfile:1
# The gitops-operator image: the Python package, git and ssh for Git sources, and the
# pinned helm and kustomize for rendering.
#
#   docker build -t gitops-operator:0.1.0 .
#
# The same recipe as hack/operatorimage.py, which builds this image without a container
# engine: the Debian root filesystem comes from hack/image/rootfs.sh (mmdebstrap of
# hack/image/packages.txt, user 65532), the Python packages from
# hack/image/site-packages.sh, the command from hack/image/gitops-operator; so both give
# the same file tree (tests/e2e/test_image.py compares them). The helm and kustomize
# versions below must equal hack/versions.env (hack/chart-check.sh fails when they
# differ); like hack/build-binaries.sh, they are built from the Go module proxy.
ARG DEBIAN_IMAGE=debian:trixie-slim
ARG PYTHON_IMAGE=python:3.13-slim-trixie
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

# --- the Debian root filesystem ----------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS rootfs
RUN apt-get update \
 && apt-get install -y --no-install-recommends mmdebstrap fakechroot fakeroot ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY hack/image/ /image/
# fakechroot: a build step may not mount /proc, which mmdebstrap's root mode needs.
RUN /image/rootfs.sh /rootfs fakechroot

# --- the wheel, its dependencies, installed into the image's dist-packages ---------------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY hack/image/site-packages.sh hack/image/constraints.txt /
RUN PIP_CONSTRAINT=/constraints.txt python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /site-packages.sh /site /wheels/gitops_operator-*.whl

# --- runtime -----------------------------------------------------------------------------
FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="gitops-operator" \
      org.opencontainers.image.description="A Kubernetes GitOps operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=rootfs /rootfs/ /
COPY --from=python /site/ /usr/local/lib/python3.13/dist-packages/
COPY hack/image/gitops-operator /usr/local/bin/gitops-operator
COPY --from=tools /out/helm /out/kustomize /usr/local/bin/

ENV PATH=/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
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
