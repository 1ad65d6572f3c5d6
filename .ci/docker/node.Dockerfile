# A stand-in for the public `node:20-bookworm-slim` image, for machines that
# reach no image registry: the host's Node.js 20 and npm (.ci/docker-images
# puts them in the build context) on the local Debian 12 base.
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
LABEL org.cutroom.stand-in="node:20-bookworm-slim from the host's Node.js"
