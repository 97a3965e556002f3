# spotnana-sim as a container: a CI service or a compose service beside a partner API.
#
#   docker build -t spotnana-sim .
#   docker run --rm -p 8080:8080 -e SPOTNANA_SIM_ADMIN_TOKEN=change-me spotnana-sim
#
# Configure it with SPOTNANA_SIM_* variables (docs/getting-started/container.md), or append flags:
#   docker run ... spotnana-sim serve --client my-id:my-secret --errors rfc6749
# tests/interop/test_container.py runs this file's ENTRYPOINT, CMD and ENV as a subprocess, and builds
# and runs the image where a Docker engine answers.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY simulator ./simulator
COPY reference_impl ./reference_impl
COPY scenarios ./scenarios
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 spotnana \
    && useradd --system --uid 10001 --gid spotnana --create-home --home-dir /home/spotnana spotnana
# A numeric user, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /home/spotnana

# Listen on every interface of the container. The admin API (/_sim/*) stays closed to other hosts:
# off loopback it answers only `Authorization: Bearer $SPOTNANA_SIM_ADMIN_TOKEN`, and the simulator
# will not start on 0.0.0.0 without that token. Pass it at run time, never in the image.
ENV SPOTNANA_SIM_HOST=0.0.0.0 \
    SPOTNANA_SIM_PORT=8080
EXPOSE 8080

# No curl in slim images: Python's urllib asks /_sim/health (open without the admin token).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_sim/health' % os.environ.get('SPOTNANA_SIM_PORT', '8080'), timeout=2)"]

ENTRYPOINT ["spotnana-sim"]
CMD ["serve"]
