# Logstash with the misp_enrich plugin. Build the gem first (jruby -S rake gem,
# on linux-x86_64 or linux-aarch64 to match the image), then with the
# repository root as context:
#   docker build -f examples/docker/logstash.Dockerfile -t logstash-misp .
ARG LOGSTASH_VERSION=8.19.0
FROM docker.elastic.co/logstash/logstash:${LOGSTASH_VERSION}
COPY logstash-filter-misp_enrich-*-java.gem /tmp/
RUN bin/logstash-plugin install --local /tmp/logstash-filter-misp_enrich-*-java.gem
