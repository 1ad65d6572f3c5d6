# The compose stack's object store: s3s-fs, an S3-compatible server that
# keeps objects as files under /data (one folder a bucket). It builds from
# crates.io on any machine, so the same stack runs where no image registry
# can be reached. For production put MinIO or AWS S3 behind Cutroom instead
# (README.md, "Running as a fleet").
#
# S3S_FS_BUILD=source (the default) compiles it here; `prebuilt` takes the
# binary from .docker-prebuilt/s3s-fs (.ci/docker-images, which builds it
# on the host with the project's toolchain).
ARG S3S_FS_BUILD=source

FROM rust:1-bookworm AS source
RUN cargo install s3s-fs@0.14.1 --features binary --locked --root /usr/local

FROM scratch AS prebuilt
COPY .docker-prebuilt/s3s-fs /usr/local/bin/s3s-fs

FROM ${S3S_FS_BUILD} AS binary

FROM debian:bookworm-slim
COPY --from=binary /usr/local/bin/s3s-fs /usr/local/bin/s3s-fs
COPY .ci/docker/s3s-fs-entrypoint.sh /usr/local/bin/s3s-fs-entrypoint
RUN useradd --system s3 && mkdir /data && chown s3 /data
USER s3
VOLUME /data
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/s3s-fs-entrypoint"]
