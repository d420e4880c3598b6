# syntax=docker/dockerfile:1
# The `repro` image: CUDA runtime + the matching PyTorch build + this package.
#
#   docker build -t repro .                                   (or: repro docker build)
#   docker run --gpus all -v DATA:/data -v RUNS:/runs repro suite zero_shot
#
# Volumes: /data (datasets; masks are written under /data/masks), /runs (results, reports),
# /cache (Hugging Face and torch caches). Pass --build-arg PREFETCH_MODELS="..." to bake model
# weights into /cache at build time (arguments of `repro models fetch`); mounting a host folder
# on /cache hides them, a named volume starts with a copy.

# CUDA 13.0 base to match the cu130 PyTorch wheels below; change both together.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
ARG PREFETCH_MODELS=""
ARG GIT_COMMIT=""
ARG UID=1000
ARG GID=1000

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    TORCH_HOME=/cache/torch \
    MPLCONFIGDIR=/tmp/matplotlib \
    REPRO_DATA_ROOT=/data \
    REPRO_RUNS=/runs \
    REPRO_SUITES=/opt/repro/suites \
    REPRO_GIT_COMMIT=${GIT_COMMIT}

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Ubuntu 24.04 images ship a user `ubuntu` with UID 1000; replace it by ours.
RUN (userdel --remove ubuntu 2>/dev/null || true) \
 && groupadd --gid ${GID} repro \
 && useradd --create-home --uid ${UID} --gid ${GID} repro

# torch/torchvision first, as a matched pair from the CUDA index (PyPI's defaults may differ).
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir --upgrade pip \
 && pip install --no-cache-dir --index-url ${TORCH_INDEX_URL} ${TORCH_PINS}

WORKDIR /opt/repro
COPY pyproject.toml README.md ./
COPY repro ./repro
COPY suites ./suites
COPY expected ./expected
RUN pip install --no-cache-dir . \
 && mkdir -p /data /runs /cache/huggingface /cache/torch \
 && chown -R repro:repro /data /runs /cache

USER repro
RUN if [ -n "${PREFETCH_MODELS}" ]; then repro models fetch ${PREFETCH_MODELS}; fi

VOLUME ["/data", "/runs", "/cache"]
WORKDIR /runs
ENTRYPOINT ["repro"]
CMD ["--help"]
