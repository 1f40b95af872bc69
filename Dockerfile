# maq in a CUDA-capable container; ./scripts/start-container.sh builds it and opens a shell in it.
# maq is installed exactly as on a workstation, by scripts/setup.sh, from pyproject.toml (the single
# dependency list): its pinned torch is PyPI's CUDA build, and the `mujoco` wheel brings MuJoCo
# (no MuJoCo binary zip, no mujoco-py). Rendering is headless EGL on the GPU.
ARG BASE_IMAGE=nvidia/cuda:12.6.2-runtime-ubuntu22.04
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics

# Python 3.11, and the GL/EGL libraries MuJoCo's headless renderer loads (the NVIDIA EGL driver
# itself is mounted by the container toolkit when the "graphics" capability is asked for).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv ca-certificates git \
        libegl1 libgl1 libgles2 libglvnd0 libglx0 libosmesa6 \
    && rm -rf /var/lib/apt/lists/*

# The same install as on a workstation: scripts/setup.sh makes /opt/maq/.venv from pyproject.toml.
WORKDIR /opt/maq
COPY pyproject.toml README.md ./
COPY scripts/setup.sh scripts/setup.sh
COPY src/ src/
RUN PYTHON=python3.11 ./scripts/setup.sh

# At run time the checkout is mounted at /workspace; its sources shadow the copy installed above,
# so edits on the host take effect without rebuilding (rebuild when pyproject.toml changes).
ENV PATH=/opt/maq/.venv/bin:${PATH} \
    PYTHONPATH=/workspace/src \
    MAQ_PYTHON=/opt/maq/.venv/bin/python
WORKDIR /workspace
CMD ["bash"]
