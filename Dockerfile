# syntax=docker/dockerfile:1
# The `repro` image: CUDA runtime + the locked Python dependencies + this package.
#
#   make docker-build                                         (or: repro docker build)
#   docker run --gpus all --shm-size 16g -v "$PWD/data:/data" -v "$PWD/runs:/runs" -v repro-cache:/cache repro suite zero_shot
#
# Volumes: /data (datasets; masks are written under /data/masks), /runs (results, reports),
# /cache (Hugging Face and torch caches). Pass --build-arg PREFETCH_MODELS="..." to bake model
# weights into /cache at build time (arguments of `repro models fetch`); mounting a host folder
# on /cache hides them, a named volume starts with a copy.
#
# Layer order: dependencies come from requirements/runtime.lock before any source is copied, so
# editing repro/ rebuilds only the last layers. No build step reads a pip config or CA bundle from
# the image: where a registry needs them (a proxy's CA, a private index), mount them for the build
# only (podman/buildah `--volume DIR:/etc/xdg/pip:ro`, see .ci/image-smoke); nothing is copied in.

# CUDA 13.0 base to match the torch 2.14.1 wheels in requirements/runtime.lock (PyPI's CUDA 13.0
# build); change both together. Host requirement: an NVIDIA driver of branch R580 or newer
# (CUDA 13.0 needs >= 580) and the NVIDIA Container Toolkit (docker --gpus / podman CDI).
# CI swaps the base for a plain Debian bookworm root file system (CPU only) by this argument.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    TORCH_HOME=/cache/torch \
    MPLCONFIGDIR=/tmp/matplotlib \
    REPRO_DATA_ROOT=/data \
    REPRO_RUNS=/runs \
    REPRO_SUITES=/opt/repro/suites

# Apt versions are not pinned (hadolint DL3008): they are whatever the base image's release ships,
# so the base image tag fixes them; the Python stack is pinned by hash in the lock below.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Ubuntu 24.04 images ship a user `ubuntu` with UID 1000; replace it by ours.
ARG UID=1000
ARG GID=1000
RUN (userdel --remove ubuntu 2>/dev/null || true) \
 && groupadd --gid "${GID}" repro \
 && useradd --create-home --uid "${UID}" --gid "${GID}" repro

# Dependencies: exactly the locked versions, every file checked against its hash.
WORKDIR /opt/repro
COPY requirements/runtime.lock requirements/runtime.lock
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir --require-hashes -r requirements/runtime.lock

# The package itself (no dependency resolution: everything above is already in place).
COPY pyproject.toml README.md ./
COPY repro ./repro
COPY suites ./suites
COPY expected ./expected
COPY configs ./configs
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && mkdir -p /data /runs /cache/huggingface /cache/torch \
 && chown -R repro:repro /data /runs /cache

# Late, so a new commit does not invalidate the layers above.
ARG GIT_COMMIT=""
ARG VERSION=0.1.0
ARG SOURCE_URL=""
ENV REPRO_GIT_COMMIT=${GIT_COMMIT}
LABEL org.opencontainers.image.title="repro" \
      org.opencontainers.image.description="Reproducibility suite for Depth Anywhere (NeurIPS 2024)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.version="${VERSION}"

# Numeric, so runtimes can verify "non-root" (Kubernetes runAsNonRoot) without reading /etc/passwd.
USER ${UID}:${GID}
ARG PREFETCH_MODELS=""
# The argument is a list of `repro models fetch` arguments. It reaches no shell: an exec-form RUN
# reads it from the environment and splits it with shlex (`repro docker build` also checks it
# against a strict pattern), so `;`, `$(...)` or backticks in it are arguments, never commands.
RUN ["python3", "-c", "import os, shlex, subprocess, sys; a = shlex.split(os.environ.get('PREFETCH_MODELS', '')); sys.exit(subprocess.call(['repro', 'models', 'fetch', *a]) if a else 0)"]

VOLUME ["/data", "/runs", "/cache"]
WORKDIR /runs
ENTRYPOINT ["repro"]
CMD ["--help"]
